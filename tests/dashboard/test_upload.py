"""The Ingest page loads an uploaded export file through the replay path `crashes ingest --source
replay --path` takes, as a run recorded with trigger "dashboard", and names the shape it read; a run
whose first stage fails counts the stages it never ran as skipped, not as finished."""

from __future__ import annotations

import json
import time
from datetime import date
from pathlib import Path

from streamlit.testing.v1 import AppTest

from orchestration import runs
from tests.dashboard.conftest import APP


def _upload(name: str, content: bytes, *, build: bool) -> AppTest:
    at = AppTest.from_file(str(APP), default_timeout=60).run()
    at = at.switch_page("views/ingest.py").run()
    assert not at.exception
    at.file_uploader[0].set_value((name, content, "application/octet-stream"))
    if not build:
        next(c for c in at.checkbox if c.label.startswith("Build and publish")).uncheck()
    next(b for b in at.button if b.label == "Load file").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    job = at.session_state["dashboard_job"]
    deadline = time.monotonic() + 180
    while job.alive():
        assert time.monotonic() < deadline, job.log_tail()
        time.sleep(0.5)
    return at.run()


def test_an_uploaded_export_is_replayed_and_its_shape_named(crashes_home: Path) -> None:
    from ingestion.devserver.generator import generate_tables

    crashes = generate_tables(date(2024, 3, 1), date(2024, 3, 4), 20, 5)["crashes"].to_pylist()
    at = _upload("my export.jsonl", ("\n".join(json.dumps(r) for r in crashes) + "\n").encode(), build=False)
    (run,) = runs.recent_runs(1)
    assert (run.trigger, run.job, run.status) == ("dashboard", "ingest", "succeeded"), at.session_state[
        "dashboard_job"
    ].log_tail()
    (ingest,) = runs.stages_for(run.id)
    assert ingest.rows_in == {"crashes": len(crashes)}
    (shape,) = ingest.detail["shapes"]
    assert "my_export.jsonl" in shape, shape
    assert f"Read **{shape}**" in [m.value for m in at.markdown]
    saved = Path(run.args["path"])
    assert saved.parent == crashes_home / "uploads" and saved.read_bytes().count(b"\n") == len(crashes)


def test_a_failed_first_stage_counts_the_rest_as_skipped(crashes_home: Path) -> None:
    at = _upload("notes.csv", b"what,ever\n1,2\n", build=True)
    (run,) = runs.recent_runs(1)
    assert (run.job, run.status) == ("replay", "failed")
    stages = runs.stages_for(run.id)
    assert stages[0].name == "ingest" and stages[0].status == "failed"
    skipped = [s for s in stages[1:] if s.status == "skipped"]
    assert len(skipped) == len(stages) - 1 >= 4
    texts = [p.proto.text for p in at.get("progress")]
    assert texts == [f"1 of {len(stages)} stages finished, {len(skipped)} skipped"], texts
