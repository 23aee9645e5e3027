"""Schedules (add/list/remove/invalid) and the scheduler's two rules under a fake clock."""

from __future__ import annotations

import subprocess
import threading
from datetime import UTC, date, datetime, time, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from crashes.errors import CrashesError
from orchestration import runs, schedules
from orchestration.scheduler import Scheduler, quiet, run_scheduled

PROJECT = Path(__file__).resolve().parents[2]
TZ = ZoneInfo("America/Chicago")


@pytest.fixture(autouse=True)
def scheduler_in_chicago(monkeypatch: pytest.MonkeyPatch) -> None:
    """The scheduler's zone is TZ's (as in docker-compose); these tests' times are Chicago's."""
    monkeypatch.setenv("TZ", "America/Chicago")


class FakeClock:
    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now


def test_add_list_remove(crashes_home: Path) -> None:
    now = datetime(2024, 3, 1, 12, 0, tzinfo=TZ)
    s = schedules.add_schedule("0  6 * * *", job="backfill", args="--since 2024-01-01", now=now)
    assert (s.cron, s.job, s.args, s.last_due) == ("0 6 * * *", "backfill", "--since 2024-01-01", None)
    assert s.sentence == "At 06:00 AM"
    assert s.next_runs(5, now) == [datetime(2024, 3, d, 6, 0, tzinfo=TZ) for d in range(2, 7)]
    text = schedules.list_schedules_text(now)
    assert "At 06:00 AM" in text and "2024-03-02 06:00" in text and "2024-03-06 06:00" in text
    schedules.remove_schedule(s.id)
    assert schedules.list_schedules() == []
    with pytest.raises(CrashesError, match="no schedule with ID"):
        schedules.remove_schedule(s.id)


@pytest.mark.parametrize(
    ("cron", "job", "args", "reason"),
    [
        ("61 * * * *", "incremental", None, "out of range"),
        ("0 6 * *", "incremental", None, "expected 5 fields"),
        ("0 6 * * mon-xyz", "incremental", None, "invalid cron expression"),
        ("0 6 * * *", "nightly", None, "unknown job 'nightly'"),
        ("0 6 * * *", "backfill", None, "required: --since"),
        ("0 6 * * *", "backfill", "--since 2024-13-01", "invalid fromisoformat value"),
        ("0 6 * * *", "incremental", "--bogus 1", "unrecognized arguments: --bogus"),
        ("0 6 * * *", "incremental", "--datasets cars", "unknown dataset"),
    ],
)
def test_invalid_schedules_are_refused_with_the_reason(
    crashes_home: Path, cron: str, job: str, args: str | None, reason: str
) -> None:
    with pytest.raises(CrashesError, match=reason):
        schedules.add_schedule(cron, job=job, args=args)
    assert schedules.list_schedules() == []


def test_cli_schedule_commands(crashes_home: Path) -> None:
    crashes = str(PROJECT / ".venv/bin/crashes")
    added = subprocess.run([crashes, "schedule", "add", "30 2 * * 1"], capture_output=True, text=True, timeout=60)
    assert added.returncode == 0, added.stderr
    assert "At 02:30 AM, only on Monday" in added.stdout
    bad = subprocess.run([crashes, "schedule", "add", "* * * 13 *"], capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2 and bad.stderr.startswith("error: invalid cron expression") and "range" in bad.stderr
    listed = subprocess.run([crashes, "schedule", "list"], capture_output=True, text=True, timeout=60)
    assert listed.stdout.count("\n    20") == 5, listed.stdout  # the next five run times


def test_due_runs_once_and_a_missed_run_after_downtime_runs_once(crashes_home: Path) -> None:
    clock = FakeClock(datetime(2024, 1, 1, 5, 0, tzinfo=TZ))
    daily = schedules.add_schedule("0 6 * * *", now=clock.now)
    ran: list[tuple[int, datetime]] = []
    sched = Scheduler(clock=clock, runner=lambda s, slot: ran.append((s.id, clock.now)) or True, log=quiet)

    clock.now = datetime(2024, 1, 1, 5, 59, 59, tzinfo=TZ)
    assert sched.tick() == [] and ran == []
    clock.now = datetime(2024, 1, 1, 6, 0, 20, tzinfo=TZ)
    assert [(f.schedule_id, f.slot) for f in sched.tick()] == [(daily.id, datetime(2024, 1, 1, 6, 0, tzinfo=TZ))]
    clock.now += timedelta(minutes=30)
    assert sched.tick() == [], "a slot runs once"
    assert sched.seconds_until_next() == 30.0  # capped, so new schedules are noticed

    # Down from Jan 1 06:30 to Jan 5 07:00: four slots missed, one run.
    clock.now = datetime(2024, 1, 5, 7, 0, tzinfo=TZ)
    fired = sched.tick()
    assert [f.slot for f in fired] == [datetime(2024, 1, 5, 6, 0, tzinfo=TZ)]
    assert len(ran) == 2
    assert sched.tick() == []
    stored = schedules.get_schedule(daily.id)
    assert stored is not None and stored.last_due == datetime(2024, 1, 5, 6, 0, tzinfo=TZ)
    assert stored.next_due() == datetime(2024, 1, 6, 6, 0, tzinfo=TZ)


def test_jobs_run_one_at_a_time_in_due_order_and_failures_do_not_stop_the_loop(crashes_home: Path) -> None:
    clock = FakeClock(datetime(2024, 1, 1, 0, 0, tzinfo=TZ))
    hourly = schedules.add_schedule("0 * * * *", now=clock.now)
    quarter = schedules.add_schedule("15 * * * *", job="train", now=clock.now)
    active, peak, order = [0], [0], []
    gate = threading.Lock()

    def runner(s: schedules.Schedule, slot: datetime) -> bool:
        with gate:
            active[0] += 1
            peak[0] = max(peak[0], active[0])
        order.append(s.id)
        with gate:
            active[0] -= 1
        if s.id == hourly.id:
            raise RuntimeError("ingest exploded")
        return True

    clock.now = datetime(2024, 1, 1, 3, 20, tzinfo=TZ)
    fired = Scheduler(clock=clock, runner=runner, log=quiet).tick()
    # The quarter job first fell due at 00:15, the hourly one at 01:00: earliest due runs first.
    assert order == [quarter.id, hourly.id]
    assert peak[0] == 1
    assert [(f.schedule_id, f.ok) for f in fired] == [(quarter.id, True), (hourly.id, False)]
    assert fired[1].error == "RuntimeError: ingest exploded"
    assert [f.slot.hour for f in fired] == [3, 3], "each runs once, for its latest slot"


def test_scheduled_job_is_recorded_with_trigger_schedule(crashes_home: Path) -> None:
    # The real runner and the real run history: whatever the train stage does here (the ml
    # package may not exist yet, or gold may be empty), the run is recorded as scheduled.
    s = schedules.add_schedule("*/5 * * * *", job="train")
    slot = datetime(2024, 1, 1, 6, 5, tzinfo=TZ)
    run_scheduled(s, slot)
    (run,) = runs.recent_runs(5)
    assert (run.trigger, run.job, run.schedule_id, run.slot) == ("schedule", "train", s.id, "2024-01-01T12:05:00+00:00")
    assert [st.name for st in runs.stages_for(run.id)] == ["train", "score", "publish"]
    assert run.status in ("succeeded", "failed")


def _wall_clock(instant: datetime) -> datetime:
    """What `datetime.now().astimezone()` gives in Chicago: the instant with a fixed UTC offset."""
    return instant.astimezone(timezone(instant.astimezone(TZ).utcoffset() or timedelta(0)))


@pytest.mark.parametrize("change", [date(2024, 11, 3), date(2025, 3, 9)], ids=["autumn", "spring"])
def test_daily_schedule_runs_once_at_six_local_across_a_dst_change(crashes_home: Path, change: date) -> None:
    start = datetime.combine(change - timedelta(days=2), time(12, 0), tzinfo=TZ).astimezone(UTC)
    clock = FakeClock(_wall_clock(start))
    daily = schedules.add_schedule("0 6 * * *", now=clock.now)
    ran: list[datetime] = []
    sched = Scheduler(clock=clock, runner=lambda s, slot: ran.append(clock.now) or True, log=quiet)
    fired = []
    instant = start
    while instant <= start + timedelta(days=4):  # real time runs evenly in UTC; tick every 5 minutes
        clock.now = _wall_clock(instant)
        fired += sched.tick()
        instant += timedelta(minutes=5)
    days = [change + timedelta(days=d) for d in (-1, 0, 1, 2)]
    assert [f.slot.astimezone(TZ).replace(tzinfo=None) for f in fired] == [
        datetime.combine(d, time(6, 0)) for d in days
    ], "one run a day, for the 06:00 local slot"
    assert [f.schedule_id for f in fired] == [daily.id] * 4
    assert [(t.astimezone(TZ).date(), t.astimezone(TZ).hour) for t in ran] == [(d, 6) for d in days]


def test_scheduler_zone_is_named_from_tz_with_fallbacks(monkeypatch: pytest.MonkeyPatch) -> None:
    for value in ("America/Chicago", ":America/Chicago", "/usr/share/zoneinfo/America/Chicago"):
        monkeypatch.setenv("TZ", value)
        assert schedules.local_zone() == TZ
        assert schedules.local_now().tzinfo == TZ
    monkeypatch.setenv("TZ", "Not/AZone")
    assert schedules.local_zone() is not None  # the system's zone, else UTC: never an error
    monkeypatch.setattr(schedules, "_system_zone_key", lambda: "")
    assert schedules.local_zone() == UTC
