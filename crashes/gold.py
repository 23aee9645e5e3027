"""Readers' access to gold: a read-only snapshot opened per request.

The build writes `warehouse.duckdb`; after a good build the marts are copied into `gold.duckdb`
and swapped in with an atomic rename (see `transform.publish`). Opening the snapshot read-only
for each request means a reader never holds a lock the writer needs and never sees a half-built
table, and a reader that opened the old file keeps a consistent view until it closes it.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb

from crashes.config import get_settings
from crashes.errors import CrashesError

# Files DuckDB 2.x writes are unreadable by DuckDB <= 1.5 unless written with this version.
STORAGE_COMPATIBILITY = "v1.4.0"


def gold_path() -> Path:
    return get_settings().gold_path


@contextmanager
def connect(path: Path | None = None) -> Iterator[duckdb.DuckDBPyConnection]:
    """Open the gold snapshot read-only for one unit of work, then close it."""
    target = path or gold_path()
    if not target.exists():
        raise CrashesError(f"no gold snapshot at {target}: run `crashes build` (or `crashes demo`) first")
    con = duckdb.connect(str(target), read_only=True)
    try:
        yield con
    finally:
        con.close()
