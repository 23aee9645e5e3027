"""The commands analysts and operators type: `crashes sql` on the current snapshot (read-only,
blocking nobody) and `crashes status` on a mistyped CRASHES_HOME."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
from pathlib import Path

import duckdb

from crashes import gold
from transform.publish import publish

PROJECT = Path(__file__).resolve().parents[2]
CRASHES = str(PROJECT / ".venv/bin/crashes")


def _crashes(home: Path, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "CRASHES_HOME": str(home)}
    return subprocess.run(
        [CRASHES, *args], env=env, input=stdin, capture_output=True, text=True, timeout=120, cwd=PROJECT
    )


def _publish(home: Path, crashes: int) -> None:
    build = home / "gold_build.duckdb"
    with duckdb.connect(str(build)) as con:
        con.execute("create schema if not exists marts")
        con.execute("create or replace table marts.fct_crashes as select range as crash_id from range(?)", [crashes])
    publish(build, home / "gold.duckdb")


def test_sql_prints_a_count_from_the_current_snapshot(crashes_home: Path) -> None:
    _publish(crashes_home, 1234)
    _publish(crashes_home, 4321)
    out = _crashes(crashes_home, "sql", "-c", "select count(*) as n from marts.fct_crashes")
    assert out.returncode == 0, out.stderr
    assert "4321" in out.stdout and "1234" not in out.stdout
    csv = _crashes(
        crashes_home, "sql", "--csv", "-c", "select count(*) as n, max(crash_id) as top from marts.fct_crashes"
    )
    assert csv.returncode == 0 and csv.stdout.splitlines() == ["n,top", "4321,4320"], csv


def test_sql_refuses_writes_in_one_line(crashes_home: Path) -> None:
    _publish(crashes_home, 50)
    for statement in ("delete from marts.fct_crashes", "create table marts.mine as select 1 as x"):
        out = _crashes(crashes_home, "sql", "-c", statement)
        assert out.returncode == 1, out
        lines = out.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: ") and "read-only" in lines[0], out.stderr
    with gold.connect() as con:
        assert con.execute("select count(*) from marts.fct_crashes").fetchone()[0] == 50
        assert not con.execute("select * from duckdb_tables() where table_name = 'mine'").fetchall()


def _wait_open(pid: int, path: Path, timeout_s: float = 60) -> bool:
    """Until process `pid` has `path` open (its file descriptors, as /proc shows them)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        for fd in Path(f"/proc/{pid}/fd").iterdir():
            with contextlib.suppress(OSError):
                if Path(os.readlink(fd)) == path:
                    return True
        time.sleep(0.05)
    return False


def test_a_sql_session_never_locks_other_readers_or_publishes_out(crashes_home: Path) -> None:
    _publish(crashes_home, 10)
    env = {**os.environ, "CRASHES_HOME": str(crashes_home)}
    session = subprocess.Popen(
        [CRASHES, "sql", "--csv"], env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=PROJECT
    )
    try:
        session.stdin.write("select count(*) as n from marts.fct_crashes;\n")
        session.stdin.flush()
        assert _wait_open(session.pid, gold.current()), "the sql session never opened the snapshot"
        # While the session is open (its statements are still coming on stdin): readers and a publish go on.
        _publish(crashes_home, 20)
        with gold.connect() as con:
            assert con.execute("select count(*) from marts.fct_crashes").fetchone()[0] == 20
        out, _ = session.communicate(timeout=60)
    finally:
        session.kill()
    assert session.returncode == 0 and out.splitlines() == ["n", "10"]  # its own snapshot, whole session


def test_sql_without_gold_says_what_to_run(crashes_home: Path) -> None:
    out = _crashes(crashes_home, "sql", "-c", "select 1")
    assert out.returncode == 2 and "no gold snapshot" in out.stderr and "crashes build" in out.stderr


def test_status_on_a_mistyped_home_says_it_does_not_exist_and_creates_nothing(tmp_path: Path) -> None:
    typo = tmp_path / "nonexistent" / "path"
    out = _crashes(typo, "status")
    assert out.returncode == 2, out
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: CRASHES_HOME {typo} does not exist"), out.stderr
    assert not (tmp_path / "nonexistent").exists()


def test_status_names_a_read_write_holder_of_gold_instead_of_failing(crashes_home: Path) -> None:
    _publish(crashes_home, 30)
    hold = "import duckdb, sys, time; con = duckdb.connect(sys.argv[1]); print('holding', flush=True); time.sleep(600)"
    holder = subprocess.Popen(
        [sys.executable, "-c", hold, str(crashes_home / "gold.duckdb")], stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout.readline().strip() == "holding"
        out = _crashes(crashes_home, "status")
    finally:
        holder.kill()
        holder.wait(timeout=30)
    assert out.returncode == 0, out.stderr
    gold_line = next(line for line in out.stdout.splitlines() if line.strip().startswith("gold ("))
    assert "unreadable" in gold_line and f"PID {holder.pid}" in gold_line, gold_line
