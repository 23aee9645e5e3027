"""Raw tables in exactly the shape docs/contracts.md promises, written straight into DuckDB.

Stands in for `ingestion.pipeline.ingest()` where speed matters more than the path (the real-
scale benchmark: ingestion has its own): every data column VARCHAR under its API field name,
`socrata_*`, `_dlt_load_id` and `_bronze_load_id`, one row per key (the newest
`socrata_updated_at` wins), and a `raw._dlt_loads` row per load.
"""

# ruff: noqa: S608 - table and column names come from settings.py and the test itself; values are bound
from __future__ import annotations

import time
from pathlib import Path

import duckdb
import pyarrow as pa

from crashes.sql import ident, literal
from ingestion.datasets import DATASETS, column_name

SYSTEM_COLUMNS = ("socrata_id", "socrata_created_at", "socrata_updated_at")
LINKED_FILES = {
    "crashes": "traffic_crashes.csv",
    "vehicles": "traffic_crash_vehicle.csv",
    "people": "traffic_crash_people.csv",
}


def linked_csv(shared: Path, dataset: str) -> str:
    """The 2021-12 linked real sample (CSV export shape, every value a string)."""
    path = shared / "linked_2021-12_faithhunja" / LINKED_FILES[dataset]
    return f"read_csv({literal(str(path))}, all_varchar = true)"


def crashes_year(shared: Path, year: int) -> str:
    """One year of real crashes as the JSON API delivered them (repeats included)."""
    path = shared / "crashes_real" / f"crashes_{year}.jsonl.gz"
    return f"read_ndjson_auto({literal(str(path))}, union_by_name = true, sample_size = -1)"


class RawWarehouse:
    """Merges loads into `raw.*` of one DuckDB file the way dlt's merge disposition does."""

    def __init__(self, path: Path):
        self.path = path
        self._last_load = 0.0

    def _next_load_id(self) -> str:
        load = max(time.time(), self._last_load + 1.0)
        self._last_load = load
        return f"{load:.6f}"

    def load(self, **datasets: str | pa.Table) -> str:
        """Merge each `dataset=<SQL relation or Arrow table>` (API-named columns) as one load;
        returns the load id."""
        load_id = self._next_load_id()
        con = duckdb.connect(str(self.path))
        try:
            con.execute("create schema if not exists raw")
            con.execute(
                "create table if not exists raw._dlt_loads (load_id varchar not null, schema_name varchar,"
                " status bigint not null, inserted_at timestamp with time zone not null,"
                " schema_version_hash varchar)"
            )
            for name, relation in datasets.items():
                self._merge(con, name, relation, load_id)
            con.execute("insert into raw._dlt_loads values (?, 'chicago_crashes', 0, now(), null)", [load_id])
        finally:
            con.close()
        return load_id

    def _merge(self, con: duckdb.DuckDBPyConnection, name: str, relation: str | pa.Table, load_id: str) -> None:
        spec = DATASETS[name]
        if isinstance(relation, pa.Table):
            con.register("delivered", relation)
            relation = "delivered"
        con.execute(f"create or replace temp table incoming as select * from {relation}")
        delivered = {row[0]: row[1] for row in con.execute("describe incoming").fetchall()}
        as_text = {}
        for field, dtype in delivered.items():
            value = f"to_json({ident(field)})" if dtype.startswith(("STRUCT", "MAP", "LIST")) else ident(field)
            as_text[column_name(field)] = f"cast({value} as varchar)"
        columns = list(spec.columns) + [c for c in as_text if c not in spec.columns and c not in SYSTEM_COLUMNS]
        select = [f"{as_text.get(c, 'cast(null as varchar)')} as {ident(c)}" for c in columns]
        select += [f"{as_text.get(c, 'cast(null as varchar)')} as {c}" for c in SYSTEM_COLUMNS]
        select += [f"{literal(load_id)} as _bronze_load_id", f"{literal(load_id)} as _dlt_load_id"]
        con.execute(
            f"create or replace temp table staged as select {', '.join(select)} from incoming"
            f" qualify row_number() over (partition by {spec.key}"
            " order by try_cast(socrata_updated_at as timestamp) desc nulls last) = 1"
        )
        table = f"raw.{spec.table}"
        exists = con.execute(
            "select count(*) from duckdb_tables() where schema_name = 'raw' and table_name = ?", [spec.table]
        ).fetchone()[0]
        if not exists:
            con.execute(f"create table {table} as select * from staged")
            return
        existing = {row[0] for row in con.execute(f"describe {table}").fetchall()}
        for column in [row[0] for row in con.execute("describe staged").fetchall()]:
            if column not in existing:
                con.execute(f"alter table {table} add column {ident(column)} varchar")
        con.execute(f"delete from {table} where {spec.key} in (select {spec.key} from staged)")
        con.execute(f"insert into {table} by name select * from staged")
