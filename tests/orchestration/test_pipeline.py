"""`crashes run` with the real stages against the real local Socrata server: what is recorded,
what status and metrics say about it, a failed stage stopping its dependants, and resuming."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pyarrow.compute as pc
import pytest
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from orchestration import runs
from orchestration.flow import run_pipeline
from orchestration.metrics import registry
from orchestration.status import status_report
from tests.orchestration.conftest import PIPELINE_MODULES, ReferenceRun, crashes_run, require, row_counts


def _metric(name: str, **labels: str) -> float:
    text = generate_latest(registry()).decode()
    samples = [s for f in text_string_to_metric_families(text) for s in f.samples if s.name == name]
    (match,) = [s for s in samples if all(s.labels.get(k) == v for k, v in labels.items())]
    return float(match.value)


def test_a_real_run_is_recorded_stage_by_stage(reference_run: ReferenceRun, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CRASHES_HOME", str(reference_run.home))
    events = [json.loads(line) for line in reference_run.process.stdout.splitlines()]
    assert events[0]["event"] == "run_started" and events[-1]["event"] == "run_finished"
    (run,) = runs.recent_runs(5)
    stages = {s.name: s for s in runs.stages_for(run.id)}
    assert list(stages) == ["ingest", "quality", "build", "train", "score", "publish"], "no model: train first"
    tables = reference_run.tables
    ingest = stages["ingest"]
    assert ingest.rows_in == {k: t.num_rows for k, t in tables.items()}, reference_run.output()
    newest = pc.max(tables["crashes"]["crash_date"]).as_py()
    assert ingest.detail["raw"]["newest"]["crash_date"] == newest
    assert stages["quality"].status == "succeeded" and stages["quality"].expectations_failed == 0
    build = stages["build"]
    assert build.status == "succeeded" and build.tests_failed == 0 and (build.tests_passed or 0) > 0
    assert build.rows_out["fct_crashes"] == tables["crashes"].num_rows
    missing = [m for m in ("ml.train", "ml.score") if importlib.util.find_spec(m) is None]
    if not missing:
        assert stages["train"].status == "succeeded", stages["train"].error
        assert stages["score"].status == "succeeded", stages["score"].error
        assert stages["score"].rows_out == {"scores": tables["crashes"].num_rows}
        assert stages["score"].model_version == stages["train"].model_version is not None
        # The scores reach gold through the publish stage's rebuild of their mart.
        assert stages["publish"].rows_out["ml_hit_and_run_scores"] == tables["crashes"].num_rows
        assert run.status == "succeeded" and reference_run.process.returncode == 0
    else:  # a stage whose package has not landed fails, saying so, and stops what depends on it
        stage = "train" if "ml.train" in missing else "score"
        assert stages[stage].status == "failed" and missing[0] in (stages[stage].error or "")
        assert run.status == "failed" and reference_run.process.returncode == 1


def test_status_and_metrics_describe_the_real_run(reference_run: ReferenceRun, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CRASHES_HOME", str(reference_run.home))
    n = {k: t.num_rows for k, t in reference_run.tables.items()}
    text = status_report()
    assert f"crashes {n['crashes']:,} rows / " in text  # bronze
    assert f"crashes {n['crashes']:,}, people {n['people']:,}" in text  # raw
    assert f"fct_crashes {n['crashes']:,}" in text  # gold
    assert _metric("crashes_rows_loaded_total", layer="raw", dataset="people") == n["people"]
    assert _metric("crashes_table_rows", layer="gold", table="fct_vehicles") == n["vehicles"]
    assert _metric("crashes_dbt_tests_failed") == 0
    assert _metric("crashes_data_freshness_lag_seconds", field="crash_date") > 0


def test_failed_ingest_stops_its_dependants_and_a_rerun_resumes(
    crashes_home: Path, socrata_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    require(*PIPELINE_MODULES)
    monkeypatch.setenv("SOURCES__SOCRATA__REQUEST_MAX_ATTEMPTS", "1")  # fail fast, no retries
    closed = "http://127.0.0.1:9"  # discard port: nothing listens there
    failed = run_pipeline(base_url=closed, datasets="crashes", log_format="plain")
    assert not failed.ok and failed.failed is not None and failed.failed.name == "ingest"
    assert "Connection refused" in (failed.error or "")
    assert [(s.name, s.status) for s in failed.stages[1:3]] == [("quality", "skipped"), ("build", "skipped")]
    resumed = run_pipeline(base_url=socrata_url, log_format="plain")
    by_name = {s.name: s for s in resumed.stages}
    assert by_name["build"].status == "succeeded", resumed.summary()
    assert runs.get_run(failed.run_id).status == "failed"  # type: ignore[union-attr]


def test_rerun_changes_no_counts(reference_run: ReferenceRun) -> None:
    before = row_counts(reference_run.home)
    again = crashes_run(reference_run.home, reference_run.url)
    assert row_counts(reference_run.home) == before, again.stdout[-3000:] + again.stderr[-3000:]
