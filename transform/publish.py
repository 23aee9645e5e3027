"""Publishing gold: the marts dbt built into `gold_build.duckdb`, copied to a new version file
`gold/<version>/gold.duckdb`, and the symlink `gold.duckdb` swapped onto it with one atomic rename.

Readers resolve the link per request (`crashes.gold`) and never touch the files dbt writes, so a
build never blocks them; the rename means a reader sees either the old snapshot or the new one,
complete, and a reader that opened the old file keeps it until it closes. A new file per version
(rather than a new file renamed over the old name) gives every snapshot its own path, which is
what DuckDB's per-path instance cache needs to show a new snapshot to a process that still has a
connection open. The last `crashes.gold.KEEP` versions stay; older ones are removed.

dbt writes the marts straight into their own file (attached in profiles.yml with the older
storage version Evidence's DuckDB reads), so publishing is a byte copy, not a re-encode of
millions of rows: seconds instead of a minute at real scale. A copy killed half-way leaves a
`*.tmp-<pid>` file (hundreds of MB at real scale); the next publish or build removes it
(`remove_leftovers`).
"""

from __future__ import annotations

import errno
import mmap
import os
import re
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

import duckdb

from crashes.gold import KEEP, SUFFIX, current, versions, versions_dir
from crashes.sql import ident, literal
from transform.dbt import TableDocs

SCHEMA = "marts"

# Bytes per write when copying a snapshot: big enough that the syscalls do not count, small
# enough that the one reused buffer is nothing next to the file.
COPY_CHUNK = 8 << 20
# O_DIRECT wants offsets and lengths in whole logical blocks; 4 KiB covers the disks in use.
DIRECT_ALIGN = 4096


def _copy_buffered(source: Path, target: Path) -> None:
    shutil.copyfile(source, target)
    with open(target, "rb+") as handle:
        os.fsync(handle.fileno())


def _fill(src: BinaryIO, view: memoryview) -> int:
    """Read until the buffer is full or the file ends: a short read mid-file would leave the
    next direct write off a block boundary."""
    filled = 0
    while filled < len(view) and (got := src.readinto(view[filled:])):
        filled += got
    return filled


def _copy_direct(source: Path, target: Path) -> None:
    """Write through one reused, page-aligned buffer with O_DIRECT; a tail shorter than a block
    is written through the page cache. Raises OSError(EINVAL) where the filesystem refuses it."""
    buffer = mmap.mmap(-1, COPY_CHUNK)
    view = memoryview(buffer)
    try:
        with open(source, "rb", buffering=0) as src:
            fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_DIRECT, 0o644)
            try:
                written = 0
                while n := _fill(src, view):
                    whole = n - n % DIRECT_ALIGN
                    done = 0
                    while done < whole:
                        done += os.write(fd, view[done:whole])
                    written += whole
                    if whole < n:  # only the last read can end off a block boundary
                        with open(target, "rb+") as tail:
                            tail.seek(written)
                            tail.write(view[whole:n])
                            written += n - whole
                os.fsync(fd)
            finally:
                os.close(fd)
    finally:
        view.release()
        buffer.close()


def copy_durably(source: Path, target: Path) -> None:
    """Copy `source` to `target` and have it on disk before returning.

    Where the filesystem allows, the bytes go to disk with O_DIRECT from one reused buffer,
    instead of filling half a gigabyte of new page-cache pages that the fsync then writes
    anyway. At real scale (491 MB of marts, just after a build) the buffered copy and fsync
    took 1.9–2.1 s on the 2-core VM, the direct one 0.5–0.6 s. Where O_DIRECT is missing or
    the filesystem refuses it: a buffered copy and fsync."""
    if hasattr(os, "O_DIRECT"):
        try:
            _copy_direct(source, target)
            return
        except OSError as exc:
            if exc.errno != errno.EINVAL:
                raise
    _copy_buffered(source, target)


def _comment(con: duckdb.DuckDBPyConnection, table: str, docs: TableDocs) -> None:
    """dbt's descriptions on the gold tables, so analysts browsing the snapshot see them."""
    target = f"{SCHEMA}.{ident(table)}"
    if docs.description:
        con.execute(f"comment on table {target} is {literal(docs.description)}")
    present = {r[0] for r in con.execute(f"describe {target}").fetchall()}
    for column, text in docs.columns.items():
        if text and column in present:
            con.execute(f"comment on column {target}.{ident(column)} is {literal(text)}")


def _finish_build_file(build: Path, docs: dict[str, TableDocs]) -> dict[str, int]:
    """Describe the marts, fold any WAL into the file, and count rows per mart."""
    con = duckdb.connect(str(build))
    try:
        tables = [
            r[0]
            for r in con.execute(
                "select table_name from duckdb_tables() where schema_name = ? and not temporary order by table_name",
                [SCHEMA],
            ).fetchall()
        ]
        con.execute("begin")
        for table in tables:
            if table in docs:
                _comment(con, table, docs[table])
        con.execute("commit")
        rows = {
            t: con.execute(f"select count(*) from {SCHEMA}.{ident(t)}").fetchone()[0]  # noqa: S608 - catalog names
            for t in tables
        }
        con.execute("checkpoint")
    finally:
        con.close()
    return rows


_TMP = re.compile(r"\.tmp-(?P<pid>\d+)$")


def prepare(build: Path, docs: dict[str, TableDocs] | None = None) -> dict[str, int]:
    """Ready the built marts for a publish later in the run (descriptions, WAL folded in, so the
    run's later stages can read the file read-only); rows per mart."""
    return _finish_build_file(build, docs or {})


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive
        return True
    return True


def remove_leftovers(gold: Path) -> list[Path]:
    """Remove the temporary files of publishes and discards whose process is gone (killed during
    the copy, say), and the version folders they leave empty; a live process's temporary file is
    left alone. Returns the files removed."""
    prefix = gold.name.removesuffix(SUFFIX)  # gold.duckdb.tmp-*, gold_build.duckdb.tmp-*
    folder = versions_dir(gold)
    places = [gold.parent, *(d for d in folder.iterdir() if d.is_dir())] if folder.is_dir() else [gold.parent]
    removed = []
    for place in filter(Path.is_dir, places):
        for path in place.iterdir():
            found = _TMP.search(path.name)
            mine = place != gold.parent or path.name.startswith(prefix)
            if found and mine and not _alive(int(found["pid"])):
                path.unlink(missing_ok=True)
                removed.append(path)
                if place != gold.parent and not any(place.iterdir()):
                    place.rmdir()
    return removed


def _fsync_dir(folder: Path) -> None:
    """Make a rename in `folder` durable, not just visible."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _next_version(gold: Path) -> str:
    """`<sequence>-<UTC time>`: names sort in publish order even if the clock steps back."""
    folder = versions_dir(gold)
    names = [d.name.split("-", 1)[0] for d in folder.iterdir()] if folder.is_dir() else []
    sequence = max((int(n) for n in names if n.isdigit()), default=0) + 1
    return f"{sequence:06d}-{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}"


def _point(gold: Path, version: Path) -> None:
    """Swap the `gold` link onto `version` with one rename (a relative link: the home can move)."""
    link = gold.with_name(f"{gold.name}.tmp-{os.getpid()}")
    link.unlink(missing_ok=True)
    try:
        link.symlink_to(version.relative_to(gold.parent))
        os.replace(link, gold)
    except BaseException:
        link.unlink(missing_ok=True)
        raise
    _fsync_dir(gold.parent)


def _collect_old_versions(gold: Path) -> None:
    """Keep the newest KEEP versions (and always the current one); a reader that still has an older
    file open keeps reading it, as Linux frees a removed file's blocks only when it is closed."""
    now = current(gold)
    for old in versions(gold)[:-KEEP]:
        if old != now:
            shutil.rmtree(old.parent, ignore_errors=True)  # with any .wal a read-write opener left


def publish(
    build: Path,
    gold: Path,
    docs: dict[str, TableDocs] | None = None,
    stop_requested: Callable[[], bool] | None = None,
) -> dict[str, int]:
    """Copy the built marts to a new version file and point `gold` at it; rows per mart.

    On any error the temporary file is removed and `gold` still points at the previous snapshot.
    `stop_requested` is asked last thing before the swap: a run told to stop (SIGTERM) while it
    copied, or whose signal a library swallowed, publishes nothing and raises KeyboardInterrupt.
    """
    if not build.exists():
        raise FileNotFoundError(f"no built marts at {build}: dbt has not built gold yet")
    remove_leftovers(gold)
    rows = _finish_build_file(build, docs or {})
    folder = versions_dir(gold) / _next_version(gold)
    folder.mkdir(parents=True)
    version = folder / gold.name  # named like the link, so DuckDB still calls the database `gold`
    tmp = version.with_name(f"{version.name}.tmp-{os.getpid()}")
    try:
        copy_durably(build, tmp)
        os.replace(tmp, version)
        _fsync_dir(folder)
        _fsync_dir(folder.parent)
        if stop_requested is not None and stop_requested():
            raise KeyboardInterrupt("stop requested before the publish")
        _point(gold, version)
    except BaseException:
        if current(gold) != version:
            shutil.rmtree(folder, ignore_errors=True)
        raise
    _collect_old_versions(gold)
    return rows


def discard_build(build: Path, gold: Path) -> None:
    """After a failed build, put `build` back to the published snapshot (or remove it when
    nothing has been published yet).

    dbt writes each mart into `build` before that mart's tests run, so a failed build leaves
    untested tables there; a later build that passes but selects fewer models would publish them
    with the rest of the file. Going back to gold also takes the marts' load watermarks back, so
    the next incremental build redoes the work the failed one did.
    """
    wal = build.with_name(f"{build.name}.wal")
    if not gold.exists():
        build.unlink(missing_ok=True)
        wal.unlink(missing_ok=True)
        return
    tmp = build.with_name(f"{build.name}.tmp-{os.getpid()}")
    try:
        copy_durably(gold, tmp)
        wal.unlink(missing_ok=True)
        os.replace(tmp, build)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
