"""Row counts and freshness per layer (bronze files, raw tables, gold marts), read set-based.

The warehouse has one writer; a reader that opens it while dbt or dlt writes fails (and could
make the writer fail). So raw is read only by callers that hold the pipeline lock, and everything
else reads gold (a read-only snapshot) or the run history.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, tzinfo
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import duckdb

from crashes.config import get_settings
from crashes.gold import connect as gold_connect
from crashes.sql import ident

FRESHNESS_COLUMNS = ("crash_date", "socrata_updated_at")
# Fields whose zone-less values are Chicago wall-clock time (the portal's crash_date); every other
# zone-less timestamp (Socrata's :updated_at, the run history) is UTC.
FLOATING_LOCAL_FIELDS = frozenset({"crash_date"})
# The data tables of raw (docs/contracts.md); dlt's and the gate's bookkeeping tables are left out.
RAW_TABLES = ("crashes", "vehicles", "people", "rejected_rows")


def chicago() -> tzinfo:
    """Chicago's zone; UTC where tzdata is missing (an hour or so off, never an error)."""
    try:
        return ZoneInfo("America/Chicago")
    except ZoneInfoNotFoundError:
        return UTC


def parse_timestamp(text: str, field: str = "") -> datetime | None:
    """An aware datetime from a stored timestamp (ISO, with or without 'Z' or an offset), or None
    if it is not one. A zone-less `crash_date` is Chicago local time; any other zone-less value UTC.
    The one parser for freshness, so `crashes status` and the metrics agree."""
    try:
        value = datetime.fromisoformat(str(text).strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=chicago() if field in FLOATING_LOCAL_FIELDS else UTC)
    return value


@dataclass
class LayerFacts:
    """Row counts per table and, for crashes, the newest `crash_date` / `socrata_updated_at`."""

    source: str
    rows: dict[str, int] = field(default_factory=dict)
    newest: dict[str, str] = field(default_factory=dict)
    files: dict[str, int] = field(default_factory=dict)
    error: str = ""

    def as_detail(self) -> dict[str, Any]:
        return {"rows": self.rows, "newest": self.newest}


def _tables(con: duckdb.DuckDBPyConnection, schema: str) -> list[str]:
    rows = con.execute(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = ? ORDER BY table_name",
        [schema],
    ).fetchall()
    return [r[0] for r in rows]


def _columns(con: duckdb.DuckDBPyConnection, schema: str, table: str) -> set[str]:
    rows = con.execute(
        "SELECT column_name FROM information_schema.columns WHERE table_schema = ? AND table_name = ?",
        [schema, table],
    ).fetchall()
    return {r[0] for r in rows}


def _counts(con: duckdb.DuckDBPyConnection, schema: str, tables: list[str]) -> dict[str, int]:
    """All counts in one query. Identifiers come from information_schema, quoted; no user input."""
    if not tables:
        return {}
    template = "SELECT {i} AS i, count(*) AS n FROM {schema}.{table}"
    parts = [template.format(i=i, schema=ident(schema), table=ident(t)) for i, t in enumerate(tables)]
    return {tables[i]: int(n) for i, n in con.execute(" UNION ALL ".join(parts)).fetchall()}


def raw_facts(path: Path | None = None) -> LayerFacts:
    """Counts of `raw.<table>` and the newest crash timestamps. Caller holds the pipeline lock."""
    target = path or get_settings().warehouse_path
    facts = LayerFacts(source="raw")
    if not target.exists():
        return facts
    con = duckdb.connect(str(target), read_only=True)
    try:
        tables = [t for t in _tables(con, "raw") if t in RAW_TABLES]
        facts.rows = _counts(con, "raw", tables)
        if "crashes" in tables:
            cols = [c for c in FRESHNESS_COLUMNS if c in _columns(con, "raw", "crashes")]
            if cols:
                select = ", ".join(f'max("{c}")' for c in cols)
                values = con.execute(f"SELECT {select} FROM raw.crashes").fetchone() or ()  # noqa: S608
                facts.newest = {c: str(v) for c, v in zip(cols, values, strict=True) if v is not None}
    finally:
        con.close()
    return facts


def gold_facts() -> LayerFacts:
    """Mart counts from the gold snapshot, and the newest crash date it holds."""
    facts = LayerFacts(source="gold")
    if not get_settings().gold_path.exists():
        return facts
    with gold_connect() as con:
        tables = _tables(con, "marts")
        facts.rows = _counts(con, "marts", tables)
        if "fct_crashes" in tables:
            cols = _columns(con, "marts", "fct_crashes")
            column = next((c for c in ("crash_ts", "crash_date", "crash_at") if c in cols), None)
            if column:
                value = con.execute(f'SELECT max("{column}") FROM marts.fct_crashes').fetchone()  # noqa: S608
                if value and value[0] is not None:
                    facts.newest["crash_date"] = str(value[0])
    return facts


def bronze_facts() -> LayerFacts:
    """Parquet files and rows per dataset folder in bronze (footers only, no data read)."""
    import pyarrow.parquet as pq

    from ingestion.bronze import bronze_filesystem  # dlt: heavy, and only needed here

    fs, root = bronze_filesystem()
    facts = LayerFacts(source="bronze")
    if not fs.exists(root):
        return facts
    for path in fs.glob(f"{root.rstrip('/')}/**/*.parquet"):
        # dlt's layout: <dataset>/<table>/<load_id>.<file_id>.parquet; its own tables start with _dlt.
        table = path.rstrip("/").split("/")[-2]
        if table.startswith("_dlt"):
            continue
        with fs.open(path, "rb") as fh:
            facts.rows[table] = facts.rows.get(table, 0) + pq.ParquetFile(fh).metadata.num_rows
        facts.files[table] = facts.files.get(table, 0) + 1
    return facts
