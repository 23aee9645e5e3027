"""Any number of `crashes scheduler` processes on one home run each (schedule, slot) once: real
processes race for each slot's claim in ops.sqlite, and `crashes schedule list` sees who is alive."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from orchestration import runs, schedules, slots
from orchestration.lock import pipeline_lock
from tests.orchestration.monitoring import PROJECT

CRASHES = str(PROJECT / ".venv/bin/crashes")
BEAT = "0.5"  # seconds between heartbeats; a scheduler is dead after a few missed ones


def _env(home: Path) -> dict[str, str]:
    return {**os.environ, "CRASHES_HOME": str(home), "CRASHES_SCHEDULER_BEAT_SECONDS": BEAT, "TZ": "UTC"}


class Schedulers:
    """`crashes scheduler` processes on one home, their JSON logs kept per process."""

    def __init__(self, home: Path, tmp: Path) -> None:
        self.home, self.tmp, self.procs = home, tmp, []  # type: ignore[var-annotated]

    def start(self) -> subprocess.Popen[str]:
        log = self.tmp / f"scheduler-{len(self.procs)}.log"
        proc = subprocess.Popen(
            [CRASHES, "scheduler", "--port", "0", "--log-format", "json"],
            stdout=open(log, "w"),  # noqa: SIM115 - closed with the process
            stderr=subprocess.STDOUT, text=True, cwd=PROJECT, env=_env(self.home),
        )  # fmt: skip
        proc.log = log  # type: ignore[attr-defined]
        self.procs.append(proc)
        return proc

    def stop(self, proc: subprocess.Popen[str]) -> int:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        return proc.wait(timeout=120)

    def events(self, proc: subprocess.Popen[str]) -> list[dict[str, object]]:
        """Every stdout line is one JSON object with a timestamp (stages' own output goes to stderr)."""
        lines = [ln for ln in Path(proc.log).read_text().splitlines() if ln.startswith("{")]  # type: ignore[attr-defined]
        return [json.loads(ln) for ln in lines]


@pytest.fixture
def schedulers(crashes_home: Path, tmp_path: Path) -> Iterator[Schedulers]:
    group = Schedulers(crashes_home, tmp_path)
    yield group
    for proc in group.procs:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=30)


def _finished_scheduled_runs() -> list[runs.RunRecord]:
    return [r for r in runs.recent_runs(1000) if r.trigger == "schedule" and r.status != "running"]


def _wait(what: str, condition, timeout: float) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.25)


def _schedule_list(home: Path) -> str:
    out = subprocess.run([CRASHES, "schedule", "list"], capture_output=True, text=True, timeout=60, env=_env(home))
    assert out.returncode == 0, out.stderr
    return out.stdout


def test_two_schedulers_and_a_restart_run_each_minute_slot_once(schedulers: Schedulers, crashes_home: Path) -> None:
    # Every minute, made three minutes ago: a missed slot is due the moment the schedulers start,
    # so they race for it at once; then they race again at the next real minute boundary. The
    # job is `train` on an empty home: the real job path, failing in seconds (no gold yet).
    now = datetime.now(UTC)
    every_minute = schedules.add_schedule("* * * * *", job="train", now=now - timedelta(minutes=3))
    started = time.monotonic()
    first, second = schedulers.start(), schedulers.start()
    time.sleep(2)
    restarted = schedulers.start()  # a restart overlapping the old processes

    def crossed_a_boundary() -> bool:
        # The missed slot and one after it. Not "a slot after now's next minute": when the test
        # starts in a minute's last second, the missed slot the schedulers find is that boundary.
        slots = {datetime.fromisoformat(r.slot) for r in _finished_scheduled_runs() if r.slot}
        return len(slots) >= 2

    _wait("a run of the slot after the next minute boundary", crossed_a_boundary, timeout=150)
    listed = _schedule_list(crashes_home)
    codes = [schedulers.stop(p) for p in (first, second, restarted)]
    took = time.monotonic() - started

    assert codes == [0, 0, 0], codes
    done = _finished_scheduled_runs()
    with runs.connect() as con:
        claims = con.execute("SELECT slot, claimed_by, run_id FROM schedule_slots WHERE schedule_id = ?",
                             (every_minute.id,)).fetchall()  # fmt: skip
        duplicates = con.execute(
            "SELECT count(*) FROM (SELECT slot FROM runs WHERE schedule_id = ? GROUP BY slot HAVING count(*) > 1)",
            (every_minute.id,),
        ).fetchone()[0]
    run_slots = sorted(r.slot for r in done if r.slot)
    print(
        f"\nthree schedulers for {took:.0f} s: {len(claims)} slot(s) claimed, {len(done)} run(s), "
        f"{duplicates} duplicate(s); slots {run_slots}"
    )
    assert len(done) >= 2, "the missed slot and the slot after the boundary both ran"
    assert all(r.slot for r in done), "every scheduled run records its slot"
    assert duplicates == 0 and len(run_slots) == len(set(run_slots)), f"a slot ran twice: {run_slots}"
    assert sorted(c["slot"] for c in claims) == run_slots, "one claim per slot, each with its one run"
    assert sorted(c["run_id"] for c in claims) == sorted(r.id for r in done)

    # Each process logged with timestamps; the slot each lost was skipped, not run.
    events = {p.pid: schedulers.events(p) for p in (first, second, restarted)}
    assert all(e["at"] and e["event"] for evs in events.values() for e in evs)
    ran = [e for evs in events.values() for e in evs if e["event"] == "slot_claimed"]
    skipped = [e for evs in events.values() for e in evs if e["event"] == "slot_skipped"]
    assert sorted(str(e["slot"]) for e in ran) == run_slots
    print(f"claimed (ran) {len(ran)}, skipped {len(skipped)} across the three processes")
    assert skipped, "the schedulers raced for a slot and the losers skipped it"
    assert {str(e["slot"]) for e in skipped} <= set(run_slots)

    # `schedule list` saw three live schedulers and shows the schedule's last runs with their slots.
    assert "3 scheduler(s) alive" in listed, listed
    assert f"slot {datetime.fromisoformat(run_slots[-1]):%Y-%m-%d %H:%M}" in listed, listed
    after = _schedule_list(crashes_home)
    assert "no scheduler alive" in after, after
    assert f"run {done[0].id}" in after and "failed" in after, after


def test_a_slot_claimed_by_a_killed_scheduler_is_taken_over_and_runs_once(
    schedulers: Schedulers, crashes_home: Path
) -> None:
    # Once a year, made two years ago: its latest slot (this 1 January) cannot move during the test.
    s = schedules.add_schedule("0 0 1 1 *", job="train", now=datetime.now(UTC) - timedelta(days=800))
    with pipeline_lock(wait=False):  # a long run holds the lock: the first scheduler claims, then waits
        doomed = schedulers.start()
        _wait("the first scheduler's claim", lambda: _claims(s.id), timeout=60)
        doomed.send_signal(signal.SIGKILL)
        doomed.wait(timeout=30)
        assert runs.recent_runs(5) == [], "the killed scheduler never started its run"
        _wait("the killed scheduler's heartbeat to age", lambda: not any(b.alive() for b in slots.schedulers()), 30)
        heir = schedulers.start()  # the restart after a crash
        _wait("the takeover", lambda: _claims(s.id)[0]["takeovers"] == 1, timeout=60)
    _wait("the slot's run", lambda: len(_finished_scheduled_runs()) == 1, timeout=120)
    assert schedulers.stop(heir) == 0
    (claim,) = _claims(s.id)
    (run,) = _finished_scheduled_runs()
    assert (claim["run_id"], claim["slot"]) == (run.id, run.slot)
    assert claim["claimed_by"] != _scheduler_id(doomed.pid)


def _claims(schedule_id: int) -> list[sqlite3.Row]:
    with runs.connect() as con:
        return con.execute("SELECT * FROM schedule_slots WHERE schedule_id = ?", (schedule_id,)).fetchall()


def _scheduler_id(pid: int) -> str | None:
    with runs.connect() as con:
        row = con.execute("SELECT id FROM schedulers WHERE pid = ?", (pid,)).fetchone()
    return row["id"] if row else None


def test_an_ops_file_from_before_slots_is_upgraded_in_place(crashes_home: Path) -> None:
    path = crashes_home / "ops.sqlite"
    con = sqlite3.connect(path)
    con.executescript(runs._MIGRATIONS[0] + "PRAGMA user_version = 1;")
    con.execute(
        "INSERT INTO runs (trigger, job, started, ended, status)"
        " VALUES ('schedule', 'train', '2024-01-01T06:00:00+00:00', '2024-01-01T06:01:00+00:00', 'failed')"
    )
    con.commit()
    con.close()
    (old,) = runs.recent_runs(5)
    assert (old.job, old.slot) == ("train", None)
    s = schedules.add_schedule("* * * * *", job="train")
    slot = datetime(2024, 1, 1, 6, 0, tzinfo=UTC)
    slots.register("a", 10.0)
    assert slots.claim(s.id, slot, "a").won
    assert slots.claim(s.id, slot, "b") == slots.Claim(False, "a"), "a is alive: b skips"
    slots.stopped("a")
    assert slots.claim(s.id, slot, "b") == slots.Claim(True, "b", taken_from="a"), "a stopped with no run"
    with runs.connect() as con:
        assert con.execute("PRAGMA user_version").fetchone()[0] == runs.SCHEMA_VERSION >= 2


def test_a_replica_that_skipped_a_slot_runs_it_when_its_holder_dies(crashes_home: Path) -> None:
    """The replica case: this scheduler lost the slot to a live one (and counted it as done); the
    holder then stopped before its run finished. The next tick finds the orphaned claim and runs it."""
    from orchestration.scheduler import Scheduler, quiet

    slot = datetime(2024, 1, 1, 6, 0, tzinfo=UTC)
    s = schedules.add_schedule("0 6 * * *", job="train", now=slot - timedelta(days=1))
    slots.register("holder", 10.0)
    assert slots.claim(s.id, slot, "holder").won
    ran: list[datetime] = []
    replica = Scheduler(
        clock=lambda: slot + timedelta(minutes=1), runner=lambda _, at: ran.append(at) or True, log=quiet
    )
    assert replica.tick() == [] and ran == [], "the holder is alive: the replica skips"
    assert schedules.get_schedule(s.id).last_due == slot  # type: ignore[union-attr]
    slots.stopped("holder")
    replica._orphans_at = None  # the next orphan check is due (it runs once per beat interval)
    (fired,) = replica.tick()
    assert (fired.schedule_id, fired.slot, ran) == (s.id, slot, [slot])
    (claim,) = _claims(s.id)
    assert (claim["claimed_by"], claim["takeovers"]) == (replica.id, 1)
    assert replica.tick() == [], "taken over once"
