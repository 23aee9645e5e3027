"""Short connections to the warehouse (raw + dbt's schemas): one writer at a time.

DuckDB lets one process write a file; a second gets "Could not set lock". Stages run one after
another under the pipeline lock, so meeting a lock here means someone else is writing: say so
in one line instead of a traceback.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import duckdb

from crashes.config import get_settings
from crashes.errors import CrashesError


def lock_error(exc: duckdb.Error) -> CrashesError:
    return CrashesError(
        f"the warehouse {get_settings().warehouse_path} is locked by another process "
        f"(a running pipeline or an open DuckDB session); retry when it is done — {str(exc).splitlines()[0]}"
    )


@contextmanager
def connect(read_only: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
    path = get_settings().warehouse_path
    try:
        con = duckdb.connect(str(path), read_only=read_only)
    except duckdb.IOException as exc:
        if "lock" in str(exc).lower():
            raise lock_error(exc) from None
        raise
    try:
        yield con
    finally:
        con.close()


def table_exists(con: duckdb.DuckDBPyConnection, schema: str, table: str) -> bool:
    row = con.execute(
        "select count(*) from information_schema.tables where table_schema = ? and table_name = ?",
        [schema, table],
    ).fetchone()
    return bool(row and row[0])
