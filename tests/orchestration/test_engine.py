"""The stage engine: order, a failure stops its dependants, a re-run resumes, the run history."""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path

import duckdb
import pytest

from orchestration import runs
from orchestration.dag import Stage, StageFailed, StageOutcome, ordered
from orchestration.flow import run_stages


def _merge_stage(db: Path, keys: list[int], log: list[str]) -> Stage:
    """A stage with a real effect: upsert rows on a key into DuckDB (idempotent, like raw)."""

    def run() -> StageOutcome:
        log.append("load")
        con = duckdb.connect(str(db))
        try:
            con.execute("CREATE TABLE IF NOT EXISTS t (k INTEGER PRIMARY KEY, v VARCHAR)")
            con.executemany("INSERT OR REPLACE INTO t VALUES (?, 'x')", [[k] for k in keys])
            n = con.execute("SELECT count(*) FROM t").fetchone()[0]
        finally:
            con.close()
        return StageOutcome(summary=f"{len(keys)} rows", rows_in={"t": len(keys)}, rows_out={"t": n})

    return Stage("load", run)


def _step(name: str, log: list[str], after: tuple[str, ...], fail_if: Path | None = None) -> Stage:
    def run() -> StageOutcome:
        log.append(name)
        if fail_if is not None and fail_if.exists():
            raise RuntimeError(f"{name} broke: {fail_if.read_text()}")
        return StageOutcome(summary=f"{name} done", tests_passed=3, tests_failed=0)

    return Stage(name, run, after=after)


def test_order_follows_dependencies_not_listing() -> None:
    noop = lambda: StageOutcome()  # noqa: E731
    plan = ordered([Stage("c", noop, after=("b",)), Stage("a", noop), Stage("b", noop, after=("a",))])
    assert [s.name for s in plan] == ["a", "b", "c"]
    with pytest.raises(ValueError, match="cycle"):
        ordered([Stage("a", noop, after=("b",)), Stage("b", noop, after=("a",))])
    with pytest.raises(ValueError, match="unknown"):
        ordered([Stage("a", noop, after=("zzz",))])


def test_failure_stops_dependants_and_rerun_resumes(crashes_home: Path) -> None:
    db, broken, log = crashes_home / "w.duckdb", crashes_home / "broken", []
    broken.write_text("the gate said no")

    def plan() -> list[Stage]:
        return [
            _merge_stage(db, list(range(100)), log),
            _step("check", log, after=("load",), fail_if=broken),
            _step("build", log, after=("check",)),
            _step("side", log, after=("load",)),
        ]

    first = run_stages("incremental", {"why": "test"}, plan, log_format="plain")
    assert not first.ok
    assert first.failed is not None and first.failed.name == "check"
    assert "check failed: RuntimeError: check broke: the gate said no" in (first.error or "")
    assert log == ["load", "check", "side"], "build depends on the failed check and must not run"
    by_name = {s.name: s for s in runs.stages_for(first.run_id)}
    assert by_name["build"].status == "skipped" and "check" in (by_name["build"].error or "")
    assert by_name["side"].status == "succeeded", "a stage not downstream of the failure still runs"
    assert by_name["load"].rows_out == {"t": 100}
    run = runs.get_run(first.run_id)
    assert run is not None and run.status == "failed" and "check" in (run.error or "")

    broken.unlink()
    log.clear()
    second = run_stages("incremental", {}, plan, log_format="plain")
    assert second.ok, second.summary()
    assert log == ["load", "check", "build", "side"]
    con = duckdb.connect(str(db), read_only=True)
    assert con.execute("SELECT count(*), count(DISTINCT k) FROM t").fetchone() == (100, 100)
    con.close()
    assert [r.status for r in runs.recent_runs(5)] == ["succeeded", "failed"]


def test_stage_failed_keeps_its_figures(crashes_home: Path) -> None:
    def dbt_like() -> StageOutcome:
        raise StageFailed("dbt build failed: 2 tests failed", StageOutcome(tests_passed=40, tests_failed=2))

    result = run_stages("incremental", {}, lambda: [Stage("build", dbt_like)], log_format="plain")
    assert not result.ok
    (stage,) = runs.stages_for(result.run_id)
    assert (stage.status, stage.tests_passed, stage.tests_failed) == ("failed", 40, 2)
    assert stage.error == "dbt build failed: 2 tests failed"
    assert stage.duration_s is not None and stage.duration_s >= 0


def test_json_log_format_is_one_object_per_line(crashes_home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    def noisy() -> StageOutcome:
        print("dbt chatter that must not corrupt the JSON stream")
        return StageOutcome(summary="ok", rows_out={"crashes": 5})

    run_stages("incremental", {}, lambda: [Stage("ingest", noisy)], log_format="json")
    out, err = capsys.readouterr()
    events = [json.loads(line) for line in out.splitlines()]
    assert [e["event"] for e in events] == ["run_started", "stage_started", "stage_finished", "run_finished"]
    assert events[2]["rows_out"] == {"crashes": 5} and events[3]["ok"] is True
    assert "dbt chatter" in err


def test_schema_is_versioned_wal_and_events_recorded(crashes_home: Path) -> None:
    runs.record_event("page_view", {"page": "overview"})
    runs.record_event("prediction", "p=0.31")
    con = sqlite3.connect(crashes_home / "ops.sqlite")
    assert con.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert con.execute("PRAGMA user_version").fetchone()[0] == runs.SCHEMA_VERSION >= 1
    rows = con.execute("SELECT kind, detail FROM events ORDER BY id").fetchall()
    assert rows == [("page_view", '{"page": "overview"}'), ("prediction", "p=0.31")]
    with pytest.raises(ValueError):
        runs.record_event("")
    with pytest.raises(ValueError, match="trigger"):
        runs.start_run("incremental", {}, "cron-ish", [])


def test_orphaned_running_run_is_marked_interrupted(crashes_home: Path) -> None:
    orphan = runs.start_run("incremental", {}, "cli", ["ingest", "build"])
    runs.stage_started(orphan, "ingest")  # then the process is killed: nothing more is written
    result = run_stages("incremental", {}, lambda: [Stage("ingest", StageOutcome)], log_format="plain")
    assert result.ok
    old = runs.get_run(orphan)
    assert old is not None and old.status == "interrupted" and "killed" in (old.error or "")
    assert [(s.name, s.status) for s in runs.stages_for(orphan)] == [
        ("ingest", "interrupted"),
        ("build", "pending"),
    ]


def test_terminal_progress_marks_each_stage(crashes_home: Path) -> None:
    import io

    from rich.console import Console

    from orchestration.dag import execute
    from orchestration.progress import RichReporter

    screen = io.StringIO()
    reporter = RichReporter(Console(file=screen, force_terminal=True, width=120, color_system=None))

    def broken() -> StageOutcome:
        raise StageFailed("2 dbt tests failed")

    stages = [Stage("ingest", lambda: StageOutcome(summary="1,204 rows")), Stage("build", broken, after=("ingest",))]
    run_id = runs.start_run("incremental", {}, "cli", ["ingest", "build"])
    result = execute(run_id, "incremental", stages, reporter)
    text = screen.getvalue()
    assert not result.ok
    assert "✓ ingest succeeded" in text and "1,204 rows" in text
    assert "✗ build failed" in text and "2 dbt tests failed" in text
    assert f"run {run_id} failed" in text


def _committing_stage(marker: Path, signal_after_commit: bool) -> Stage:
    """A stage with a commit point (writing `marker`, as a publish swaps the gold link) that then
    receives a real SIGTERM, after the commit or before it."""
    import os
    import signal

    def probe() -> Callable[[], bool]:
        return marker.exists

    def run() -> StageOutcome:
        if not signal_after_commit:
            os.kill(os.getpid(), signal.SIGTERM)
        marker.write_text("published")
        os.kill(os.getpid(), signal.SIGTERM)  # the handler raises here when this is the first
        time.sleep(5)  # not reached: the signal lands at once in the main thread
        return StageOutcome(summary="published")

    return Stage("publish", run, after=("score",), commit_probe=probe)


@pytest.mark.parametrize("committed", [True, False], ids=["after-commit", "before-commit"])
def test_sigterm_after_a_commit_point_leaves_the_stage_succeeded(crashes_home: Path, committed: bool) -> None:
    marker, log = crashes_home / "published", []
    stages = [_step("score", log, after=()), _committing_stage(marker, committed), _step("notify", log, ("publish",))]
    with pytest.raises(KeyboardInterrupt):
        run_stages("incremental", {}, lambda: stages, log_format="plain")
    (run,) = runs.recent_runs(1)
    recorded = {s.name: s.status for s in runs.stages_for(run.id)}
    assert marker.exists() is committed
    assert recorded == {
        "score": "succeeded",
        "publish": "succeeded" if committed else "interrupted",
        "notify": "pending",
    }, "a stage whose effect is committed is recorded as done; nothing runs after the signal"
    assert run.status == "interrupted"
    assert run.error == f"interrupted by SIGTERM {'after' if committed else 'during'} publish"
    assert log == ["score"]


def test_sigterm_after_the_last_stage_commits_ends_the_run_succeeded(crashes_home: Path) -> None:
    marker, log = crashes_home / "published", []
    stages = [_step("score", log, after=()), _committing_stage(marker, signal_after_commit=True)]
    result = run_stages("incremental", {}, lambda: stages, log_format="plain")
    assert result.ok and marker.exists()
    (run,) = runs.recent_runs(1)
    assert run.status == "succeeded", "every stage's work is done: the run says so"
    assert [s.status for s in runs.stages_for(run.id)] == ["succeeded", "succeeded"]


def test_a_signal_in_deferred_code_is_raised_when_it_ends_and_asks_it_to_stop(crashes_home: Path) -> None:
    """Native code that calls back into Python (XGBoost's data iterator) must not see a
    KeyboardInterrupt raised inside the callback: that aborted a run with exit -6 instead of 143.
    Inside `deferred()` a real SIGTERM is recorded, `stop_requested()` says so, and the
    interruption is raised when the block ends."""
    import os
    import signal

    from orchestration import signals

    seen = []
    with signals.interruptible():
        with pytest.raises(KeyboardInterrupt, match="SIGTERM"), signals.deferred():
            assert not signals.stop_requested()
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(0.05)  # the handler has run by now: it recorded, it did not raise
            seen.append(signals.stop_requested())
        assert seen == [True] and signals.received() == signal.SIGTERM
        with signals.deferred():  # no signal: the block ends as it would anyway
            pass
