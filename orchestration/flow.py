"""`crashes run` and the scheduled jobs: build the stage DAG, take the lock, record, execute.

Jobs: `incremental` (ingest what changed since the last load), `backfill` (a crash_date window)
and `train` (retrain and rescore on the current gold). Each is the same engine over a
different list of stages.
"""

from __future__ import annotations

import argparse
import shlex
from collections.abc import Callable
from datetime import date
from typing import Any, NoReturn

from crashes.config import get_settings
from crashes.errors import CrashesError
from orchestration import runs, signals, stages
from orchestration.dag import Reporter, RunResult, Stage, StageResult, execute, ordered
from orchestration.lock import pipeline_lock
from orchestration.progress import CommandReporter, reporter_for

JOBS = ("incremental", "backfill", "train")


def run_stages(
    job: str,
    args: dict[str, Any],
    plan: Callable[[], list[Stage]],
    *,
    trigger: str = "cli",
    log_format: str = "auto",
    wait: bool = False,
    schedule_id: int | None = None,
    slot: str | None = None,
    reporter: Reporter | None = None,
) -> RunResult:
    """Run one job under the pipeline lock. `plan` is called once the lock is held, so choices
    that depend on state (train first when no model exists) see the state the run will change.
    SIGTERM or SIGINT, even while waiting for the lock, raises KeyboardInterrupt (a run already
    recorded is closed `interrupted` first)."""
    reporter = reporter or reporter_for(log_format)
    get_settings().ensure()
    with signals.interruptible(), pipeline_lock(wait, reporter.note):
        orphans = runs.mark_interrupted()
        if orphans:
            reporter.note(f"marked interrupted run(s) {', '.join(map(str, orphans))}; this run resumes their work")
        planned = ordered(plan())
        run_id = runs.start_run(job, args, trigger, [s.name for s in planned], schedule_id, slot)
        return execute(run_id, job, planned, reporter)


def run_command(job: str, stage: Stage, args: dict[str, Any], *, wait: bool = False) -> tuple[StageResult, str]:
    """A single-stage command (`crashes ingest`, `build`, `train`, `score`) as a one-stage run,
    so a failed manual build is in the run history, status, metrics and alerts like any other.
    The command prints the stage's report itself; returns the stage and the run it was recorded as."""
    reporter = CommandReporter()
    result = run_stages(job, args, lambda: [stage], wait=wait, reporter=reporter)
    return result.stages[0], reporter.recorded or "not recorded"


def _validate(since: date | None, until: date | None, datasets: str | None) -> None:
    if until and not since:
        raise CrashesError("--until needs --since (a backfill window); leave both out for incremental")
    if since and until and until <= since:
        raise CrashesError(f"--until ({until}) must be after --since ({since})")
    if datasets:
        from ingestion.datasets import parse_datasets

        try:
            parse_datasets(datasets)
        except ValueError as exc:
            raise CrashesError(str(exc)) from None


def run_pipeline(
    since: date | None = None,
    until: date | None = None,
    datasets: str | None = None,
    base_url: str | None = None,
    train: bool = False,
    log_format: str = "auto",
    wait: bool = False,
    trigger: str = "cli",
    schedule_id: int | None = None,
    slot: str | None = None,
) -> RunResult:
    """ingest → quality gate → dbt build → (train) → score → publish, recorded in ops.sqlite."""
    _validate(since, until, datasets)
    job = "backfill" if since else "incremental"
    args = {
        k: v
        for k, v in {
            "since": since,
            "until": until,
            "datasets": datasets,
            "base_url": base_url,
            "train": train,
        }.items()
        if v
    }
    return run_stages(
        job,
        args,
        lambda: stages.pipeline(since, until, datasets, base_url, train),
        trigger=trigger,
        log_format=log_format,
        wait=wait,
        schedule_id=schedule_id,
        slot=slot,
    )


def run_replay(
    path: str,
    dataset: str | None = None,
    *,
    build: bool = True,
    trigger: str = "dashboard",
    log_format: str = "plain",
    wait: bool = False,
) -> RunResult:
    """Export files through the replay path `crashes ingest --source replay` takes: a one-stage
    `ingest` run, or with `build` the whole pipeline (job `replay`) so gold shows what they hold."""
    options = {"source": "replay", "path": path, "dataset": dataset}
    args = {k: v for k, v in {**options, "build": build}.items() if v}

    def plan() -> list[Stage]:
        if build:
            return stages.pipeline(None, None, None, None, False, **options)
        return [stages.ingest(None, None, None, None, **options)]

    return run_stages("replay" if build else "ingest", args, plan, trigger=trigger, log_format=log_format, wait=wait)


# --------------------------------------------------------------------------- scheduled jobs
class _ArgParser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise CrashesError(f"{self.prog} --args: {message}")


def _parser(job: str) -> _ArgParser:
    p = _ArgParser(prog=f"job {job}", add_help=False, allow_abbrev=False)
    if job in ("incremental", "backfill"):
        if job == "backfill":
            p.add_argument("--since", type=date.fromisoformat, required=True)
            p.add_argument("--until", type=date.fromisoformat)
        p.add_argument("--datasets")
        p.add_argument("--base-url")
        p.add_argument("--train", action="store_true")
    return p


def parse_job_args(job: str, args: str | None) -> dict[str, Any]:
    """Check a schedule's job and arguments when it is added, not at 6 in the morning."""
    if job not in JOBS:
        raise CrashesError(f"unknown job {job!r}: choose from {', '.join(JOBS)}")
    try:
        tokens = shlex.split(args or "")
    except ValueError as exc:
        raise CrashesError(f"--args cannot be split into arguments: {exc}") from None
    parsed = vars(_parser(job).parse_args(tokens))
    if job != "train":
        _validate(parsed.get("since"), parsed.get("until"), parsed.get("datasets"))
    return parsed


def run_job(
    job: str,
    args: str | None,
    *,
    trigger: str,
    schedule_id: int | None = None,
    slot: str | None = None,
    log_format: str = "plain",
    wait: bool = True,
) -> RunResult:
    """Run a job by name with `--args`-style arguments (the scheduler, the dashboard). Scheduled
    jobs wait for a run in progress rather than skip their slot."""
    parsed = parse_job_args(job, args)
    if job == "train":
        return run_stages(
            "train",
            {},
            stages.training,
            trigger=trigger,
            log_format=log_format,
            wait=wait,
            schedule_id=schedule_id,
            slot=slot,
        )
    return run_pipeline(
        since=parsed.get("since"),
        until=parsed.get("until"),
        datasets=parsed.get("datasets"),
        base_url=parsed.get("base_url"),
        train=bool(parsed.get("train")),
        log_format=log_format,
        wait=wait,
        trigger=trigger,
        schedule_id=schedule_id,
        slot=slot,
    )
