"""`crashes scheduler`: a very small loop over croniter that runs due jobs and serves /metrics.

Two rules, both tested with a fake clock:
- one job at a time: jobs run in this one thread, in the order they fell due (and every run
  also holds the pipeline lock, so a CLI run and a scheduled run never overlap either);
- a slot missed during downtime runs once, not once per missed slot: a due schedule runs for
  its latest slot, and every earlier slot counts as done.
A slot is marked done after its job ends (failed or not: the failure is in the run history),
so a scheduler killed mid-job runs that slot again on restart; jobs are idempotent.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from orchestration import schedules
from orchestration.flow import run_job
from orchestration.schedules import Schedule, latest_slot, local_now

Clock = Callable[[], datetime]
Runner = Callable[[Schedule], bool]

# Wake at least this often, so schedules added or removed meanwhile are picked up.
MAX_SLEEP_SECONDS = 30.0


def run_scheduled(schedule: Schedule) -> bool:
    """Run a schedule's job through the same path as `crashes run`, recorded as trigger=schedule."""
    return run_job(schedule.job, schedule.args, trigger="schedule", schedule_id=schedule.id).ok


@dataclass(frozen=True)
class Fired:
    schedule_id: int
    slot: datetime
    ok: bool
    error: str | None = None


class Scheduler:
    def __init__(self, clock: Clock = local_now, runner: Runner = run_scheduled, log: Callable[[str], None] = print):
        self.clock, self.runner, self.log = clock, runner, log
        self.stop = threading.Event()

    def due(self, now: datetime) -> list[tuple[Schedule, datetime]]:
        """Schedules with a slot not yet run at or before `now`, earliest first, each with its latest slot."""
        found = [(s, s.next_due()) for s in schedules.list_schedules()]
        due = sorted(((s, first) for s, first in found if first <= now), key=lambda pair: (pair[1], pair[0].id))
        return [(s, latest_slot(s.cron, now)) for s, _ in due]

    def tick(self) -> list[Fired]:
        """Run every due job once, one after another."""
        fired: list[Fired] = []
        for schedule, slot in self.due(self.clock()):
            if self.stop.is_set():
                break  # SIGTERM: no new job, not even one already due
            if schedules.get_schedule(schedule.id) is None:
                continue  # removed while an earlier job ran
            what = f"{schedule.job} {schedule.args}".strip()
            self.log(f"schedule {schedule.id} ({what}) due at {slot:%Y-%m-%d %H:%M}: running")
            try:
                ok, error = self.runner(schedule), None
            except Exception as exc:  # noqa: BLE001 - a bad job must not stop the scheduler
                ok, error = False, f"{type(exc).__name__}: {exc}"
                self.log(f"schedule {schedule.id} could not run: {error}")
            schedules.mark_run(schedule.id, slot)
            fired.append(Fired(schedule.id, slot, ok, error))
        return fired

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


def run_scheduler(port: int | None = None, host: str = "127.0.0.1") -> None:
    """Long-running: serve /metrics and run due jobs until SIGTERM/SIGINT."""
    from orchestration.metrics import start_server, wait_for_stop

    stop = wait_for_stop()
    server, bound = start_server(port, host)
    items = schedules.list_schedules()
    print(f"scheduler: {len(items)} schedule(s); metrics on http://{host}:{bound}/metrics", flush=True)
    for s in items:
        print(f"  [{s.id}] {s.job} '{s.cron}' ({s.sentence}); next {s.next_due():%Y-%m-%d %H:%M}", flush=True)
    try:
        Scheduler(log=lambda line: print(line, flush=True)).serve_forever(stop)
    finally:
        server.shutdown()
