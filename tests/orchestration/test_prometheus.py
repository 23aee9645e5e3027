"""A real Prometheus scrapes `crashes metrics` with the project's scrape config; every metric the
Grafana dashboard and alert rules query is exported, and the alerts see what happened."""

from __future__ import annotations

import json
import shutil
import subprocess
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from orchestration import runs
from orchestration.dag import Stage, StageFailed, StageOutcome
from orchestration.flow import run_stages
from orchestration.metrics import registry, start_server
from tests.orchestration.monitoring import (
    PROJECT,
    alert_queries,
    alert_query,
    dashboard_queries,
    free_port,
    metric_names,
)

NEWEST = {"crash_date": "2024-03-31T23:10:00.000", "socrata_updated_at": "2024-04-01T06:00:00.000Z"}


def _record_history(home: Path) -> None:
    """Two runs through the real engine: one that succeeds end to end, one whose dbt tests fail."""
    (home / "models" / "v20240401").mkdir(parents=True)
    (home / "models" / "v20240401" / "metadata.json").write_text(
        json.dumps({"version": "v20240401", "metrics": {"test": {"roc_auc": 0.71, "pr_auc": 0.44}}})
    )
    (home / "models" / "CURRENT").write_text("v20240401")

    def ingest() -> StageOutcome:
        raw = {"rows": {"crashes": 900, "vehicles": 1800, "people": 1900}, "newest": NEWEST}
        return StageOutcome(rows_in={"crashes": 900, "people": 1901}, rows_out={"crashes": 900, "people": 1900},
                            detail={"raw": raw})  # fmt: skip

    def quality() -> StageOutcome:
        return StageOutcome(expectations_failed=1)

    def good_build() -> StageOutcome:
        return StageOutcome(tests_passed=41, tests_failed=0, rows_out={"fct_crashes": 900})

    def bad_build() -> StageOutcome:
        raise StageFailed("dbt build failed: 2 tests failed", StageOutcome(tests_passed=39, tests_failed=2))

    def score() -> StageOutcome:
        return StageOutcome(rows_out={"scores": 900}, model_version="v20240401")

    for build in (good_build, bad_build):
        run_stages(
            "incremental",
            {},
            lambda b=build: [  # type: ignore[misc]
                Stage("ingest", ingest),
                Stage("quality", quality, after=("ingest",)),
                Stage("build", b, after=("quality",)),
                Stage("score", score, after=("build",)),
            ],
            log_format="plain",
        )
    runs.record_event("page_view", {"page": "overview"})
    runs.record_event("page_view", {"page": "overview"})
    runs.record_event("prediction", {"probability": 0.3})


def _get(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=10) as resp:
        return resp.read().decode()


@pytest.fixture
def prometheus(crashes_home: Path, tmp_path: Path) -> Iterator[tuple[str, str]]:
    _record_history(crashes_home)
    with _scraped_by_prometheus(tmp_path) as urls:
        yield urls


@pytest.fixture
def prometheus_from_scratch(crashes_home: Path, tmp_path: Path) -> Iterator[tuple[str, str]]:
    """Prometheus scraping a home with no runs yet: the state before a first failure."""
    with _scraped_by_prometheus(tmp_path) as urls:
        yield urls


@contextmanager
def _scraped_by_prometheus(tmp_path: Path) -> Iterator[tuple[str, str]]:
    binary = shutil.which("prometheus")
    if binary is None:
        pytest.skip("prometheus is not installed (Debian package prometheus; .ci/run installs it)")
    server, metrics_port = start_server(port=0, host="127.0.0.1")
    config = yaml.safe_load((PROJECT / "deploy/prometheus/prometheus.yml").read_text())
    config["global"]["scrape_interval"] = "1s"
    for job in config["scrape_configs"]:
        # The pipeline at our metrics server; MinIO at a port where nothing listens (up == 0).
        port = metrics_port if job["job_name"] == "crashes-pipeline" else free_port()
        job["static_configs"] = [{"targets": [f"127.0.0.1:{port}"]}]
    (tmp_path / "prometheus.yml").write_text(yaml.safe_dump(config))
    web = f"127.0.0.1:{free_port()}"
    proc = subprocess.Popen(
        [binary, f"--config.file={tmp_path / 'prometheus.yml'}", f"--storage.tsdb.path={tmp_path / 'tsdb'}",
         f"--web.listen-address={web}"],
        stdout=subprocess.DEVNULL,
        stderr=open(tmp_path / "prometheus.log", "w"),  # noqa: SIM115 - closed with the process
    )  # fmt: skip
    try:
        yield f"http://{web}", f"http://127.0.0.1:{metrics_port}/metrics"
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        server.shutdown()


def _query(base: str, expr: str) -> list[dict[str, Any]]:
    body = json.loads(_get(f"{base}/api/v1/query?" + urllib.parse.urlencode({"query": expr})))
    assert body["status"] == "success", body
    return body["data"]["result"]


def _wait_for_series(base: str, expr: str, timeout: float = 60.0) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if result := _query(base, expr):
                return result
        except OSError:
            pass  # not listening yet
        time.sleep(0.5)
    raise AssertionError(f"Prometheus never returned {expr}")


def _value(result: list[dict[str, Any]], **labels: str) -> float:
    (match,) = [r for r in result if all(r["metric"].get(k) == v for k, v in labels.items())]
    return float(match["value"][1])


def test_prometheus_scrapes_the_run_history(prometheus: tuple[str, str]) -> None:
    base, metrics_url = prometheus
    _wait_for_series(base, 'up{job="crashes-pipeline"} == 1')
    # The config's second job (MinIO) is scraped too; nothing listens there in this test.
    assert _value(_wait_for_series(base, 'up{job="minio"}'), job="minio") == 0

    runs_total = _wait_for_series(base, "crashes_runs_total")
    assert _value(runs_total, status="succeeded", job_kind="incremental", trigger="cli") == 1
    assert _value(runs_total, status="failed", job_kind="incremental", trigger="cli") == 1
    rows = _query(base, "crashes_rows_loaded_total")
    assert _value(rows, layer="raw", dataset="people") == 2 * 1900
    assert _value(rows, layer="bronze", dataset="people") == 2 * 1901
    # Gold is not a load counter (a build records mart sizes); its size is the gauge, latest build.
    assert not [r for r in rows if r["metric"].get("layer") == "gold"]
    assert _value(_query(base, "crashes_table_rows"), layer="gold", table="fct_crashes") == 900
    assert _value(_query(base, "crashes_scores_written_total"), job="crashes-pipeline") == 900
    assert _value(_query(base, "crashes_dbt_tests_failed")) == 2
    assert _value(_query(base, "crashes_gx_expectation_failures_total")) == 2
    assert _value(_query(base, "crashes_stage_duration_seconds_count"), stage="build") == 2
    assert _value(_query(base, "crashes_model_test_metric"), metric="roc_auc") == pytest.approx(0.71)
    assert _value(_query(base, "crashes_dashboard_page_views_total"), page="overview") == 2
    assert _value(_query(base, "crashes_predictions_total")) == 1
    # 2024-04-01T06:00Z is long ago: the stale-data alert's query is far above its 48 h threshold.
    lag_hours = _value(_query(base, 'max(crashes_data_freshness_lag_seconds{field="socrata_updated_at"}) / 3600'))
    assert lag_hours > 48
    assert _value(_query(base, "time() - crashes_newest_record_timestamp_seconds"), field="socrata_updated_at") > 0

    # The alert rules' queries, evaluated by Prometheus: the failed run and failed tests would fire.
    rule = alert_query
    assert _value(_query(base, rule("crashes-run-failed")), job_kind="incremental") == 1
    assert _value(_query(base, rule("crashes-data-stale"))) > 48
    assert _value(_query(base, rule("crashes-dbt-tests-failed"))) == 2
    # Nothing is running and the target answers: the stuck and target-down rules stay quiet.
    assert {r["value"][1] for r in _query(base, rule("crashes-run-stuck"))} == {"0"}
    assert _value(_query(base, rule("crashes-target-down"))) == 1


def test_every_queried_metric_is_exported(prometheus: tuple[str, str]) -> None:
    base, metrics_url = prometheus
    _wait_for_series(base, 'crashes_ops_up{job="crashes-pipeline"}')
    time.sleep(2)  # a couple more scrapes, so every series is in
    scraped = {s.name for f in text_string_to_metric_families(_get(metrics_url)) for s in f.samples}
    in_prometheus = set(json.loads(_get(f"{base}/api/v1/label/__name__/values"))["data"])
    queries = dashboard_queries() + alert_queries()
    wanted = set().union(*(metric_names(q) for q in queries))
    assert wanted, "no metric names parsed from the Grafana files"
    assert wanted - scraped <= {"up"}, f"queried but not exported: {sorted(wanted - scraped - {'up'})}"
    assert wanted <= in_prometheus, f"queried but not in Prometheus: {sorted(wanted - in_prometheus)}"
    for expr in queries:  # every panel and rule is valid PromQL that returns data here
        assert _query(base, expr), f"no data for {expr}"


def _scrape() -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for f in text_string_to_metric_families(generate_latest(registry()).decode())
        for s in f.samples
    }


def test_counters_count_finished_runs_and_loaded_rows_only(crashes_home: Path) -> None:
    _record_history(crashes_home)
    running = runs.start_run("backfill", {}, "cli", ["ingest"])
    samples = _scrape()
    statuses = {dict(labels)["status"] for (name, labels), n in samples.items() if name == "crashes_runs_total" and n}
    assert statuses == {"succeeded", "failed"}, "a run in progress is not counted until it ends"
    assert "running" not in {dict(labels)["status"] for name, labels in samples if name == "crashes_runs_total"}
    assert samples[("crashes_run_in_progress", (("job_kind", "backfill"),))] == 1
    layers = {dict(labels)["layer"] for name, labels in samples if name == "crashes_rows_loaded_total"}
    assert layers == {"bronze", "raw", "scores"}
    assert samples[("crashes_table_rows", (("layer", "gold"), ("table", "fct_crashes")))] == 900
    runs.finish_run(running, "succeeded")
    key = ("crashes_runs_total", (("job_kind", "backfill"), ("status", "succeeded"), ("trigger", "cli")))
    assert _scrape()[key] == 1


def test_a_first_failure_and_a_stuck_run_are_seen_by_prometheus(prometheus_from_scratch: tuple[str, str]) -> None:
    base, _ = prometheus_from_scratch
    # Before any run every job x trigger x status series is there at 0, so the first failure is
    # an increase (a series born at 1 would read as no increase at all).
    zero = _wait_for_series(base, 'crashes_runs_total{job_kind="train", trigger="schedule", status="failed"}')
    assert _value(zero) == 0
    assert len(_query(base, "crashes_runs_total")) >= 3 * 3 * 3  # jobs x triggers x finished statuses
    idle = _wait_for_series(base, "crashes_run_in_progress")
    assert {_value(idle, job_kind=j) for j in ("incremental", "backfill", "train")} == {0}

    def train() -> StageOutcome:
        raise StageFailed("no gold snapshot yet")

    assert not run_stages("train", {}, lambda: [Stage("train", train)], trigger="schedule", log_format="plain").ok
    _wait_for_series(base, 'crashes_runs_total{job_kind="train", trigger="schedule", status="failed"} == 1')
    increase = _query(base, 'sum(increase(crashes_runs_total{job_kind="train", status="failed"}[1m]))')
    assert _value(increase) > 0, "the first failed run shows as an increase"
    panel = _query(base, "sum by (status) (increase(crashes_runs_total[1d]))")  # "Runs by status"
    assert _value(panel, status="failed") > 0 and _value(panel, status="succeeded") == 0

    # A run left `running` (its process killed): one in progress, and its age grows scrape by scrape.
    runs.start_run("backfill", {"since": "2024-01-01"}, "cli", ["ingest"])
    _wait_for_series(base, 'crashes_run_in_progress{job_kind="backfill"} == 1')
    first = _value(_wait_for_series(base, 'crashes_run_oldest_age_seconds{job_kind="backfill"} > 0'))
    time.sleep(3)
    later = _value(_query(base, 'crashes_run_oldest_age_seconds{job_kind="backfill"}'))
    assert later > first, (first, later)
    assert _value(_query(base, 'crashes_run_in_progress{job_kind="train"}')) == 0
