"""Small readers over what ingest() wrote, so tests assert on the data, not on log lines."""

from __future__ import annotations

from pathlib import Path

import duckdb


def raw_query(home: Path, sql: str, params: list | None = None) -> list[tuple]:
    with duckdb.connect(str(home / "warehouse.duckdb"), read_only=True) as con:
        return con.execute(sql, params or []).fetchall()


def raw_count(home: Path, table: str) -> int:
    return raw_query(home, f"select count(*) from raw.{table}")[0][0]  # noqa: S608 - test-owned names


def bronze_files(home: Path, table: str) -> list[Path]:
    return sorted((home / "bronze" / "chicago" / table).glob("*.parquet"))
