"""Readers' access to gold: which snapshot is current, and a read-only connection to it.

Each publish writes a new file `gold/<version>/gold.duckdb` and swaps the symlink `gold.duckdb`
onto it with one atomic rename (see `transform.publish`); the file keeps the name `gold.duckdb`, so
DuckDB still calls the database `gold` (`gold.marts.fct_crashes`), as before versioning.
`gold.duckdb` stays the stable path analysts and Evidence open; in-process readers resolve it here
first and open the version file itself. That matters because DuckDB's client shares one database
instance per path in a process: opening the same path while any connection is open returns the
instance opened before, i.e. the old snapshot (seen: 29,928 crashes read while the file held
29,948). A new version's path is a new instance.

The last versions stay on disk (`KEEP`), so a reader that resolved the link just before a publish
still finds its file, and the dashboard can serve the previous snapshot while someone holds the
current one read-write. A `gold.duckdb` that is a plain file (published before versioning) is
read as it is until the next publish replaces it with the link.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb

from crashes.config import get_settings
from crashes.errors import CrashesError

# Files DuckDB 2.x writes are unreadable by DuckDB <= 1.5 unless written with this version.
STORAGE_COMPATIBILITY = "v1.4.0"
# Snapshot versions kept on disk: the current one and the one before it.
KEEP = 2
SUFFIX = ".duckdb"

_HOLDER = re.compile(r"Conflicting lock is held in (?P<program>.+?) \(PID (?P<pid>\d+)\)")


class GoldLocked(CrashesError):
    """Another process opened the snapshot read-write, which locks every reader out."""

    def __init__(self, path: Path, error: duckdb.Error) -> None:
        found = _HOLDER.search(str(error))
        self.path = path
        self.pid = int(found["pid"]) if found else None
        holder = f"PID {found['pid']} ({found['program']})" if found else "another process"
        super().__init__(
            f"gold snapshot {path} is open read-write in {holder}, which locks readers out: "
            "close it, and open gold read-only (`crashes sql`, or `duckdb -readonly`)"
        )


def gold_path() -> Path:
    """The stable path of the current snapshot (a symlink to its version file)."""
    return get_settings().gold_path


def versions_dir(gold: Path | None = None) -> Path:
    """Where the versions live: `gold/` beside `gold.duckdb`, one folder per version."""
    gold = gold or gold_path()
    return gold.with_name(gold.name.removesuffix(SUFFIX))


def current(gold: Path | None = None) -> Path | None:
    """The file the current snapshot is in (the link resolved), or None before the first publish."""
    gold = gold or gold_path()
    resolved = gold.resolve()
    return resolved if resolved.is_file() else None


def versions(gold: Path | None = None) -> list[Path]:
    """Published version files, oldest first (their folders' names sort by publish order)."""
    gold = gold or gold_path()
    folder = versions_dir(gold)
    if not folder.is_dir():
        return []
    return [d / gold.name for d in sorted(folder.iterdir()) if (d / gold.name).is_file()]


def previous(gold: Path | None = None) -> Path | None:
    """The newest version file older than the current one, if any is still kept."""
    now = current(gold)
    older = [p for p in versions(gold) if now is None or p.parent.name < now.parent.name]
    return older[-1] if older else None


def open_read_only(path: Path) -> duckdb.DuckDBPyConnection:
    """A read-only connection to one snapshot file; a read-write holder is named in one line."""
    try:
        return duckdb.connect(str(path), read_only=True)
    except duckdb.IOException as exc:
        if "Could not set lock" in str(exc):
            raise GoldLocked(path, exc) from None
        raise


@contextmanager
def connect(path: Path | None = None) -> Iterator[duckdb.DuckDBPyConnection]:
    """Open the current gold snapshot (or `path`, resolved) read-only for one unit of work."""
    link = path or gold_path()
    target = current(link)
    if target is None:
        raise CrashesError(f"no gold snapshot at {link}: run `crashes build` (or `crashes demo`) first")
    con = open_read_only(target)
    try:
        yield con
    finally:
        con.close()
