"""Orchestration at scale: the engine's own overhead per run, and what a Prometheus scrape and
`crashes status` cost once ops.sqlite holds years of history (metrics are computed from it at
every scrape, so this is the figure that says whether that design holds).

Prints a JSON object as its last line (see bench/__main__.py).
"""

from __future__ import annotations

import json
import os
import statistics
import tempfile
import time
from pathlib import Path


def _median_seconds(fn, repeat: int = 5) -> float:  # type: ignore[no-untyped-def]
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> dict[str, float | int]:
    home = Path(tempfile.mkdtemp(prefix="crashes-orch-bench-"))
    os.environ["CRASHES_HOME"] = str(home)
    from prometheus_client import generate_latest

    from orchestration import runs
    from orchestration.dag import Stage, StageOutcome
    from orchestration.flow import run_stages
    from orchestration.metrics import registry
    from orchestration.status import status_report

    def stage(name: str, after: tuple[str, ...]) -> Stage:
        figures = {"rows_in": {"crashes": 1000}, "rows_out": {"crashes": 1000}, "tests_passed": 100}
        return Stage(name, lambda: StageOutcome(**figures), after=after)  # type: ignore[arg-type]

    plan = [
        stage("ingest", ()),
        stage("quality", ("ingest",)),
        stage("build", ("quality",)),
        stage("score", ("build",)),
    ]
    engine_runs = 200
    t0 = time.perf_counter()
    with open(os.devnull, "w") as quiet:
        import contextlib

        with contextlib.redirect_stdout(quiet):
            for _ in range(engine_runs):
                run_stages("incremental", {}, lambda: plan, log_format="plain")
    per_run_ms = (time.perf_counter() - t0) / engine_runs * 1000

    # Years of history in bulk: ~4 runs a day for 10 years, and a busy dashboard.
    history_runs, events = 15_000, 200_000
    with runs.connect() as con, runs.transaction(con):
        con.executemany(
            "INSERT INTO runs (trigger, job, args, started, ended, status) VALUES ('schedule', 'incremental', '{}',"
            " '2024-01-01T06:00:00+00:00', '2024-01-01T06:05:00+00:00', ?)",
            [("succeeded" if i % 20 else "failed",) for i in range(history_runs)],
        )
        con.execute(
            """INSERT INTO stages (run_id, name, position, started, ended, duration_s, status, rows_in, rows_out,
                                   tests_passed, tests_failed)
               SELECT r.id, s.name, s.pos, r.started, r.ended, 30.0 + (r.id % 600), 'succeeded',
                      '{"crashes": 900, "people": 1900}', '{"crashes": 900, "people": 1900}', 107, 0
               FROM runs r, (SELECT 'ingest' AS name, 0 AS pos UNION ALL SELECT 'quality', 1
                             UNION ALL SELECT 'build', 2 UNION ALL SELECT 'score', 3) s
               WHERE r.id > ?""",
            (engine_runs,),
        )
        con.executemany(
            "INSERT INTO events (kind, detail, at) VALUES (?, ?, '2024-01-01T00:00:00+00:00')",
            [("page_view", '{"page": "overview"}') if i % 10 else ("prediction", "{}") for i in range(events)],
        )
    scrape = _median_seconds(lambda: generate_latest(registry()))
    status = _median_seconds(status_report)
    return {
        "engine_overhead_ms_per_run_4_stages": round(per_run_ms, 1),
        "history_runs": history_runs + engine_runs,
        "history_stages": (history_runs + engine_runs) * 4,
        "history_events": events,
        "scrape_seconds_median": round(scrape, 3),
        "status_seconds_median": round(status, 3),
        "ops_sqlite_mb": round(sum(p.stat().st_size for p in home.glob("ops.sqlite*")) / 1e6, 1),
    }


if __name__ == "__main__":
    print(json.dumps(main()))
