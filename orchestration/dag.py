"""The stage engine: run stages in dependency order, record each one, skip dependants of a failure.

Stages are small adapters around one public function each (see `orchestration.stages`); the engine
knows nothing about what they do. A re-run after a failure or a kill runs the DAG again from the
top: every stage is idempotent (raw merges on keys, dbt rebuilds, scoring replaces), so resuming
needs no bookkeeping that could itself go wrong.
"""

from __future__ import annotations

import signal
import time
import traceback
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any, Protocol

from crashes.errors import CrashesError
from orchestration import runs, signals


@dataclass(kw_only=True)
class StageOutcome(runs.StageFigures):
    """What a stage reports: its figures (recorded in ops.sqlite), a one-line summary, and the
    stage function's whole report (what a one-stage command prints)."""

    summary: str = ""
    report: str = ""


class StageFailed(Exception):
    """A stage ran but its result says stop (a failed dbt test, a broken key): keep its figures."""

    def __init__(self, message: str, outcome: StageOutcome | None = None) -> None:
        super().__init__(message)
        self.outcome = outcome or StageOutcome(summary=message)


@dataclass(frozen=True)
class Stage:
    name: str
    run: Callable[[], StageOutcome]
    after: tuple[str, ...] = ()
    description: str = ""
    # For a stage with a commit point (a publish): called just before the stage runs, it returns
    # a check of whether the stage's effect is already committed. A signal that lands after the
    # commit point then leaves the stage `succeeded`, as it is, not `interrupted`.
    commit_probe: Callable[[], Callable[[], bool]] | None = None


@dataclass
class StageResult:
    name: str
    status: str
    duration_s: float | None = None
    outcome: StageOutcome | None = None
    error: str | None = None
    exception: Exception | None = None  # what made it fail, for a one-stage command to raise

    def line(self) -> str:
        """`succeeded in 3.2s: 1,204 rows` or `failed in 0.4s: why`."""
        took = f" in {self.duration_s:.1f}s" if self.duration_s is not None else ""
        what = self.error if self.status != "succeeded" else (self.outcome.summary if self.outcome else "")
        return f"{self.status}{took}" + (f": {what}" if what else "")


class Reporter(Protocol):
    def stage_output(self) -> AbstractContextManager[Any]: ...
    def note(self, text: str) -> None: ...
    def run_started(self, run_id: int, job: str, stages: list[Stage]) -> None: ...
    def stage_started(self, run_id: int, stage: Stage) -> None: ...
    def stage_finished(self, run_id: int, stage: Stage, result: StageResult) -> None: ...
    def run_finished(self, run_id: int, result: RunResult) -> None: ...


@dataclass
class RunResult:
    run_id: int
    job: str
    stages: list[StageResult]

    @property
    def ok(self) -> bool:
        return all(s.status == "succeeded" for s in self.stages)

    @property
    def failed(self) -> StageResult | None:
        return next((s for s in self.stages if s.status == "failed"), None)

    @property
    def error(self) -> str | None:
        failed = self.failed
        return f"stage {failed.name} failed: {failed.error}" if failed else None

    def summary(self) -> str:
        head = f"run {self.run_id} ({self.job}): " + ("succeeded" if self.ok else "FAILED")
        lines = [head]
        lines.extend(f"  {s.name:<8} {s.line()}" for s in self.stages)
        return "\n".join(lines)


def ordered(stages: list[Stage]) -> list[Stage]:
    """Dependency order, stable for ties (the order given); refuses unknown names and cycles."""
    by_name = {s.name: s for s in stages}
    if len(by_name) != len(stages):
        raise ValueError("stage names must be unique")
    for s in stages:
        unknown = [d for d in s.after if d not in by_name]
        if unknown:
            raise ValueError(f"stage {s.name} depends on unknown stage(s) {', '.join(unknown)}")
    done: list[Stage] = []
    placed: set[str] = set()
    pending = list(stages)
    while pending:
        ready = next((s for s in pending if set(s.after) <= placed), None)
        if ready is None:
            raise ValueError(f"stage dependencies form a cycle among {', '.join(s.name for s in pending)}")
        done.append(ready)
        placed.add(ready.name)
        pending.remove(ready)
    return done


def _error_text(exc: BaseException) -> str:
    """One line a person can act on; the last frame says where, without a whole traceback."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    if isinstance(exc, StageFailed | CrashesError):
        return text  # already written for a person
    frame = traceback.extract_tb(exc.__traceback__)[-1:] if exc.__traceback__ else []
    where = f" (at {frame[0].filename.rsplit('/', 1)[-1]}:{frame[0].lineno})" if frame else ""
    return f"{type(exc).__name__}: {text}{where}"


def execute(run_id: int, job: str, stages: list[Stage], reporter: Reporter) -> RunResult:
    """Run the stages of a recorded run; a stage whose dependency did not succeed is skipped.
    A signal (see `orchestration.signals`) stops the stage in progress: it and the run are
    recorded `interrupted` as of now, and KeyboardInterrupt goes on to the caller."""
    plan = ordered(stages)
    status: dict[str, str] = {}
    results: list[StageResult] = []
    current = ""
    try:
        reporter.run_started(run_id, job, plan)
        for stage in plan:
            if signals.received() is not None:  # it came after the last stage's commit point
                current = f"after {results[-1].name}" if results else ""
                raise KeyboardInterrupt
            current = f"during {stage.name}"
            blocked = [d for d in stage.after if status.get(d) != "succeeded"]
            if blocked:
                result = StageResult(stage.name, "skipped", error=f"{blocked[0]} did not succeed")
                runs.stage_finished(run_id, stage.name, "skipped", error=result.error)
            else:
                result = _run_stage(run_id, stage, reporter)
            status[stage.name] = result.status
            results.append(result)
            reporter.stage_finished(run_id, stage, result)
            current = ""
        outcome = RunResult(run_id, job, results)
        runs.finish_run(run_id, "succeeded" if outcome.ok else "failed", outcome.error)
    except KeyboardInterrupt as exc:
        signals.caught(exc)
        runs.interrupt_run(run_id, _interrupted(current))
        raise
    reporter.run_finished(run_id, outcome)
    return outcome


def _signal_name() -> str:
    sig = signals.received()
    return signal.Signals(sig).name if sig else "interrupt"


def _interrupted(when: str) -> str:
    sig = signals.received()
    by = f" by {signal.Signals(sig).name}" if sig else ""
    return f"interrupted{by} {when}" if when else f"interrupted{by}"


def _run_stage(run_id: int, stage: Stage, reporter: Reporter) -> StageResult:
    runs.stage_started(run_id, stage.name)
    reporter.stage_started(run_id, stage)
    t0 = time.perf_counter()
    error: str | None = None
    failure: Exception | None = None
    committed = stage.commit_probe() if stage.commit_probe else None
    try:
        try:
            with reporter.stage_output():
                outcome = stage.run()
            status = "succeeded"
        except StageFailed as exc:
            outcome, status, error = exc.outcome, "failed", _error_text(exc)
        except Exception as exc:  # noqa: BLE001 - any stage error is recorded and stops dependants
            outcome, status, error, failure = StageOutcome(), "failed", _error_text(exc), exc
        if signals.received() is not None:  # the stage returned anyway (dbt hands it back as a result)
            raise KeyboardInterrupt
    except KeyboardInterrupt as exc:
        signals.caught(exc)
        took, why = time.perf_counter() - t0, _interrupted(f"during {stage.name}")
        if committed is not None and committed():
            summary = f"committed before the {_signal_name()} arrived; the run stops after this stage"
            outcome = StageOutcome(summary=summary)
            runs.stage_finished(run_id, stage.name, "succeeded", outcome, duration_s=took)
            return StageResult(stage.name, "succeeded", took, outcome)
        runs.stage_finished(run_id, stage.name, "interrupted", duration_s=took, error=why)
        reporter.stage_finished(run_id, stage, StageResult(stage.name, "interrupted", took, error=why))
        raise
    took = time.perf_counter() - t0
    runs.stage_finished(run_id, stage.name, status, outcome, duration_s=took, error=error)
    return StageResult(stage.name, status, took, outcome, error, failure)
