"""Readers see one whole run, or the previous one: `crashes run` replaces gold once, at its end,
with the run's crashes, marts and scores together; a run killed before that leaves the previous
snapshot byte for byte."""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

from tests.orchestration.conftest import (
    PROJECT,
    Grown,
    ReferenceRun,
    copy_home,
    crashes_run,
    file_digest,
    stage_status,
    start_run,
    wait_into_stage,
)

# A reader as the dashboard is one: a new read-only connection to gold.duckdb per read, in its own
# process. Each read: crashes in the fact, how many of them have no score, and the scores' time.
READER = """
import json, sys, time
import duckdb
gold = sys.argv[1]
SQL = '''
select count(*), count(*) filter (where s.crash_record_id is null), max(s.scored_at)::varchar
from marts.fct_crashes as f left join marts.ml_hit_and_run_scores as s using (crash_record_id)
'''
while True:
    at = time.time()
    try:
        con = duckdb.connect(gold, read_only=True)
        try:
            crashes, unscored, scored_at = con.execute(SQL).fetchone()
        finally:
            con.close()
        print(json.dumps({"at": at, "crashes": crashes, "unscored": unscored, "scored_at": scored_at}), flush=True)
    except duckdb.Error as exc:
        print(json.dumps({"at": at, "error": str(exc)}), flush=True)
    time.sleep(0.02)
"""


def _wait_for(done: Callable[[], bool], what: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not done():
        assert time.monotonic() < deadline, f"no {what} within {timeout:.0f} s"
        time.sleep(0.05)


def _gold_state(home: Path) -> tuple[int, int, str]:
    import duckdb

    con = duckdb.connect(str(home / "gold.duckdb"), read_only=True)
    try:
        sql = (
            "select count(*), count(*) filter (where s.crash_record_id is null), max(s.scored_at)::varchar"
            " from marts.fct_crashes as f left join marts.ml_hit_and_run_scores as s using (crash_record_id)"
        )
        crashes, unscored, scored_at = con.execute(sql).fetchone()
    finally:
        con.close()
    return int(crashes), int(unscored), str(scored_at)


def test_a_reader_never_sees_crashes_without_their_scores(
    tmp_path: Path, reference_run: ReferenceRun, grown: Grown
) -> None:
    home = copy_home(reference_run, tmp_path / "home")
    before = _gold_state(home)
    assert before[1] == 0, "the reference run published every crash with its score"
    reader = subprocess.Popen(
        [sys.executable, "-c", READER, str(home / "gold.duckdb")],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=PROJECT,
    )
    lines: list[str] = []
    collector = threading.Thread(target=lambda: lines.extend(reader.stdout), daemon=True)  # type: ignore[arg-type]
    collector.start()
    try:
        _wait_for(lambda: len(lines) >= 3, "the reader's first reads")
        started = time.time()
        run = crashes_run(home, grown.url)
        ended = time.time()
        after = _gold_state(home)
        _wait_for(lambda: bool(lines) and json.loads(lines[-1]).get("crashes") == after[0], "a read of the new gold")
    finally:
        reader.terminate()
        _, err = reader.communicate(timeout=30)
        collector.join(timeout=30)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    reads = [json.loads(line) for line in lines]
    during = [r for r in reads if started <= r["at"] <= ended]
    assert len(during) >= 50, f"the reader made only {len(during)} reads during the run: {err[-2000:]}"
    errors = [r["error"] for r in reads if "error" in r]
    assert not errors, f"{len(errors)} of {len(reads)} reads failed, e.g. {errors[0]}"
    unscored = [r for r in reads if r["unscored"]]
    assert not unscored, f"{len(unscored)} of {len(reads)} reads saw crashes without scores, e.g. {unscored[0]}"
    # One publish: the reader saw the previous snapshot, then the run's, and nothing in between.
    states: list[tuple[int, int, str]] = []
    for r in reads:
        state = (r["crashes"], r["unscored"], r["scored_at"])
        if not states or states[-1] != state:
            states.append(state)
    assert states == [before, after], f"gold went through {len(states)} states: {states}"
    assert after[0] == before[0] + grown.added, "the run published the crashes it added"
    print(f"{len(reads)} reads ({len(during)} during a {ended - started:.1f} s run adding {grown.added} crashes)")


def test_sigkill_during_score_leaves_the_previous_snapshot(
    tmp_path: Path, reference_run: ReferenceRun, grown: Grown
) -> None:
    home = copy_home(reference_run, tmp_path / "home")
    published = file_digest(home / "gold.duckdb")
    proc = start_run(home, grown.url)
    try:
        wait_into_stage(proc, "score", 0.3)
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL, "killed, not finished"
    run_id = max(r[0] for r in sqlite3.connect(home / "ops.sqlite").execute("SELECT id FROM runs"))
    assert stage_status(home, run_id, "build") == "succeeded", "the run had built the new crashes"
    assert stage_status(home, run_id, "score") == "running", "the kill landed during score"
    assert file_digest(home / "gold.duckdb") == published, "gold is still the previous run's snapshot"
