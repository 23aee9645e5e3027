"""How a run shows its progress: rich spinners on a terminal, plain lines in logs, JSON for machines.

In JSON mode stdout carries only our events (one object a line); whatever the stages print
(dlt, dbt) is sent to stderr so a consumer can parse stdout line by line.
"""

from __future__ import annotations

import json
import sys
from contextlib import AbstractContextManager, nullcontext, redirect_stdout
from datetime import UTC, datetime
from typing import IO, Any

from orchestration.dag import RunResult, Stage, StageResult


def _stamp() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


class PlainReporter:
    def __init__(self, out: IO[str] | None = None) -> None:
        self.out = out or sys.stdout

    def _line(self, text: str) -> None:
        print(f"{_stamp()} {text}", file=self.out, flush=True)

    def stage_output(self) -> AbstractContextManager[Any]:
        return nullcontext()

    def note(self, text: str) -> None:
        self._line(text)

    def run_started(self, run_id: int, job: str, stages: list[Stage]) -> None:
        self._line(f"run {run_id} ({job}) started: {' → '.join(s.name for s in stages)}")

    def stage_started(self, run_id: int, stage: Stage) -> None:
        about = f": {stage.description}" if stage.description else ""
        self._line(f"run {run_id} stage {stage.name} started{about}")

    def stage_finished(self, run_id: int, stage: Stage, result: StageResult) -> None:
        self._line(f"run {run_id} stage {stage.name} {result.line()}")

    def run_finished(self, run_id: int, result: RunResult) -> None:
        verdict = "succeeded" if result.ok else f"failed: {result.error}"
        self._line(f"run {run_id} {verdict}")


class CommandReporter(PlainReporter):
    """A one-stage command prints its own report: on stderr, only waits for the lock and the run
    it was recorded as."""

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    def run_started(self, run_id: int, job: str, stages: list[Stage]) -> None:
        pass

    def stage_started(self, run_id: int, stage: Stage) -> None:
        pass

    def stage_finished(self, run_id: int, stage: Stage, result: StageResult) -> None:
        pass

    recorded: str | None = None

    def run_finished(self, run_id: int, result: RunResult) -> None:
        """A success says so in a line; a failure's note goes on the command's one error line."""
        self.recorded = f"recorded as run {run_id} ({result.job}): {'succeeded' if result.ok else 'failed'}"
        if result.ok:
            self._line(self.recorded)


class JsonReporter:
    def __init__(self, out: IO[str] | None = None) -> None:
        self.out = out or sys.stdout

    def _emit(self, event: str, **fields: Any) -> None:
        print(json.dumps({"at": _stamp(), "event": event, **fields}, default=str), file=self.out, flush=True)

    def stage_output(self) -> AbstractContextManager[Any]:
        return redirect_stdout(sys.stderr)

    def note(self, text: str) -> None:
        self._emit("note", message=text)

    def run_started(self, run_id: int, job: str, stages: list[Stage]) -> None:
        self._emit("run_started", run_id=run_id, job=job, stages=[s.name for s in stages])

    def stage_started(self, run_id: int, stage: Stage) -> None:
        self._emit("stage_started", run_id=run_id, stage=stage.name)

    def stage_finished(self, run_id: int, stage: Stage, result: StageResult) -> None:
        o = result.outcome
        took = None if result.duration_s is None else round(result.duration_s, 3)
        self._emit(
            "stage_finished",
            run_id=run_id,
            stage=stage.name,
            status=result.status,
            duration_s=took,
            error=result.error,
            summary=o.summary if o else None,
            rows_in=o.rows_in if o else {},
            rows_out=o.rows_out if o else {},
        )

    def run_finished(self, run_id: int, result: RunResult) -> None:
        self._emit("run_finished", run_id=run_id, ok=result.ok, error=result.error)


class RichReporter:
    """A spinner per stage while it runs, a tick or a cross when it ends."""

    def __init__(self, console: Any = None) -> None:
        from rich.console import Console
        from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

        self.console = console or Console()
        self.progress = Progress(
            SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(), console=self.console
        )
        self.tasks: dict[str, Any] = {}

    def stage_output(self) -> AbstractContextManager[Any]:
        return nullcontext()

    def note(self, text: str) -> None:
        self.console.print(text)

    def run_started(self, run_id: int, job: str, stages: list[Stage]) -> None:
        self.console.print(f"[bold]run {run_id}[/] ({job}): {' → '.join(s.name for s in stages)}")
        self.progress.start()
        for s in stages:
            self.tasks[s.name] = self.progress.add_task(f"[dim]{s.name}[/] waiting", total=1, start=False)

    def stage_started(self, run_id: int, stage: Stage) -> None:
        task = self.tasks[stage.name]
        self.progress.start_task(task)
        self.progress.update(task, total=None, description=f"[bold]{stage.name}[/] {stage.description}")

    def stage_finished(self, run_id: int, stage: Stage, result: StageResult) -> None:
        mark = {"succeeded": "[green]✓[/]", "failed": "[red]✗[/]"}.get(result.status, "[yellow]–[/]")
        self.progress.update(
            self.tasks[stage.name],
            total=1,
            completed=1,
            description=f"{mark} {stage.name} {result.line()}",
        )

    def run_finished(self, run_id: int, result: RunResult) -> None:
        self.progress.stop()
        if result.ok:
            self.console.print(f"[green]run {run_id} succeeded[/]")
        else:
            self.console.print(f"[red]run {run_id} failed[/]: {result.error}")


def reporter_for(log_format: str) -> PlainReporter | JsonReporter | RichReporter:
    """`auto` picks rich on a terminal and plain lines otherwise."""
    if log_format == "json":
        return JsonReporter()
    if log_format == "plain" or (log_format == "auto" and not sys.stdout.isatty()):
        return PlainReporter()
    if log_format == "auto":
        return RichReporter()
    raise ValueError(f"log format must be auto, plain or json, got {log_format!r}")
