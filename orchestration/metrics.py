"""Prometheus metrics computed from ops.sqlite at scrape time.

The pipeline job (incremental, backfill, train) is the label `job_kind`: Prometheus owns `job`
(the scrape job) and would rename ours to `exported_job`.

Collectors read the run history on each scrape instead of counting in process memory, so runs
started from the CLI, the scheduler or the dashboard all count, and a restart loses nothing.
The warehouse is never opened here (a reader could block the writer): freshness comes from what
the last ingest recorded, the model from the registry's files, its monitoring from the published
gold snapshot (read-only, like every reader of gold).
"""

from __future__ import annotations

import itertools
import signal
import sqlite3
import threading
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from typing import Any

from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector

from crashes.config import get_settings
from orchestration import runs
from orchestration.flow import JOBS
from orchestration.layers import parse_timestamp
from orchestration.model_info import current_model

# Seconds: a stage takes from under a second (quality on a small load) to an hour (a backfill).
DURATION_BUCKETS = (1.0, 5.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0)
# Which layer a stage's rows land in: ingest takes rows into bronze and merges them into raw.
# Not gold: a build records each mart's size, not rows it loaded, so summing those over builds
# counts nothing real; mart sizes are the gauge crashes_table_rows{layer="gold"}.
STAGE_LAYERS = {
    ("ingest", "rows_in"): "bronze",
    ("ingest", "rows_out"): "raw",
    ("score", "rows_out"): "scores",
}


def _epoch(text: str, field: str = "") -> float | None:
    value = parse_timestamp(text, field)
    return None if value is None else value.timestamp()


class RunHistoryCollector(Collector):
    """Everything the Grafana dashboard and alerts need, from one short read of ops.sqlite."""

    def collect(self) -> Iterator[Metric]:
        up = GaugeMetricFamily("crashes_ops_up", "1 when the run history (ops.sqlite) could be read")
        try:
            with runs.connect() as con:
                families = list(self._from_history(con))
            up.add_metric([], 1)
        except sqlite3.Error:
            families = []
            up.add_metric([], 0)
        yield up
        yield from families
        yield from self._model()
        yield from self._monitoring()

    def _from_history(self, con: sqlite3.Connection) -> Iterable[Metric]:
        yield from self._runs(con)
        yield from self._stages(con)
        yield from self._rows(con)
        yield from self._checks(con)
        yield from self._freshness(con)
        yield from self._events(con)

    def _runs(self, con: sqlite3.Connection) -> Iterable[Metric]:
        jobs = sorted({*JOBS, *(job for (job,) in con.execute("SELECT DISTINCT job FROM runs"))})
        # Finished runs only: a running run would be a series that later drops to nothing, which a
        # counter must not do (increase() would read its end as a reset). Every job x trigger x
        # status starts at 0: a series born at 1 is no increase to Prometheus, so a first failure
        # would never show.
        total = CounterMetricFamily(
            "crashes_runs",
            "Finished pipeline runs by job, trigger and status",
            labels=["job_kind", "trigger", "status"],
        )
        counts = {
            (job, trigger, status): n
            for job, trigger, status, n in con.execute(
                "SELECT job, trigger, status, count(*) FROM runs WHERE status != 'running' GROUP BY 1, 2, 3"
            )
        }
        finished = [s for s in runs.RUN_STATUSES if s != "running"]
        for key in sorted({*itertools.product(jobs, runs.TRIGGERS, finished), *counts}):
            total.add_metric(list(key), counts.get(key, 0))
        yield total
        yield from self._in_progress(con, jobs)

        last_ok = GaugeMetricFamily(
            "crashes_last_success_timestamp_seconds",
            "When the last successful run of a job ended",
            labels=["job_kind"],
        )
        for job, ended in con.execute("SELECT job, max(ended) FROM runs WHERE status = 'succeeded' GROUP BY job"):
            if (ts := _epoch(ended)) is not None:
                last_ok.add_metric([job], ts)
        yield last_ok

        last_failed = GaugeMetricFamily(
            "crashes_last_run_failed",
            "1 when the latest finished run of a job failed or was interrupted",
            labels=["job_kind"],
        )
        for job, status in con.execute(
            """SELECT job, status FROM runs r WHERE id = (
                   SELECT max(id) FROM runs WHERE job = r.job AND status != 'running')"""
        ):
            last_failed.add_metric([job], 0 if status == "succeeded" else 1)
        yield last_failed

    def _in_progress(self, con: sqlite3.Connection, jobs: list[str]) -> Iterable[Metric]:
        """Runs marked running: in progress, or dead (their process was killed) until the next run
        closes them. A stuck or dead run shows as an age that keeps growing."""
        count = GaugeMetricFamily(
            "crashes_run_in_progress",
            "Runs marked running (a dead run stays so until the next run marks it interrupted)",
            labels=["job_kind"],
        )
        age = GaugeMetricFamily(
            "crashes_run_oldest_age_seconds",
            "Seconds since the oldest run marked running started, 0 when none is",
            labels=["job_kind"],
        )
        found = {
            job: (n, oldest)
            for job, n, oldest in con.execute(
                "SELECT job, count(*), min(started) FROM runs WHERE status = 'running' GROUP BY job"
            )
        }
        now = datetime.now(UTC).timestamp()
        for job in jobs:
            n, oldest = found.get(job, (0, None))
            started = _epoch(oldest) if oldest else None
            count.add_metric([job], n)
            age.add_metric([job], 0.0 if started is None else max(0.0, now - started))
        yield count
        yield age

    def _stages(self, con: sqlite3.Connection) -> Iterable[Metric]:
        cases = ", ".join(f"sum(duration_s <= {b})" for b in DURATION_BUCKETS)
        hist = HistogramMetricFamily(
            "crashes_stage_duration_seconds", "How long pipeline stages took", labels=["stage"]
        )
        query = (
            f"SELECT name, count(*), sum(duration_s), {cases} FROM stages "  # noqa: S608 - constants only
            "WHERE duration_s IS NOT NULL AND status IN ('succeeded', 'failed') GROUP BY name"
        )
        for name, n, total, *cumulative in con.execute(query):
            buckets = [(str(b), c) for b, c in zip(DURATION_BUCKETS, cumulative, strict=True)]
            hist.add_metric([name], buckets + [("+Inf", n)], total)
        yield hist

        last = GaugeMetricFamily(
            "crashes_stage_last_duration_seconds",
            "Duration of the latest run of each stage",
            labels=["stage", "status"],
        )
        for name, status, duration in con.execute(
            """SELECT name, status, duration_s FROM stages s WHERE duration_s IS NOT NULL AND run_id = (
                   SELECT max(run_id) FROM stages WHERE name = s.name AND duration_s IS NOT NULL)"""
        ):
            last.add_metric([name, status], duration)
        yield last

    def _rows(self, con: sqlite3.Connection) -> Iterable[Metric]:
        loaded = CounterMetricFamily(
            "crashes_rows_loaded",
            "Rows written by successful stages, per layer and dataset",
            labels=["layer", "dataset"],
        )
        scores = CounterMetricFamily("crashes_scores_written", "Model scores written by successful score stages")
        scored = 0
        for (stage, column), layer in STAGE_LAYERS.items():
            for dataset, n in con.execute(
                f"""SELECT j.key, sum(j.value) FROM stages s, json_each(s.{column}) j
                    WHERE s.status = 'succeeded' AND s.name = ? GROUP BY 1""",  # noqa: S608 - constants only
                (stage,),
            ):
                loaded.add_metric([layer, dataset], n)
                scored += n if layer == "scores" else 0
        scores.add_metric([], scored)
        yield loaded
        yield scores

        table_rows = GaugeMetricFamily(
            "crashes_table_rows",
            "Rows per table after the latest successful load or build",
            labels=["layer", "table"],
        )
        ingest, build = runs.last_stage("ingest"), runs.last_stage("build")
        for table, n in (ingest.detail.get("raw", {}).get("rows", {}) if ingest else {}).items():
            table_rows.add_metric(["raw", table], n)
        for table, n in (build.rows_out if build else {}).items():
            table_rows.add_metric(["gold", table], n)
        yield table_rows

    def _latest_figure(self, con: sqlite3.Connection, stage: str, column: str) -> int | None:
        row = con.execute(
            f"SELECT {column} FROM stages WHERE name = ? AND {column} IS NOT NULL "  # noqa: S608 - constants only
            "ORDER BY ended DESC, run_id DESC LIMIT 1",
            (stage,),
        ).fetchone()
        return None if row is None else int(row[0])

    def _checks(self, con: sqlite3.Connection) -> Iterable[Metric]:
        # (stage, column, gauge of the latest stage, counter over all stages, what)
        for stage, column, latest_name, total_name, what in (
            (
                "build",
                "tests_failed",
                "crashes_dbt_tests_failed",
                "crashes_dbt_test_failures",
                "dbt tests failed",
            ),
            (
                "build",
                "tests_passed",
                "crashes_dbt_tests_passed",
                "crashes_dbt_test_passes",
                "dbt tests passed",
            ),
            (
                "quality",
                "expectations_failed",
                "crashes_gx_expectations_failed",
                "crashes_gx_expectation_failures",
                "GX expectations failed",
            ),
        ):
            latest = self._latest_figure(con, stage, column)
            gauge = GaugeMetricFamily(latest_name, f"{what} in the latest {stage} stage")
            if latest is not None:
                gauge.add_metric([], latest)
            yield gauge
            (total,) = con.execute(
                f"SELECT coalesce(sum({column}), 0) FROM stages WHERE name = ?",  # noqa: S608 - constants only
                (stage,),
            ).fetchone()
            yield CounterMetricFamily(total_name, f"{what}, summed over all {stage} stages", value=total)

    def _freshness(self, con: sqlite3.Connection) -> Iterable[Metric]:
        newest = GaugeMetricFamily(
            "crashes_newest_record_timestamp_seconds",
            "Newest crash_date / :updated_at in raw after the latest successful ingest",
            labels=["field"],
        )
        lag = GaugeMetricFamily(
            "crashes_data_freshness_lag_seconds",
            "Now minus the newest crash_date / :updated_at in raw",
            labels=["field"],
        )
        ingest = runs.last_stage("ingest")
        now = datetime.now(UTC).timestamp()
        for field, text in (ingest.detail.get("raw", {}).get("newest", {}) if ingest else {}).items():
            if (ts := _epoch(str(text), field)) is not None:
                newest.add_metric([field], ts)
                lag.add_metric([field], max(0.0, now - ts))
        yield newest
        yield lag

    def _events(self, con: sqlite3.Connection) -> Iterable[Metric]:
        views = CounterMetricFamily("crashes_dashboard_page_views", "Dashboard page views", labels=["page"])
        for page, n in con.execute(
            """SELECT CASE WHEN json_valid(detail) THEN coalesce(json_extract(detail, '$.page'), 'unknown')
                           ELSE coalesce(detail, 'unknown') END, count(*)
               FROM events WHERE kind = 'page_view' GROUP BY 1"""
        ):
            views.add_metric([str(page)], n)
        yield views
        (predictions,) = con.execute("SELECT count(*) FROM events WHERE kind = 'prediction'").fetchone()
        yield CounterMetricFamily("crashes_predictions", "Single-crash predictions served", value=predictions)

    def _model(self) -> Iterable[Metric]:
        model = current_model()
        info = GaugeMetricFamily("crashes_model_info", "The current model (value 1)", labels=["version"])
        metric = GaugeMetricFamily(
            "crashes_model_test_metric",
            "The current model's metrics on its out-of-time test set",
            labels=["metric"],
        )
        if model is not None:
            info.add_metric([model.version], 1)
            for name, value in sorted(model.test_metrics.items()):
                metric.add_metric([name], value)
        yield info
        yield metric

    def _monitoring(self) -> Iterable[Metric]:
        """The latest month of `marts.ml_monitoring_monthly`; 0 until gold has one (the alerts
        compare against thresholds and the test year's figure, so 0 never fires)."""
        figures = dict.fromkeys(MONITORING_GAUGES, 0.0)
        figures |= latest_monitoring()
        for name, (_, text) in MONITORING_GAUGES.items():
            gauge = GaugeMetricFamily(name, text)
            gauge.add_metric([], figures[name])
            yield gauge


# Gauge → (column of the latest month in marts.ml_monitoring_monthly, help text).
MONITORING_GAUGES = {
    "crashes_model_score_psi": (
        "score_psi",
        "PSI of the latest month's scores against the model's training window (above 0.2: a shift)",
    ),
    "crashes_model_calibration_error": (
        "calibration_error",
        "Expected calibration error over the latest month's score deciles",
    ),
    "crashes_model_calibration_error_reference": (
        "reference_calibration_error",
        "The model's test year's mean monthly calibration error (the alert's baseline)",
    ),
}


def latest_monitoring() -> dict[str, float]:
    """The gauges' figures for the latest scored month in gold, or nothing when gold, the mart or
    its figures are not there yet."""
    import duckdb

    from crashes.errors import CrashesError
    from crashes.gold import connect

    select = ", ".join(f"coalesce({column}, 0)" for column, _ in MONITORING_GAUGES.values())
    try:
        with connect() as con:
            row = con.execute(
                f"select {select} from marts.ml_monitoring_monthly "  # noqa: S608 - constants only
                "order by month_start desc, model_version desc limit 1"
            ).fetchone()
    except (CrashesError, duckdb.Error):
        return {}
    return {} if row is None else dict(zip(MONITORING_GAUGES, map(float, row), strict=True))


def registry() -> CollectorRegistry:
    reg = CollectorRegistry()
    reg.register(RunHistoryCollector())
    return reg


def start_server(port: int | None = None, host: str = "127.0.0.1") -> tuple[Any, int]:
    """Serve /metrics in a background thread; returns the server and the bound port (port 0 = any)."""
    server, _thread = start_http_server(
        get_settings().metrics_port if port is None else port, addr=host, registry=registry()
    )
    return server, server.server_port


def wait_for_stop() -> threading.Event:
    """An event set by SIGTERM/SIGINT, so long-running commands end cleanly (docker stop)."""
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    return stop


def serve_metrics(port: int | None = None, host: str = "127.0.0.1") -> None:
    """`crashes metrics`: serve until stopped."""
    stop = wait_for_stop()
    server, bound = start_server(port, host)
    print(f"serving metrics on http://{host}:{bound}/metrics (reading {get_settings().ops_path}); Ctrl-C stops")
    stop.wait()
    server.shutdown()
