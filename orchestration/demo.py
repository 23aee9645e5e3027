"""`crashes demo` (`make demo`): the whole pipeline offline, through the same path as `crashes run`.

Generates three years of realistic crashes, vehicles and people, serves them on the project's
Socrata-compatible server on 127.0.0.1 (in this process), runs the DAG against it, and says
where everything landed and how to look at it.
"""

from __future__ import annotations

from datetime import date

from crashes.config import get_settings
from crashes.errors import CrashesError
from orchestration import runs
from orchestration.dag import RunResult
from orchestration.flow import run_pipeline

# The model's out-of-time split needs a training, a validation and a test year (the last full
# one), so three years and a quarter; few crashes a day keeps it to a couple of minutes on 2 cores.
DEMO_START = date(2021, 1, 1)
DEMO_END = date(2024, 4, 1)
DEMO_CRASHES_PER_DAY = 25
DEMO_SEED = 42


def _loaded(result: RunResult) -> list[str]:
    lines = []
    for stage in runs.stages_for(result.run_id):
        if stage.rows_out:
            figures = ", ".join(f"{k} {v:,}" for k, v in sorted(stage.rows_out.items()))
            lines.append(f"  {stage.name:<8} {figures}")
        elif stage.tests_passed is not None:
            lines.append(f"  {stage.name:<8} dbt tests {stage.tests_passed} passed, {stage.tests_failed} failed")
    return lines


def run_demo(
    start: date = DEMO_START,
    end: date = DEMO_END,
    crashes_per_day: int = DEMO_CRASHES_PER_DAY,
    seed: int = DEMO_SEED,
    log_format: str = "auto",
) -> RunResult:
    from ingestion.devserver.generator import generate_tables
    from ingestion.devserver.server import SocrataServer

    settings = get_settings().ensure()
    print(f"generating crashes {start} … {end} (~{crashes_per_day}/day, seed {seed}) …", flush=True)
    tables = generate_tables(start, end, crashes_per_day=crashes_per_day, seed=seed)
    print("  " + ", ".join(f"{k} {v.num_rows:,}" for k, v in tables.items()), flush=True)

    with SocrataServer(tables=tables, port=0) as server:
        print(f"serving them on a local Socrata-compatible API at {server.url}", flush=True)
        result = run_pipeline(base_url=server.url, log_format=log_format, trigger="cli")

    if not result.ok:
        raise CrashesError(f"demo run {result.run_id} failed: {result.error} (see `crashes status`)")
    print(
        "\n".join(
            [
                "",
                f"demo run {result.run_id} succeeded. Loaded:",
                *_loaded(result),
                "",
                "Where it is:",
                f"  bronze    {settings.bronze_url}",
                f"  warehouse {settings.warehouse_path} (raw, staging, intermediate, model scores)",
                f"  gold      {settings.gold_path} (the marts: read-only snapshot for readers)",
                f"  runs      {settings.ops_path}",
                f"  models    {settings.models_dir}",
                "",
                "Look at it (first `. .venv/bin/activate` in this folder, or prefix .venv/bin/):",
                "  crashes status          runs, freshness, rows per layer, current model",
                f"  crashes dashboard       the Streamlit dashboard on http://127.0.0.1:{settings.dashboard_port}",
                f"  crashes docs --serve    the dbt docs site on http://127.0.0.1:{settings.docs_port}",
                f"  crashes metrics         Prometheus metrics on http://127.0.0.1:{settings.metrics_port}/metrics",
            ]
        ),
        flush=True,
    )
    return result
