"""Publishing versioned snapshots behind the `gold.duckdb` link: a process that keeps a connection
open still reads each new snapshot, old versions are collected (the last two kept), a publish
SIGKILLed during its copy leaves a temporary file the next start removes, and a full disk fails
the publish with gold untouched."""

from __future__ import annotations

import errno
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest

from crashes import gold
from tests.conftest import PROJECT_ROOT
from transform import publish


def _build(home: Path, crashes: int, pad_mb: int = 0) -> Path:
    """A marts file as dbt leaves it: `marts.fct_crashes` with `crashes` rows (and ballast)."""
    build = home / "gold_build.duckdb"
    with duckdb.connect(str(build)) as con:
        con.execute("create schema if not exists marts")
        con.execute("create or replace table marts.fct_crashes as select range as crash_id from range(?)", [crashes])
        if pad_mb:
            con.execute(
                "create or replace table marts.ballast as select md5(range::varchar) || md5((range + 1)::varchar) as x"
                " from range(?)",
                [pad_mb * 16_000],
            )
    return build


def _count(con: duckdb.DuckDBPyConnection) -> int:
    return con.execute("select count(*) from marts.fct_crashes").fetchone()[0]


def test_a_process_with_a_connection_open_reads_each_new_snapshot(crashes_home: Path) -> None:
    """DuckDB shares one instance per path inside a process: with a file renamed over
    gold.duckdb, a new connection opened while an old one is open read the old rows."""
    gold_link = crashes_home / "gold.duckdb"
    publish.publish(_build(crashes_home, 29_928), gold_link)
    with gold.connect() as held:
        assert _count(held) == 29_928
        publish.publish(_build(crashes_home, 29_948), gold_link)
        with gold.connect() as fresh:
            assert _count(fresh) == 29_948
        publish.publish(_build(crashes_home, 29_960), gold_link)
        with gold.connect() as fresh:
            assert _count(fresh) == 29_960
        assert _count(held) == 29_928  # the open connection keeps its snapshot, consistently
    # The stable path analysts and Evidence open reads the newest snapshot too.
    with duckdb.connect(str(gold_link), read_only=True) as analyst:
        assert _count(analyst) == 29_960


def test_gold_is_a_relative_link_and_old_versions_go_keeping_the_last_two(crashes_home: Path) -> None:
    gold_link = crashes_home / "gold.duckdb"
    for n in (10, 20, 30, 40):
        publish.publish(_build(crashes_home, n), gold_link)
    kept = gold.versions()
    assert len(kept) == gold.KEEP == 2
    assert gold_link.is_symlink() and not os.readlink(gold_link).startswith("/")
    assert gold.current() == kept[-1] and gold.previous() == kept[0]
    with gold.open_read_only(kept[0]) as con:
        assert _count(con) == 30
        # Each version file is named like the link, so the database is still called `gold`.
        assert con.execute("select count(*) from gold.marts.fct_crashes").fetchone()[0] == 30
    assert sorted(p.name for p in crashes_home.iterdir()) == ["gold", "gold.duckdb", "gold_build.duckdb"]


def test_a_plain_gold_file_from_before_versioning_is_read_then_replaced(crashes_home: Path) -> None:
    gold_link = crashes_home / "gold.duckdb"
    _build(crashes_home, 5).rename(gold_link)
    with gold.connect() as con:
        assert _count(con) == 5
    publish.publish(_build(crashes_home, 6), gold_link)
    assert gold_link.is_symlink()
    with gold.connect() as con:
        assert _count(con) == 6


# A publish in its own process, like `crashes build` at its end, with the copy slowed to 64 KB per
# 50 ms so there is a middle to kill it in; everything around the copy is the real publish.
SLOW_PUBLISH = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from transform import publish

    def slow_copy(source, target):
        with open(source, "rb") as src, open(target, "wb") as out:
            while chunk := src.read(64 * 1024):
                out.write(chunk)
                out.flush()
                time.sleep(0.05)

    publish.copy_durably = slow_copy
    publish.publish(Path(sys.argv[1]), Path(sys.argv[2]))
    """
)


def _tmp_files(home: Path) -> list[Path]:
    return sorted(p for p in home.rglob("*") if ".tmp-" in p.name)


def test_a_publish_killed_during_its_copy_leaves_nothing_after_the_next_start(crashes_home: Path) -> None:
    gold_link = crashes_home / "gold.duckdb"
    publish.publish(_build(crashes_home, 100), gold_link)
    build = _build(crashes_home, 200, pad_mb=4)
    proc = subprocess.Popen(
        [sys.executable, "-c", SLOW_PUBLISH, str(build), str(gold_link)],
        cwd=PROJECT_ROOT,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 60
    while not _tmp_files(crashes_home) and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    assert proc.poll() is None, f"the publish ended before it could be killed: {proc.stderr.read()}"
    time.sleep(0.2)  # well into the copy
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    left = _tmp_files(crashes_home)
    assert [p.name for p in left] and all(p.name.endswith(f".tmp-{proc.pid}") for p in left), left
    assert sum(p.stat().st_size for p in left) > 64 * 1024  # a partial copy, not an empty file
    with gold.connect() as con:
        assert _count(con) == 100  # readers never saw the half-copied file

    # The next start (the next publish, as every build ends with one) removes the leftover.
    publish.publish(_build(crashes_home, 300), gold_link)
    assert _tmp_files(crashes_home) == []
    with gold.connect() as con:
        assert _count(con) == 300


def test_leftovers_of_a_live_process_are_not_removed(crashes_home: Path) -> None:
    gold_link = crashes_home / "gold.duckdb"
    mine = crashes_home / f"gold.duckdb.tmp-{os.getpid()}"
    dead = crashes_home / "gold" / "000001-x" / "gold.duckdb.tmp-999999999"
    dead.parent.mkdir(parents=True)
    mine.write_bytes(b"a copy in progress")
    dead.write_bytes(b"a killed copy")
    assert publish.remove_leftovers(gold_link) == [dead]
    assert mine.exists() and not dead.parent.exists()  # the killed publish's version folder too


@pytest.fixture
def small_disk(crashes_home: Path) -> Iterator[Path]:
    """The version folder on a real 1 MB tmpfs, so the copy itself runs out of space."""
    folder = crashes_home / "gold"
    folder.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(folder)], capture_output=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here (needs root): {mounted.stderr.decode().strip()}")
    try:
        yield folder
    finally:
        subprocess.run(["umount", str(folder)], check=True)


def test_a_full_disk_fails_the_publish_and_keeps_gold(crashes_home: Path, small_disk: Path) -> None:
    gold_link = crashes_home / "gold.duckdb"
    publish.publish(_build(crashes_home, 50), gold_link)  # fits in 1 MB
    before = gold.current()
    with pytest.raises(OSError) as raised:
        publish.publish(_build(crashes_home, 60, pad_mb=3), gold_link)
    assert raised.value.errno == errno.ENOSPC
    assert gold.current() == before
    assert [p.name for p in small_disk.iterdir()] == [before.parent.name]  # no partial version left
    assert [p.name for p in before.parent.iterdir()] == ["gold.duckdb"]
    with gold.connect() as con:
        assert _count(con) == 50


def test_a_stop_requested_before_the_swap_publishes_nothing(crashes_home: Path) -> None:
    """A run told to stop while it copied (or whose signal a library swallowed) must not publish
    after all: the previous snapshot stays current and the new version's folder is gone."""
    gold_link = crashes_home / "gold.duckdb"
    publish.publish(_build(crashes_home, 100), gold_link)
    before, kept = gold.current(gold_link), gold.versions(gold_link)
    with pytest.raises(KeyboardInterrupt):
        publish.publish(_build(crashes_home, 200), gold_link, stop_requested=lambda: True)
    assert gold.current(gold_link) == before and gold.versions(gold_link) == kept
    assert sorted(p.name for p in gold.versions_dir(gold_link).iterdir()) == [p.parent.name for p in kept]
    publish.publish(_build(crashes_home, 300), gold_link, stop_requested=lambda: False)
    with gold.connect() as con:
        assert _count(con) == 300
