"""The Overview on a history as it really looks: a failed one-stage run started from the CLI, a run
a killed process never closed, and services nobody set up. Nothing reads `NaT`, `None` or `nan`,
and an optional service that is not configured is not a red DOWN."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from orchestration import runs
from tests.dashboard.conftest import APP, Demo

PROJECT = Path(__file__).resolve().parents[2]
MISSING = {"NaT", "None", "nan", "NaN", "<NA>"}


def page_text(at: AppTest) -> tuple[str, list[pd.DataFrame]]:
    """Everything the page writes as text, and its tables."""
    parts = [m.value for m in at.markdown] + [c.value for c in at.caption]
    parts += [f"{m.label} {m.value}" for m in at.metric]
    parts += [e.value for kind in (at.info, at.warning, at.error, at.success) for e in kind]
    return "\n".join(parts), [d.value for d in at.dataframe]


def missing_cells(frame: pd.DataFrame) -> list[str]:
    """Cells a browser would show as a missing-value word (a null is drawn as `None`)."""
    found = []
    for column in frame.columns:
        for value in frame[column]:
            if value is None or (not isinstance(value, str | dict | list) and pd.isna(value)):
                found.append(f"{column}=<null>")
            elif str(value) in MISSING:
                found.append(f"{column}={value}")
    return found


@pytest.fixture
def history_home(demo: Demo, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The demo's gold in a home of its own, with no model, no Prometheus, no docs site."""
    home = tmp_path / "home"
    home.mkdir()
    shutil.copyfile(demo.gold, home / "gold.duckdb")
    (home / "bronze").mkdir()  # a local bronze folder, nothing in it
    monkeypatch.setenv("CRASHES_HOME", str(home))
    for name in ("CRASHES_PROMETHEUS_URL", "CRASHES_DOCS_URL", "CRASHES_METRICS_URL", "CRASHES_BRONZE_URL"):
        monkeypatch.delenv(name, raising=False)
    # Ports nothing here listens on, so "nobody set it up" is what the probes find.
    monkeypatch.setenv("CRASHES_DOCS_PORT", "9")
    return home


def test_overview_lists_cli_runs_and_shows_no_missing_value_words(history_home: Path) -> None:
    from dashboard.snapshot import clear

    # A real one-stage command from the CLI: `crashes score` with no model registered fails.
    done = subprocess.run(
        [str(PROJECT / ".venv/bin/crashes"), "score"],
        env=dict(os.environ),
        capture_output=True,
        text=True,
        timeout=120,
        cwd=PROJECT,
    )
    assert done.returncode != 0, done.stdout
    (failed,) = runs.recent_runs(1)
    assert (failed.trigger, failed.job, failed.status) == ("cli", "score", "failed"), failed
    # What a SIGKILLed run leaves: started, stages pending, never ended.
    open_id = runs.start_run("incremental", {}, "schedule", ["ingest", "quality", "build"])
    runs.stage_started(open_id, "ingest")

    clear()
    at = AppTest.from_file(str(APP), default_timeout=60).run()
    assert not at.exception
    text, tables = page_text(at)
    history = next(t for t in tables if "trigger" in t.columns)
    assert {failed.id, open_id} <= set(history["id"])
    cli = history[history["id"] == failed.id].iloc[0]
    assert (cli["trigger"], cli["job"], cli["status"]) == ("cli", "score", "failed")
    for word in MISSING:
        assert word not in text.split(), f"the Overview says {word!r}"
    for table in tables:
        assert not missing_cells(table), f"cells shown as missing-value words: {missing_cells(table)}"

    # The open run's stages (pending ones never started or ended) read the same way.
    at.selectbox[0].set_value(open_id).run()
    stages = at.dataframe[-1].value
    assert list(stages["status"]) == ["running", "pending", "pending"]
    assert not missing_cells(stages), missing_cells(stages)


def test_services_nobody_set_up_read_not_configured(history_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from dashboard.health import run_checks

    checks = {c.name: c for c in run_checks()}
    for name in ("Prometheus", "dbt docs site", "Evidence site"):
        assert checks[name].state == "not configured", checks[name]
        assert not checks[name].ok
    assert "S3/MinIO not configured" in checks["Bronze"].detail and checks["Bronze"].ok

    at = AppTest.from_file(str(APP), default_timeout=60).run()
    assert not at.exception
    captions = [c.value for c in at.caption]
    assert sum(c.startswith("not configured · ") for c in captions) == 3, captions
    assert not any(c.startswith("DOWN · ") and "9090" in c for c in captions)

    # Set up, but not answering: that is DOWN.
    monkeypatch.setenv("CRASHES_PROMETHEUS_URL", "http://127.0.0.1:9/")
    assert {c.name: c for c in run_checks()}["Prometheus"].state == "down"
