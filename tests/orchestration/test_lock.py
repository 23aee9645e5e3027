"""The pipeline lock across real processes: a second run refuses with one line, or waits."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from datetime import datetime
from pathlib import Path

import pytest

from crashes.errors import CrashesError
from orchestration import runs
from orchestration.dag import Stage, StageOutcome
from orchestration.flow import run_stages
from orchestration.status import status_report

PROJECT = Path(__file__).resolve().parents[2]

# A run in another process whose only stage holds until the test drops a file.
HOLDER = """
import time
from pathlib import Path
from orchestration.dag import Stage, StageOutcome
from orchestration.flow import run_stages
from orchestration.status import status_report
release = Path({release!r})
def hold():
    while not release.exists():
        time.sleep(0.05)
    return StageOutcome(summary="held")
run_stages("backfill", {{}}, lambda: [Stage("ingest", hold)], log_format="plain")
"""


def _wait_for(predicate, timeout: float = 30.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.05)


@pytest.fixture
def holder(crashes_home: Path):  # type: ignore[no-untyped-def]
    release = crashes_home / "release"
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLDER.format(release=str(release))], cwd=PROJECT, env=os.environ.copy()
    )
    try:
        _wait_for(lambda: runs.running_run() is not None)
        yield release, proc
    finally:
        release.touch()
        proc.wait(timeout=30)


def test_second_run_refuses_with_one_clear_line(holder, crashes_home: Path) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(CrashesError, match=r"run 1 \(backfill, cli\) .* still running; .*--wait"):
        run_stages("incremental", {}, lambda: [Stage("x", StageOutcome)], log_format="plain")
    cli = subprocess.run(
        [str(PROJECT / ".venv/bin/crashes"), "run"], cwd=PROJECT, capture_output=True, text=True, timeout=60
    )
    assert cli.returncode == 2
    assert cli.stderr.strip().count("\n") == 0, cli.stderr
    assert cli.stderr.startswith("error: run 1 (backfill, cli)") and "--wait" in cli.stderr
    assert len(runs.recent_runs(10)) == 1, "a refused run must not be recorded as a run"
    text = status_report()  # status never opens the warehouse under a running pipeline
    assert "a pipeline run is writing the warehouse" in text and "running" in text


def test_waiting_run_starts_after_the_first_ends(holder, crashes_home: Path) -> None:  # type: ignore[no-untyped-def]
    release, proc = holder
    results = []
    waiter = threading.Thread(
        target=lambda: results.append(
            run_stages("incremental", {}, lambda: [Stage("x", StageOutcome)], log_format="plain", wait=True)
        )
    )
    waiter.start()
    time.sleep(4.0)  # past the lock's grace period: the waiter must still be waiting
    assert waiter.is_alive() and not results
    release.touch()
    waiter.join(timeout=30)
    assert proc.wait(timeout=30) == 0
    assert results and results[0].ok
    first, second = sorted(runs.recent_runs(5), key=lambda r: r.id)
    assert first.status == second.status == "succeeded"
    assert first.ended is not None
    assert datetime.fromisoformat(second.started) >= datetime.fromisoformat(first.ended)
