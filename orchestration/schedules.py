"""Cron schedules for pipeline jobs, stored in ops.sqlite.

croniter does the cron maths (next runs, the latest slot) and cron-descriptor the words; both
are given the same five-field expression. Times are the scheduler's local time, as cron's are:
the named zone in TZ (else the system's, else UTC), never a fixed UTC offset, so `0 6 * * *` stays
06:00 local across daylight-saving changes. Times are stored with their offset and converted into
that zone before any cron maths.
"""

from __future__ import annotations

import os
import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from cron_descriptor import get_description
from croniter import CroniterError, croniter

from crashes.errors import CrashesError
from orchestration import runs, slots
from orchestration.flow import parse_job_args


def _zone_key(value: str) -> str:
    """A zone name from TZ's forms: 'America/Chicago', ':America/Chicago' or a zoneinfo file path."""
    value = value.strip().lstrip(":")
    return value.split("/zoneinfo/", 1)[1] if "/zoneinfo/" in value else value


def _system_zone_key() -> str:
    try:
        return Path("/etc/timezone").read_text().strip()
    except OSError:
        pass
    target = os.path.realpath("/etc/localtime")
    return target.split("/zoneinfo/", 1)[1] if "/zoneinfo/" in target else ""


def local_zone() -> tzinfo:
    """The scheduler's zone, by name so daylight saving is followed: TZ, else the system's, else UTC."""
    for key in (_zone_key(os.environ.get("TZ", "")), _zone_key(_system_zone_key())):
        if key:
            try:
                return ZoneInfo(key)
            except (ZoneInfoNotFoundError, ValueError):
                continue
    return UTC


def in_local_zone(value: datetime) -> datetime:
    """The same instant in the scheduler's zone (a stored or given time may carry any offset)."""
    return value.astimezone(local_zone())


def local_now() -> datetime:
    return datetime.now(local_zone())


def validate_cron(expression: str) -> str:
    """The expression, normalised; refused with the parser's reason."""
    expr = " ".join(expression.split())
    fields = expr.split(" ") if expr else []
    if len(fields) != 5:
        raise CrashesError(
            f"invalid cron expression {expression!r}: expected 5 fields "
            f"(minute hour day-of-month month day-of-week), got {len(fields)}"
        )
    try:
        croniter(expr)
        get_description(expr)
    except (CroniterError, ValueError) as exc:
        raise CrashesError(f"invalid cron expression {expression!r}: {exc}") from None
    except Exception as exc:  # noqa: BLE001 - cron-descriptor's own errors share no base class
        raise CrashesError(f"invalid cron expression {expression!r}: {exc}") from None
    return expr


def latest_slot(cron: str, now: datetime) -> datetime:
    """The latest time at or before `now` the expression fires (cron fires on whole minutes)."""
    after_this_minute = in_local_zone(now).replace(second=0, microsecond=0) + timedelta(minutes=1)
    return croniter(cron, after_this_minute).get_prev(datetime)


@dataclass(frozen=True)
class Schedule:
    id: int
    cron: str
    job: str
    args: str
    created: datetime
    last_due: datetime | None

    @property
    def sentence(self) -> str:
        return get_description(self.cron)

    def next_due(self) -> datetime:
        """The first slot not yet run: after the last one run, or after the schedule was made."""
        return croniter(self.cron, in_local_zone(self.last_due or self.created)).get_next(datetime)

    def next_runs(self, n: int = 5, now: datetime | None = None) -> list[datetime]:
        it = croniter(self.cron, in_local_zone(now) if now else local_now())
        return [it.get_next(datetime) for _ in range(n)]

    def describe(self, now: datetime | None = None) -> str:
        args = f" {self.args}" if self.args else ""
        nxt = "\n".join(f"    {t:%Y-%m-%d %H:%M %Z}" for t in self.next_runs(5, now))
        last = f"last run slot {in_local_zone(self.last_due):%Y-%m-%d %H:%M}" if self.last_due else "not run yet"
        return f"[{self.id}] {self.job}{args}  '{self.cron}'  {self.sentence}  ({last})\n  next runs:\n{nxt}"


def _schedule(row: sqlite3.Row) -> Schedule:
    return Schedule(
        id=row["id"],
        cron=row["cron"],
        job=row["job"],
        args=row["args"],
        created=datetime.fromisoformat(row["created"]),
        last_due=datetime.fromisoformat(row["last_due"]) if row["last_due"] else None,
    )


def add_schedule(cron: str, job: str = "incremental", args: str | None = None, now: datetime | None = None) -> Schedule:
    """Validate everything now (cron, job, arguments) so a schedule can never fail to start."""
    expr = validate_cron(cron)
    parse_job_args(job, args)
    created = (now or local_now()).isoformat()
    with runs.connect() as con:
        cur = con.execute(
            "INSERT INTO schedules (cron, job, args, created) VALUES (?, ?, ?, ?)",
            (expr, job, (args or "").strip(), created),
        )
        schedule_id = int(cur.lastrowid or 0)
    found = get_schedule(schedule_id)
    assert found is not None
    return found


def get_schedule(schedule_id: int) -> Schedule | None:
    with runs.connect() as con:
        row = con.execute("SELECT * FROM schedules WHERE id = ?", (schedule_id,)).fetchone()
    return _schedule(row) if row else None


def list_schedules() -> list[Schedule]:
    with runs.connect() as con:
        rows = con.execute("SELECT * FROM schedules ORDER BY id").fetchall()
    return [_schedule(r) for r in rows]


def last_runs_text(schedule_id: int, n: int = 3) -> str:
    """The schedule's newest runs, each with the slot it ran for."""
    with runs.connect() as con:
        rows = con.execute(
            "SELECT id, slot, status, started, ended FROM runs WHERE schedule_id = ? ORDER BY id DESC LIMIT ?",
            (schedule_id, n),
        ).fetchall()
    if not rows:
        return "  last runs: none yet"
    lines = []
    for r in rows:
        slot = f"slot {in_local_zone(datetime.fromisoformat(r['slot'])):%Y-%m-%d %H:%M}" if r["slot"] else "no slot"
        ended = f" → {in_local_zone(datetime.fromisoformat(r['ended'])):%H:%M:%S}" if r["ended"] else ""
        lines.append(
            f"    run {r['id']}  {slot}  {r['status']}  "
            f"({in_local_zone(datetime.fromisoformat(r['started'])):%Y-%m-%d %H:%M:%S}{ended})"
        )
    return "  last runs:\n" + "\n".join(lines)


def list_schedules_text(now: datetime | None = None) -> str:
    """Whether a scheduler is alive (its heartbeat), then each schedule with its last runs."""
    alive = f"schedulers: {slots.heartbeat_line()}"
    items = list_schedules()
    if not items:
        return f'{alive}\nno schedules; add one with: crashes schedule add "0 6 * * *" --job incremental'
    return "\n".join([alive, *(f"{s.describe(now)}\n{last_runs_text(s.id)}" for s in items)])


def remove_schedule(schedule_id: int) -> None:
    with runs.connect() as con:
        cur = con.execute("DELETE FROM schedules WHERE id = ?", (schedule_id,))
    if cur.rowcount == 0:
        raise CrashesError(f"no schedule with ID {schedule_id}: see `crashes schedule list`")


def mark_run(schedule_id: int, slot: datetime) -> None:
    """Remember the latest slot run, so slots missed before it are never run again. Only forward:
    several schedulers mark the same schedule, and a slow one must not move it back."""
    with runs.connect() as con, runs.transaction(con):
        row = con.execute("SELECT last_due FROM schedules WHERE id = ?", (schedule_id,)).fetchone()
        if row is None or (row["last_due"] and datetime.fromisoformat(row["last_due"]) >= slot):
            return
        con.execute("UPDATE schedules SET last_due = ? WHERE id = ?", (slot.isoformat(), schedule_id))
