"""`crashes demo` as `make demo` runs it: generated data, the local Socrata server, the whole DAG."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from orchestration import runs
from orchestration.demo import run_demo
from tests.orchestration.conftest import PIPELINE_MODULES, require


def test_demo_runs_the_whole_pipeline_and_says_where_to_look(
    crashes_home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    require(*PIPELINE_MODULES, "ingestion.devserver.generator", "ml.train", "ml.score")
    started = time.monotonic()
    result = run_demo()
    took = time.monotonic() - started
    out = capsys.readouterr().out
    print(f"demo took {took:.0f}s")
    assert result.ok, result.summary()
    (run,) = runs.recent_runs(5)
    assert run.trigger == "cli" and run.status == "succeeded"
    stages = {s.name: s for s in runs.stages_for(run.id)}
    assert stages["score"].rows_out["scores"] == stages["ingest"].rows_in["crashes"] > 0
    for hint in ("crashes dashboard", "crashes docs --serve", "crashes metrics", str(crashes_home / "gold.duckdb")):
        assert hint in out
