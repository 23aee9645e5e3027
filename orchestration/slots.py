"""Schedule slots claimed once across schedulers, and the schedulers' heartbeats, in ops.sqlite.

Two `crashes scheduler` processes on one home (a restart overlapping the old process, two
replicas) each saw the same slot due and both ran it. Now a scheduler runs a slot only after its
claim is inserted: the primary key (schedule_id, slot) lets exactly one insert win, and the others
skip the slot. A claim whose scheduler died (no heartbeat for ALIVE_BEATS beats, or stopped)
before its run finished may be taken over once per death, so a slot whose scheduler was killed
mid-job still runs to an end (jobs are idempotent) - and still only one run of it finishes.
"""

from __future__ import annotations

import os
import secrets
import socket
import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime

from orchestration import runs

# A scheduler is alive while its last beat is younger than this many of its own beat intervals.
ALIVE_BEATS = 3
# A slot's run is over (nothing to take over) once it succeeded or failed.
FINISHED = ("succeeded", "failed")


def slot_key(slot: datetime) -> str:
    """One spelling per instant (UTC), so schedulers in different zones claim the same key."""
    return slot.astimezone(UTC).isoformat()


def new_scheduler_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"


# --------------------------------------------------------------------------- heartbeats
@dataclass(frozen=True)
class SchedulerBeat:
    id: str
    host: str
    pid: int
    started_at: datetime
    beat_at: datetime
    beat_every_s: float
    stopped_at: datetime | None

    def age_s(self, now: datetime | None = None) -> float:
        return ((now or datetime.now(UTC)) - self.beat_at).total_seconds()

    def alive(self, now: datetime | None = None) -> bool:
        return self.stopped_at is None and self.age_s(now) <= ALIVE_BEATS * self.beat_every_s


def _beat_row(row: sqlite3.Row) -> SchedulerBeat:
    stopped = row["stopped_at"]
    return SchedulerBeat(
        id=row["id"],
        host=row["host"],
        pid=row["pid"],
        started_at=datetime.fromisoformat(row["started_at"]),
        beat_at=datetime.fromisoformat(row["beat_at"]),
        beat_every_s=row["beat_every_s"],
        stopped_at=datetime.fromisoformat(stopped) if stopped else None,
    )


def register(scheduler_id: str, beat_every_s: float) -> None:
    now = runs.now_iso()
    with runs.connect() as con:
        con.execute(
            "INSERT INTO schedulers (id, host, pid, started_at, beat_at, beat_every_s) VALUES (?, ?, ?, ?, ?, ?)"
            " ON CONFLICT (id) DO UPDATE SET beat_at = excluded.beat_at, stopped_at = NULL",
            (scheduler_id, socket.gethostname(), os.getpid(), now, now, beat_every_s),
        )


def beat(scheduler_id: str) -> None:
    with runs.connect() as con:
        con.execute("UPDATE schedulers SET beat_at = ? WHERE id = ?", (runs.now_iso(), scheduler_id))


def stopped(scheduler_id: str) -> None:
    """A clean exit: dead at once, so its unfinished claims need not wait for the beat to age."""
    with runs.connect() as con:
        con.execute("UPDATE schedulers SET stopped_at = ? WHERE id = ?", (runs.now_iso(), scheduler_id))


def schedulers() -> list[SchedulerBeat]:
    """Every scheduler that ever beat on this home, the latest beat first."""
    with runs.connect() as con:
        return [_beat_row(r) for r in con.execute("SELECT * FROM schedulers ORDER BY beat_at DESC")]


def _alive_ids(con: sqlite3.Connection) -> set[str]:
    now = datetime.now(UTC)
    return {b.id for b in map(_beat_row, con.execute("SELECT * FROM schedulers")) if b.alive(now)}


def heartbeat_line() -> str:
    beats = schedulers()
    alive = [b for b in beats if b.alive()]
    if alive:
        who = ", ".join(f"{b.id} (beat {b.age_s():.1f} s ago)" for b in alive)
        return f"{len(alive)} scheduler(s) alive: {who}"
    if not beats:
        return "no scheduler alive (none has run on this home): start one with `crashes scheduler`"
    last = beats[0]
    return (
        f"no scheduler alive (last beat {last.beat_at:%Y-%m-%d %H:%M:%S}Z from {last.id}, {last.age_s():.0f} s ago):"
        " start one with `crashes scheduler`"
    )


# --------------------------------------------------------------------------- claims
@dataclass(frozen=True)
class Claim:
    won: bool
    holder: str  # the scheduler that holds the slot now
    taken_from: str | None = None  # the dead scheduler a won claim was taken over from


def claim(schedule_id: int, slot: datetime, scheduler_id: str) -> Claim:
    """Claim a slot for this scheduler, atomically: the first insert wins; a later claimant wins
    only if the holder is dead and the slot's run never finished."""
    key, now = slot_key(slot), runs.now_iso()
    with runs.connect() as con, runs.transaction(con):
        inserted = con.execute(
            "INSERT INTO schedule_slots (schedule_id, slot, claimed_by, claimed_at) VALUES (?, ?, ?, ?)"
            " ON CONFLICT (schedule_id, slot) DO NOTHING",
            (schedule_id, key, scheduler_id, now),
        ).rowcount
        if inserted:
            return Claim(True, scheduler_id)
        holder, status = con.execute(
            "SELECT s.claimed_by, r.status FROM schedule_slots s LEFT JOIN runs r ON r.id = s.run_id"
            " WHERE s.schedule_id = ? AND s.slot = ?",
            (schedule_id, key),
        ).fetchone()
        if holder == scheduler_id or status in FINISHED or holder in _alive_ids(con):
            return Claim(False, holder)
        con.execute(
            "UPDATE schedule_slots SET claimed_by = ?, claimed_at = ?, takeovers = takeovers + 1"
            " WHERE schedule_id = ? AND slot = ?",
            (scheduler_id, now, schedule_id, key),
        )
        return Claim(True, scheduler_id, taken_from=holder)


def orphans(scheduler_id: str) -> list[tuple[int, datetime]]:
    """(schedule, slot) claims a dead scheduler left unfinished, the latest slot of each schedule
    only (an older slot is superseded, as a slot missed during downtime is)."""
    with runs.connect() as con:
        rows = con.execute(
            """SELECT s.schedule_id, s.slot, s.claimed_by FROM schedule_slots s
                   LEFT JOIN runs r ON r.id = s.run_id
               WHERE s.slot = (SELECT max(slot) FROM schedule_slots WHERE schedule_id = s.schedule_id)
                 AND s.schedule_id IN (SELECT id FROM schedules)
                 AND (r.status IS NULL OR r.status NOT IN (?, ?))""",
            FINISHED,
        ).fetchall()
        alive = _alive_ids(con)
    return [
        (r["schedule_id"], datetime.fromisoformat(r["slot"]))
        for r in rows
        if r["claimed_by"] != scheduler_id and r["claimed_by"] not in alive
    ]
