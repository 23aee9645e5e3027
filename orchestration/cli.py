"""`crashes`: the one command line. Thin by design: parse, call one function, print.

Heavy imports (dlt, dbt, Great Expectations, xgboost) happen inside the commands so that
`crashes --help` answers at once.
"""

from __future__ import annotations

import json
import os
import signal
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from crashes.errors import CrashesError
from orchestration import signals

if TYPE_CHECKING:
    from orchestration.dag import Stage

app = typer.Typer(
    name="crashes",
    help="Chicago traffic-crash warehouse: dlt ingest → dbt build → gold → model → dashboard.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
schedule_app = typer.Typer(help="Cron schedules for pipeline jobs (stored in ops.sqlite).", no_args_is_help=True)
app.add_typer(schedule_app, name="schedule")


@contextmanager
def _exit_on_signal() -> Iterator[None]:
    """After the engine recorded the run `interrupted`: exit 128 + the signal (143 for SIGTERM, as
    docker reports; typer would say 130 for any), and at once. Everything is on disk by then, and
    tearing down the interpreter with dbt, dlt, GX and xgboost loaded took 2-8 s of garbage
    collection, measured, which a stop's grace period should not spend."""
    try:
        yield
    except KeyboardInterrupt as exc:
        signals.caught(exc)
        typer.echo(f"interrupted by {signal.Signals(signals.received() or signal.SIGINT).name}", err=True)
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(signals.exit_code())


def _one_stage(job: str, stage: Stage, args: dict[str, Any], wait: bool) -> None:
    """Single-stage commands write the warehouse too: each is a one-stage run of the engine, under
    the same lock as `crashes run` (so it refuses with one line instead of racing a running
    pipeline, or, with --wait, queues behind it) and in the same run history. Prints the stage's
    report; a failure exits 1, or as its error says (one line for a problem the user can fix)."""
    from orchestration.flow import run_command

    with _exit_on_signal():
        done, recorded = run_command(job, stage, {k: v for k, v in args.items() if v}, wait=wait)
    if done.outcome and done.outcome.report:
        typer.echo(done.outcome.report)
    if done.status != "succeeded":
        if isinstance(done.exception, CrashesError):  # still one line, naming the run that recorded it
            error = CrashesError(f"{done.exception} — {recorded}")
            error.exit_code = done.exception.exit_code
            raise error from None
        if done.exception is not None:
            raise done.exception
        typer.echo(f"error: {done.error} — {recorded}", err=True)
        raise typer.Exit(1)


# The option the lock's refusal names; every command that takes the lock has it.
WaitOption = Annotated[bool, typer.Option(help="Wait for a running pipeline instead of refusing.")]


def _date(value: str | None, option: str) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise CrashesError(f"{option} takes a date as YYYY-MM-DD, got {value!r}") from None


# --------------------------------------------------------------------------- ingestion
@app.command()
def ingest(
    since: Annotated[str | None, typer.Option(help="Backfill from this crash_date (YYYY-MM-DD).")] = None,
    until: Annotated[str | None, typer.Option(help="Backfill up to (excluding) this crash_date.")] = None,
    datasets: Annotated[
        str | None, typer.Option(help="Comma-separated: crashes,vehicles,people (default all).")
    ] = None,
    base_url: Annotated[str | None, typer.Option(help="Socrata server, e.g. http://127.0.0.1:8765.")] = None,
    page_size: Annotated[int | None, typer.Option(help="Rows per request ($limit).", min=1)] = None,
    source: Annotated[str, typer.Option(help="socrata (the API) or replay (portal export files).")] = "socrata",
    path: Annotated[Path | None, typer.Option(help="With --source replay: a file or folder.")] = None,
    dataset: Annotated[
        str | None, typer.Option(help="With --source replay: the dataset, if not clear from columns or names.")
    ] = None,
    wait: WaitOption = False,
) -> None:
    """Load Socrata data into bronze (parquet) and raw (DuckDB): incremental by default,
    a backfill window with --since/--until, or export files with --source replay."""
    start, end = _date(since, "--since"), _date(until, "--until")
    if until and not since:
        raise CrashesError("--until needs --since (a backfill window); leave both out for incremental")
    if start and end and end <= start:
        raise CrashesError(f"--until ({end}) must be after --since ({start})")
    if source not in ("socrata", "replay"):
        raise CrashesError(f"--source must be socrata or replay, got {source!r}")
    if source == "replay" and path is None:
        raise CrashesError("--source replay needs --path FILE_OR_FOLDER")
    if source == "socrata" and (path is not None or dataset is not None):
        raise CrashesError("--path and --dataset go with --source replay")
    from orchestration import stages

    options = {"page_size": page_size, "source": source, "path": path, "dataset": dataset}
    stage = stages.ingest(start, end, datasets, base_url, **options)
    _one_stage("ingest", stage, {"since": start, "until": end, "datasets": datasets, **options}, wait)


@app.command("serve-socrata")
def serve_socrata(
    port: Annotated[int, typer.Option(help="Port on 127.0.0.1.")] = 8765,
    data: Annotated[
        Path | None, typer.Option(help="Folder of <dataset>.parquet/.jsonl(.gz) to serve (default: generate).")
    ] = None,
    host: Annotated[str, typer.Option(help="Interface to bind; keep 127.0.0.1 outside containers.")] = "127.0.0.1",
) -> None:
    """Serve data on a local Socrata-compatible API (/resource/<id>.json) for offline runs."""
    from ingestion.devserver.server import serve

    serve(port=port, data_dir=data, host=host)


@app.command()
def generate(
    out: Annotated[Path, typer.Option(help="Folder to write crashes/vehicles/people files to.")],
    start: Annotated[str, typer.Option(help="First crash_date (YYYY-MM-DD).")] = "2024-01-01",
    end: Annotated[str, typer.Option(help="Day after the last crash_date (YYYY-MM-DD).")] = "2024-04-01",
    crashes_per_day: Annotated[int, typer.Option(help="Mean crashes per day.", min=1)] = 300,
    seed: Annotated[int, typer.Option(help="Random seed: same seed, same data.")] = 42,
) -> None:
    """Generate realistic synthetic crashes, vehicles and people (deterministic under --seed)."""
    from ingestion.devserver.generator import generate_to_folder

    s, e = _date(start, "--start"), _date(end, "--end")
    assert s and e
    if e <= s:
        raise CrashesError(f"--end ({e}) must be after --start ({s})")
    summary = generate_to_folder(out, start=s, end=e, crashes_per_day=crashes_per_day, seed=seed)
    typer.echo(summary)


# --------------------------------------------------------------------------- transform
@app.command()
def build(
    select: Annotated[str | None, typer.Option(help="dbt node selection, e.g. 'marts' or '+fct_crashes'.")] = None,
    full_refresh: Annotated[bool, typer.Option("--full-refresh", help="Rebuild incremental models.")] = False,
    wait: WaitOption = False,
) -> None:
    """Quality gate, dbt build, then publish gold.duckdb for readers."""
    from orchestration import stages

    # From the published snapshot: a run that failed or was killed after its build may have left
    # marts there that gold does not hold; this build publishes only its own work on top of gold.
    stage = stages.build(select, after=(), full_refresh=full_refresh, from_gold=True)
    _one_stage("build", stage, {"select": select, "full_refresh": full_refresh}, wait)


@app.command()
def docs(
    serve: Annotated[bool, typer.Option("--serve", help="Serve the site on 127.0.0.1.")] = False,
    port: Annotated[int | None, typer.Option(help="Port for --serve (default 8080).")] = None,
    host: Annotated[str, typer.Option(help="Interface for --serve; 0.0.0.0 only in a container.")] = "127.0.0.1",
) -> None:
    """Generate the dbt docs site (and serve it with --serve)."""
    from orchestration.lock import pipeline_lock
    from transform import docs as run_docs

    # Generating reads the warehouse (dbt opens it), so it queues behind a running pipeline like
    # any writer; serving reads only the generated files, outside the lock.
    run_docs(
        serve=serve,
        port=port,
        host=host,
        guard=lambda: pipeline_lock(wait=True, on_wait=lambda line: typer.echo(line, err=True)),
    )


@app.command()
def sql(
    command: Annotated[str | None, typer.Option("-c", "--command", help="Run this SQL and exit.")] = None,
    as_csv: Annotated[bool, typer.Option("--csv", help="Print results as CSV.")] = False,
) -> None:
    """SQL on the current gold snapshot, read-only (never locks readers out): a shell, or -c "select ..."."""
    from crashes.shell import run as run_shell

    code = run_shell(command, as_csv=as_csv)
    if code:
        raise typer.Exit(code)


# --------------------------------------------------------------------------- ml
@app.command()
def train(
    test_year: Annotated[int | None, typer.Option(help="Year to report on (default: last full year).")] = None,
    wait: WaitOption = False,
) -> None:
    """Train the hit-and-run model out-of-time on gold and register it as current."""
    from orchestration import stages

    _one_stage("train", stages.train(after=(), unpublished=False, test_year=test_year), {"test_year": test_year}, wait)


@app.command()
def score(wait: WaitOption = False) -> None:
    """Score every crash in gold with the current model and publish gold with the new scores."""
    from orchestration import stages

    _one_stage("score", stages.score(after=(), unpublished=False, publish=True), {}, wait)


@app.command()
def predict(
    json_record: Annotated[str, typer.Option("--json", help="One crash as JSON, e.g. '{\"crash_hour\": 2}'.")],
) -> None:
    """Score one hypothetical crash; prints the probability and top feature contributions."""
    from ml.score import predict_one

    try:
        record = json.loads(json_record)
    except json.JSONDecodeError as exc:
        raise CrashesError(f"--json is not valid JSON ({exc.msg} at position {exc.pos})") from None
    if not isinstance(record, dict):
        raise CrashesError("--json must be one JSON object, e.g. '{\"crash_hour\": 2}'")
    typer.echo(predict_one(record).summary())


@app.command()
def api(
    port: Annotated[int | None, typer.Option(help="Port (default 8100, or CRASHES_API_PORT).")] = None,
    host: Annotated[str, typer.Option(help="Interface to bind; 0.0.0.0 only in a container.")] = "127.0.0.1",
) -> None:
    """Serve the scoring API: POST /v1/score, GET /v1/model, /healthz, /metrics, docs at /docs."""
    from ml.api import serve

    serve(port=port, host=host)


# --------------------------------------------------------------------------- orchestration
@app.command()
def run(
    since: Annotated[str | None, typer.Option(help="Backfill from this crash_date.")] = None,
    until: Annotated[str | None, typer.Option(help="Backfill up to this crash_date.")] = None,
    datasets: Annotated[str | None, typer.Option(help="Comma-separated datasets.")] = None,
    base_url: Annotated[str | None, typer.Option(help="Socrata server.")] = None,
    train_model: Annotated[bool, typer.Option("--train", help="Retrain the model before scoring.")] = False,
    log_format: Annotated[str, typer.Option(help="auto, plain or json.")] = "auto",
    wait: WaitOption = False,
) -> None:
    """Run the pipeline DAG: ingest → quality → build → (train) → score → publish (gold is
    replaced once, at the end, with the run's marts and scores)."""
    from orchestration.flow import run_pipeline

    if log_format not in ("auto", "plain", "json"):
        raise CrashesError(f"--log-format must be auto, plain or json, got {log_format!r}")
    with _exit_on_signal():
        result = run_pipeline(
            since=_date(since, "--since"),
            until=_date(until, "--until"),
            datasets=datasets,
            base_url=base_url,
            train=train_model,
            log_format=log_format,
            wait=wait,
            trigger="cli",
        )
    if not result.ok:
        raise typer.Exit(1)


@app.command()
def status() -> None:
    """Last runs, data freshness, rows per layer and the current model."""
    from orchestration.status import status_report

    typer.echo(status_report())


@app.command()
def demo() -> None:
    """Generate data, serve it on a local Socrata server, and run the whole pipeline offline."""
    from orchestration.demo import run_demo

    run_demo()


@schedule_app.command("add")
def schedule_add(
    cron: Annotated[str, typer.Argument(help="Cron expression, e.g. '0 6 * * *'.")],
    job: Annotated[str, typer.Option(help="incremental, backfill or train.")] = "incremental",
    args: Annotated[str | None, typer.Option(help="Extra job arguments, e.g. '--since 2024-01-01'.")] = None,
) -> None:
    """Add a schedule; an invalid cron expression is refused with the parser's reason."""
    from orchestration.schedules import add_schedule

    typer.echo(add_schedule(cron, job=job, args=args).describe())


@schedule_app.command("list")
def schedule_list() -> None:
    """Schedules with their plain-English meaning, next five run times and last runs, and whether a
    scheduler is alive."""
    from orchestration.schedules import list_schedules_text

    typer.echo(list_schedules_text())


@schedule_app.command("remove")
def schedule_remove(schedule_id: Annotated[int, typer.Argument(help="The schedule's ID from `list`.")]) -> None:
    """Remove a schedule."""
    from orchestration.schedules import remove_schedule

    remove_schedule(schedule_id)
    typer.echo(f"removed schedule {schedule_id}")


@app.command()
def scheduler(
    port: Annotated[int | None, typer.Option(help="Metrics port (default 8000).")] = None,
    host: Annotated[str, typer.Option(help="Interface for /metrics.")] = "127.0.0.1",
    log_format: Annotated[str, typer.Option(help="plain (timestamped lines) or json (one object a line).")] = "plain",
) -> None:
    """Long-running: run due scheduled jobs one at a time and serve /metrics. Any number may share a
    home: each schedule slot runs once."""
    from orchestration.scheduler import LOG_FORMATS, run_scheduler

    if log_format not in LOG_FORMATS:
        raise CrashesError(f"--log-format must be plain or json, got {log_format!r}")
    with _exit_on_signal():  # a signal during a job: the job is recorded interrupted, then we stop
        run_scheduler(port=port, host=host, log_format=log_format)


@app.command()
def metrics(
    port: Annotated[int | None, typer.Option(help="Port (default 8000).")] = None,
    host: Annotated[str, typer.Option(help="Interface to bind.")] = "127.0.0.1",
) -> None:
    """Serve Prometheus metrics (read from the run history) on /metrics."""
    from orchestration.metrics import serve_metrics

    serve_metrics(port=port, host=host)


@app.command()
def dashboard(
    port: Annotated[int | None, typer.Option(help="Port (default 8501).")] = None,
    host: Annotated[str, typer.Option(help="Interface to bind.")] = "127.0.0.1",
) -> None:
    """Serve the Streamlit dashboard on 127.0.0.1."""
    from dashboard.launch import serve_dashboard

    serve_dashboard(port=port, host=host)


def main() -> None:
    """Entry point: user errors are one line on stderr and a non-zero exit, never a traceback."""
    try:
        app(standalone_mode=True)
    except CrashesError as exc:
        typer.echo(f"error: {exc}", err=True)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        typer.echo("interrupted", err=True)
        sys.exit(signals.exit_code())  # 143 after SIGTERM, 130 after Ctrl-C
    except Exception as exc:  # noqa: BLE001 - the last line of defence for the CLI
        if os.environ.get("CRASHES_DEBUG"):
            raise
        typer.echo(f"error: {type(exc).__name__}: {exc} (set CRASHES_DEBUG=1 for the traceback)", err=True)
        sys.exit(1)


if __name__ == "__main__":
    main()
