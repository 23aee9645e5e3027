"""The pipeline lock across real processes: a second run refuses with one line, or waits."""

from __future__ import annotations

import importlib
import os
import re
import subprocess
import sys
import threading
import time
from datetime import datetime
from pathlib import Path

import pytest
import typer
from filelock import FileLock

from crashes.errors import CrashesError
from orchestration import lock, runs
from orchestration.cli import app
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


WRITERS = ("run", "ingest", "build", "train", "score")


def test_the_option_the_refusal_names_exists_on_every_writer_command(
    crashes_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(lock, "GRACE_SECONDS", 0.05)
    held = FileLock(lock.lock_path(), thread_local=False)
    crashes_home.mkdir(parents=True, exist_ok=True)
    holder = threading.Thread(target=held.acquire)  # another thread: flock conflicts across descriptors
    holder.start()
    holder.join()
    try:
        with pytest.raises(CrashesError) as refused, lock.pipeline_lock(wait=False):
            pass
    finally:
        held.release()
    hinted = re.findall(r"pass (--[a-z-]+)", str(refused.value))
    assert hinted == ["--wait"], refused.value
    commands = typer.main.get_command(app).commands  # type: ignore[attr-defined]
    for name in WRITERS:
        command = commands[name]
        options = {opt for p in command.params for opt in p.opts}
        assert hinted[0] in options, f"`crashes {name}` has no {hinted[0]}, which the lock's refusal suggests"
        ctx = command.make_context(name, [hinted[0]])
        assert ctx.params["wait"] is True


def test_a_single_stage_command_with_wait_queues_behind_a_run(holder, crashes_home: Path) -> None:  # type: ignore[no-untyped-def]
    release, proc = holder
    crashes = str(PROJECT / ".venv/bin/crashes")
    refused = subprocess.run([crashes, "score"], cwd=PROJECT, capture_output=True, text=True, timeout=60)
    assert refused.returncode == 2 and "--wait" in refused.stderr
    waiter = subprocess.Popen(
        [crashes, "score", "--wait"], cwd=PROJECT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    first_line: list[str] = []
    reader = threading.Thread(target=lambda: first_line.append(waiter.stderr.readline()))  # type: ignore[union-attr]
    try:
        reader.start()
        reader.join(timeout=120)  # the waiter says it queues while the run still holds the lock
        assert waiter.poll() is None, "queued, not refused"
    finally:
        release.touch()
    _out, rest = waiter.communicate(timeout=120)
    assert first_line and "run 1 (backfill, cli)" in first_line[0] and "waiting for it to finish" in first_line[0]
    assert "No such option" not in rest and "--wait to queue" not in rest


def test_docs_generates_under_the_pipeline_lock_and_serves_without_it(
    crashes_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from orchestration.cli import docs

    site_module = importlib.import_module("transform.docs")  # the package exports a docs() that shadows it
    crashes_home.mkdir(parents=True, exist_ok=True)
    seen: dict[str, bool] = {}

    def generate() -> Path:
        with lock.lock_if_idle() as idle:
            seen["lock held while generating"] = not idle
        (crashes_home / "site").mkdir(exist_ok=True)
        return crashes_home / "site"

    class Server:
        server_address = ("127.0.0.1", 1)

        def serve_forever(self) -> None:
            with lock.lock_if_idle() as idle:
                seen["lock free while serving"] = idle

        def server_close(self) -> None:
            pass

    monkeypatch.setattr(site_module, "generate", generate)
    monkeypatch.setattr(site_module, "make_server", lambda *_a, **_k: Server())
    docs(serve=True, port=1, host="127.0.0.1")
    assert seen == {"lock held while generating": True, "lock free while serving": True}
