"""Cron schedules for pipeline jobs, stored in ops.sqlite.

croniter does the cron maths (next runs, the latest slot) and cron-descriptor the words; both
are given the same five-field expression. Times are the scheduler's local time, as cron's are.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from datetime import datetime, timedelta

from cron_descriptor import get_description
from croniter import CroniterError, croniter

from crashes.errors import CrashesError
from orchestration import runs
from orchestration.flow import parse_job_args


def local_now() -> datetime:
    return datetime.now().astimezone()


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
    after_this_minute = now.replace(second=0, microsecond=0) + timedelta(minutes=1)
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
        return croniter(self.cron, self.last_due or self.created).get_next(datetime)

    def next_runs(self, n: int = 5, now: datetime | None = None) -> list[datetime]:
        it = croniter(self.cron, now or local_now())
        return [it.get_next(datetime) for _ in range(n)]

    def describe(self, now: datetime | None = None) -> str:
        args = f" {self.args}" if self.args else ""
        nxt = "\n".join(f"    {t:%Y-%m-%d %H:%M %Z}" for t in self.next_runs(5, now))
        last = f"last run slot {self.last_due:%Y-%m-%d %H:%M}" if self.last_due else "not run yet"
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


def list_schedules_text(now: datetime | None = None) -> str:
    items = list_schedules()
    if not items:
        return 'no schedules; add one with: crashes schedule add "0 6 * * *" --job incremental'
    return "\n".join(s.describe(now) for s in items)


def remove_schedule(schedule_id: int) -> None:
    with runs.connect() as con:
        cur = con.execute("DELETE FROM schedules WHERE id = ?", (schedule_id,))
    if cur.rowcount == 0:
        raise CrashesError(f"no schedule with ID {schedule_id}: see `crashes schedule list`")


def mark_run(schedule_id: int, slot: datetime) -> None:
    """Remember the latest slot run, so slots missed before it are never run again."""
    with runs.connect() as con:
        con.execute("UPDATE schedules SET last_due = ? WHERE id = ?", (slot.isoformat(), schedule_id))
