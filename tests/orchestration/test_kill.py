"""The kill tests: SIGKILL a real `crashes run` during ingest and during the build, re-run, and end
with exactly the row counts of an uninterrupted run; SIGTERM (docker stop) a run during each stage,
and the scheduler while its job waits for the lock and while it runs."""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import threading
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest

from tests.orchestration.conftest import (
    PROJECT,
    Grown,
    ReferenceRun,
    copy_home,
    crashes_run,
    file_digest,
    row_counts,
    run_env,
    stage_status,
    start_run,
    wait_into_stage,
)
from tests.orchestration.monitoring import free_port


def _kill_during(home: Path, url: str, stage: str, after_s: float) -> None:
    """Start a run and SIGKILL it `after_s` seconds into `stage`."""
    proc = start_run(home, url)
    try:
        wait_into_stage(proc, stage, after_s)
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL


def test_sigkill_during_ingest_and_build_then_rerun_matches_an_uninterrupted_run(
    tmp_path: Path, reference_run: ReferenceRun
) -> None:
    assert (reference_run.home / "gold.duckdb").exists(), (
        f"the reference run published no gold: {reference_run.output()}"
    )
    expected = row_counts(reference_run.home)
    n_crashes = reference_run.tables["crashes"].num_rows
    assert expected["raw.crashes"] == (n_crashes, n_crashes), reference_run.output()
    assert expected["marts.fct_crashes"] == (n_crashes, n_crashes), "the uninterrupted run published gold"

    home = tmp_path / "killed"
    _kill_during(home, reference_run.url, "ingest", after_s=3.0)
    _kill_during(home, reference_run.url, "build", after_s=5.0)
    final = crashes_run(home, reference_run.url)
    # Proof the kills landed inside those stages: the next run found them running and closed them.
    assert stage_status(home, 1, "ingest") == "interrupted"
    assert stage_status(home, 2, "build") == "interrupted"
    assert row_counts(home) == expected, final.stdout[-3000:] + final.stderr[-3000:]
    assert final.returncode == reference_run.process.returncode, "the resumed run ends as the uninterrupted one"


# How long into each stage the SIGTERM comes: inside the stage on a slow machine, never past it
# (quality imports Great Expectations for seconds, build and publish start dbt, train and score
# import xgboost).
SIGTERM_AFTER = {"ingest": 1.0, "quality": 1.0, "build": 2.0, "train": 0.5, "score": 0.3, "publish": 0.5}
# docker-compose's stop_grace_period for the pipeline service must cover this.
EXIT_WITHIN_S = 20.0


def _ops(home: Path, sql: str, *args: object) -> list[tuple[object, ...]]:
    con = sqlite3.connect(home / "ops.sqlite")
    try:
        return con.execute(sql, args).fetchall()
    finally:
        con.close()


@pytest.mark.parametrize("stage", list(SIGTERM_AFTER))
def test_sigterm_during_each_stage_ends_the_run_interrupted_with_exit_143(
    tmp_path: Path, reference_run: ReferenceRun, grown: Grown, stage: str
) -> None:
    home = copy_home(reference_run, tmp_path / "home")
    published = file_digest(home / "gold.duckdb")
    (last_run,) = _ops(home, "SELECT max(id) FROM runs")[0]
    extra = ["--train"] if stage == "train" else []
    stderr = tmp_path / "stderr"
    proc = start_run(home, grown.url, *extra, stderr=stderr.open("w"))  # a file: the wait times the process
    try:
        wait_into_stage(proc, stage, SIGTERM_AFTER[stage])
        signalled = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=120)
        took = time.monotonic() - signalled
        err = stderr.read_text()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    print(f"SIGTERM during {stage}: exit {proc.returncode} after {took:.1f} s")
    done = _ops(home, "SELECT status FROM stages WHERE run_id > ? AND name = ?", last_run, stage) == [("succeeded",)]
    if stage == "publish" and done:  # on a loaded machine the signal can land after the swap, the commit point
        ((status,),) = _ops(home, "SELECT status FROM runs WHERE id > ?", last_run)
        assert (proc.returncode, status) == (0, "succeeded"), err[-3000:]
        assert file_digest(home / "gold.duckdb") != published, "a publish recorded done did publish"
        print("the SIGTERM came after the publish's commit point: the run is recorded, truthfully, as done")
        return
    assert proc.returncode == 143, err[-3000:]
    assert took < EXIT_WITHIN_S, f"took {took:.1f} s to stop after SIGTERM during {stage}"
    ((run_id, status, ended, error),) = _ops(home, "SELECT id, status, ended, error FROM runs WHERE id > ?", last_run)
    assert (status, error) == ("interrupted", f"interrupted by SIGTERM during {stage}") and ended
    sql = "SELECT name, status, ended FROM stages WHERE run_id = ? ORDER BY position"
    recorded = {name: (st, end) for name, st, end in _ops(home, sql, run_id)}
    names = list(recorded)
    assert recorded[stage][0] == "interrupted" and recorded[stage][1], recorded
    assert all(recorded[n][0] == "succeeded" for n in names[: names.index(stage)]), recorded
    assert all(recorded[n][0] == "pending" for n in names[names.index(stage) + 1 :]), "no stage after the signal"
    assert file_digest(home / "gold.duckdb") == published, "an interrupted run leaves the previous snapshot"


def test_scheduler_on_sigterm_starts_no_new_job_and_interrupts_the_running_one(
    tmp_path: Path, reference_run: ReferenceRun, grown: Grown, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = copy_home(reference_run, tmp_path / "home")
    monkeypatch.setenv("CRASHES_HOME", str(home))
    from filelock import FileLock

    from orchestration import schedules
    from orchestration.lock import lock_path

    an_hour_ago = schedules.local_now() - timedelta(hours=1, minutes=30)
    due = [  # two jobs due at once: the second must never start
        schedules.add_schedule("0 * * * *", job="incremental", args=f"--base-url {grown.url}", now=an_hour_ago)
        for _ in range(2)
    ]
    (runs_before,) = _ops(home, "SELECT max(id) FROM runs")[0]

    output: dict[int, tuple[list[str], threading.Thread]] = {}

    def scheduler() -> subprocess.Popen[str]:
        proc = subprocess.Popen(
            [str(PROJECT / ".venv/bin/crashes"), "scheduler", "--port", str(free_port())],
            env=run_env(home),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            cwd=PROJECT,
        )
        lines: list[str] = []
        reader = threading.Thread(target=lambda: lines.extend(proc.stdout), daemon=True)  # type: ignore[arg-type]
        reader.start()  # always drained: a full pipe would stall the job
        output[proc.pid] = (lines, reader)
        return proc

    def said(proc: subprocess.Popen[str], text: str) -> bool:
        assert proc.poll() is None, "the scheduler exited:\n" + "".join(output[proc.pid][0])
        return any(text in line for line in output[proc.pid][0])

    def stop(proc: subprocess.Popen[str]) -> tuple[int, float, str]:
        signalled = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=120)
        took = time.monotonic() - signalled
        lines, reader = output[proc.pid]
        reader.join(timeout=30)
        return proc.returncode, took, "".join(lines)

    # 1. The due job waits for the lock another process holds: SIGTERM, and it never starts.
    held = FileLock(lock_path(), thread_local=False)
    held.acquire()
    try:
        proc = scheduler()
        _wait_until(lambda: said(proc, "waiting for it to finish"), "the job waiting for the lock")
        code, took, out = stop(proc)
    finally:
        held.release()
    print(f"scheduler SIGTERM while its job waits for the lock: exit {code} after {took:.1f} s")
    assert took < EXIT_WITHIN_S, out
    time.sleep(2.0)  # a job that still went on would take the lock now
    assert _ops(home, "SELECT max(id) FROM runs")[0][0] == runs_before, f"a run started after SIGTERM:\n{out}"

    # 2. The job runs: SIGTERM during its build ends it interrupted, and the second is not started.
    proc = scheduler()
    _wait_until(
        lambda: bool(_ops(home, "SELECT 1 FROM stages WHERE name = 'build' AND status = 'running'")), "a running build"
    )
    time.sleep(1.0)
    code, took, out = stop(proc)
    print(f"scheduler SIGTERM during its job's build: exit {code} after {took:.1f} s")
    assert code == 143 and took < EXIT_WITHIN_S, out
    recorded = _ops(home, "SELECT status, ended, error, schedule_id FROM runs WHERE id > ?", runs_before)
    assert len(recorded) == 1, f"the second due job started after SIGTERM: {recorded}\n{out}"
    ((status, ended, error, schedule_id),) = recorded
    assert (status, error, schedule_id) == ("interrupted", "interrupted by SIGTERM during build", due[0].id) and ended
    last_due = _ops(home, "SELECT last_due FROM schedules ORDER BY id")
    assert last_due == [(None,), (None,)], "an interrupted slot stays due, to run again on restart"


def _wait_until(done: Callable[[], bool], what: str, timeout: float = 300.0) -> None:
    deadline = time.monotonic() + timeout
    while not done():
        assert time.monotonic() < deadline, f"no {what} within {timeout:.0f} s"
        time.sleep(0.05)
