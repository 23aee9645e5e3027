"""`crashes scheduler`: a very small loop over croniter that runs due jobs and serves /metrics.

Two rules, both tested with a fake clock:
- one job at a time: jobs run in this one thread, in the order they fell due (and every run
  also holds the pipeline lock, so a CLI run and a scheduled run never overlap either);
- a slot missed during downtime runs once, not once per missed slot: a due schedule runs for
  its latest slot, and every earlier slot counts as done.
And one across processes, tested with real ones: each (schedule, slot) runs once however many
schedulers share the home, because a slot runs only after its claim is won (orchestration/slots.py);
a scheduler that loses the claim skips the slot. A slot is marked done after its job ends (failed
or not: the failure is in the run history); a slot whose scheduler was killed mid-job is taken
over by the next live scheduler (a restart, or a replica); jobs are idempotent.
"""

from __future__ import annotations

import functools
import json
import sqlite3
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from crashes.config import get_settings
from orchestration import schedules, slots
from orchestration.flow import run_job
from orchestration.schedules import Schedule, latest_slot, local_now

Clock = Callable[[], datetime]
Runner = Callable[[Schedule, datetime], bool]
LOG_FORMATS = ("plain", "json")

# Wake at least this often, so schedules added or removed meanwhile (and slots a dead scheduler
# left unfinished) are picked up.
MAX_SLEEP_SECONDS = 30.0


class Log(Protocol):
    def __call__(self, message: str, /, **fields: Any) -> None: ...


def quiet(message: str, /, **fields: Any) -> None:
    """A log that says nothing."""


def _stamp() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def stamped_log(log_format: str) -> Log:
    """Timestamped lines on stdout: `<UTC time> <message>`, or one JSON object a line with the
    event's fields (`at`, `event`, `message`, ...) for log shippers."""
    if log_format not in LOG_FORMATS:
        raise ValueError(f"log format must be plain or json, got {log_format!r}")

    def plain(message: str, /, **fields: Any) -> None:
        print(f"{_stamp()} {message}", flush=True)

    def as_json(message: str, /, event: str = "note", **fields: Any) -> None:
        print(json.dumps({"at": _stamp(), "event": event, "message": message, **fields}, default=str), flush=True)

    return as_json if log_format == "json" else plain


def run_scheduled(schedule: Schedule, slot: datetime, log_format: str = "plain") -> bool:
    """Run a schedule's job through the same path as `crashes run`, recorded as trigger=schedule
    with its slot."""
    result = run_job(
        schedule.job,
        schedule.args,
        trigger="schedule",
        schedule_id=schedule.id,
        slot=slots.slot_key(slot),
        log_format=log_format,
    )
    return result.ok


@dataclass(frozen=True)
class Fired:
    schedule_id: int
    slot: datetime
    ok: bool
    error: str | None = None


class Scheduler:
    def __init__(
        self,
        clock: Clock = local_now,
        runner: Runner = run_scheduled,
        log: Log = quiet,
        scheduler_id: str | None = None,
    ) -> None:
        self.clock, self.runner, self.log = clock, runner, log
        self.id = scheduler_id or slots.new_scheduler_id()
        self._beat_at: float | None = None
        self._orphans_at: float | None = None
        self.stop = threading.Event()

    def due(self, now: datetime) -> list[tuple[Schedule, datetime]]:
        """Schedules with a slot not yet run at or before `now`, earliest first, each with its latest
        slot; then the latest slots dead schedulers left unfinished."""
        found = [(s, s.next_due()) for s in schedules.list_schedules()]
        due = sorted(((s, first) for s, first in found if first <= now), key=lambda pair: (pair[1], pair[0].id))
        pending = [(s, latest_slot(s.cron, now)) for s, _ in due]
        by_id, taken = {s.id: s for s, _ in found}, {s.id for s, _ in pending}
        for schedule_id, slot in self._orphans():
            if schedule_id in by_id and schedule_id not in taken:
                pending.append((by_id[schedule_id], slot))
        return pending

    def _orphans(self) -> list[tuple[int, datetime]]:
        """Looked for once per beat interval: a holder is found dead no faster than that anyway."""
        now = time.monotonic()
        if self._orphans_at is not None and now - self._orphans_at < get_settings().scheduler_beat_seconds:
            return []
        self._orphans_at = now
        return slots.orphans(self.id)

    def beat(self) -> None:
        """Register on the first beat; later beats at most once per beat interval."""
        every, now = get_settings().scheduler_beat_seconds, time.monotonic()
        if self._beat_at is None:
            slots.register(self.id, every)
        elif now - self._beat_at >= every / 2:
            slots.beat(self.id)
        else:
            return
        self._beat_at = now

    def tick(self) -> list[Fired]:
        """Run every due job whose slot this scheduler wins, one after another."""
        self.beat()
        fired: list[Fired] = []
        for schedule, slot in self.due(self.clock()):
            if self.stop.is_set():
                break  # SIGTERM: no new job, not even one already due
            if schedules.get_schedule(schedule.id) is None:
                continue  # removed while an earlier job ran
            key, at = slots.slot_key(slot), f"{slot:%Y-%m-%d %H:%M}"
            claim = slots.claim(schedule.id, slot, self.id)
            if not claim.won:
                self.log(
                    f"schedule {schedule.id} slot {at}: claimed by scheduler {claim.holder}; skipped",
                    event="slot_skipped", schedule_id=schedule.id, slot=key, holder=claim.holder, scheduler=self.id,
                )  # fmt: skip
                schedules.mark_run(schedule.id, slot)  # another scheduler's: never this one's to run
                continue
            fired.append(self._run(schedule, slot, claim))
        return fired

    def _run(self, schedule: Schedule, slot: datetime, claim: slots.Claim) -> Fired:
        key, at = slots.slot_key(slot), f"{slot:%Y-%m-%d %H:%M}"
        what = f"{schedule.job} {schedule.args}".strip()
        taken = f" (taken over from dead scheduler {claim.taken_from})" if claim.taken_from else ""
        self.log(
            f"schedule {schedule.id} ({what}) slot {at}: claimed{taken}; running",
            event="slot_claimed", schedule_id=schedule.id, slot=key, job=schedule.job, scheduler=self.id,
            taken_from=claim.taken_from,
        )  # fmt: skip
        try:
            ok, error = self.runner(schedule, slot), None
        except Exception as exc:  # noqa: BLE001 - a bad job must not stop the scheduler
            ok, error = False, f"{type(exc).__name__}: {exc}"
            self.log(f"schedule {schedule.id} could not run: {error}", event="slot_error", slot=key, error=error)
        schedules.mark_run(schedule.id, slot)
        self.log(
            f"schedule {schedule.id} slot {at}: {'succeeded' if ok else 'failed'}",
            event="slot_done", schedule_id=schedule.id, slot=key, ok=ok, error=error,
        )  # fmt: skip
        return Fired(schedule.id, slot, ok, error)

    def seconds_until_next(self) -> float:
        now = self.clock()
        upcoming = [s.next_due() for s in schedules.list_schedules()]
        if not upcoming:
            return MAX_SLEEP_SECONDS
        return max(0.0, min(MAX_SLEEP_SECONDS, (min(upcoming) - now).total_seconds()))

    def serve_forever(self, stop: threading.Event) -> None:
        """Until `stop`. A signal during a job also interrupts the job (see `orchestration.signals`):
        it is recorded `interrupted`, its slot stays due, and KeyboardInterrupt ends the loop."""
        self.stop = stop
        while not stop.is_set():
            self.tick()
            stop.wait(self.seconds_until_next() + 0.5)


def _beat_until(done: threading.Event, scheduler: Scheduler, every: float, log: Log) -> None:
    """Beat from a thread of its own, so a scheduler stays alive through an hour-long job."""
    while not done.wait(every):
        try:
            scheduler.beat()
        except sqlite3.Error as exc:
            log(f"heartbeat not recorded: {exc}", event="heartbeat_failed", error=str(exc))


def run_scheduler(port: int | None = None, host: str = "127.0.0.1", log_format: str = "plain") -> None:
    """Long-running: serve /metrics and run due jobs until SIGTERM/SIGINT."""
    from orchestration.metrics import start_server, wait_for_stop

    log = stamped_log(log_format)
    stop = wait_for_stop()
    server, bound = start_server(port, host)
    scheduler = Scheduler(runner=functools.partial(run_scheduled, log_format=log_format), log=log)
    scheduler.beat()
    items = schedules.list_schedules()
    log(
        f"scheduler: {len(items)} schedule(s); metrics on http://{host}:{bound}/metrics; id {scheduler.id}",
        event="scheduler_started", scheduler=scheduler.id, schedules=len(items), port=bound,
    )  # fmt: skip
    for s in items:
        log(
            f"  [{s.id}] {s.job} '{s.cron}' ({s.sentence}); next {s.next_due():%Y-%m-%d %H:%M}",
            event="schedule", schedule_id=s.id, job=s.job, cron=s.cron, next=s.next_due().isoformat(),
        )  # fmt: skip
    # The heartbeat stops only after the loop (and the job in it) has ended, not at the signal.
    done = threading.Event()
    every = get_settings().scheduler_beat_seconds
    threading.Thread(target=_beat_until, args=(done, scheduler, every, log), daemon=True).start()
    try:
        scheduler.serve_forever(stop)
    finally:
        done.set()
        slots.stopped(scheduler.id)
        server.shutdown()
        log(f"scheduler {scheduler.id} stopped", event="scheduler_stopped", scheduler=scheduler.id)
