"""Raw: bronze loads merged into the `raw` schema of the warehouse, one row per key.

Raw is fed from bronze, never from the API directly, so both layers hold the same extraction and
raw can be rebuilt from bronze alone. Which bronze loads raw already holds is recorded in
`raw.bronze_loads`, in the same dlt load as the rows themselves: a run that dies between bronze
and raw is finished by the next run, and a load is never merged twice.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import dlt
import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from dlt.sources import DltResource

from crashes import warehouse
from crashes.config import Settings
from ingestion.bronze import Bronze, BronzeFile
from ingestion.socrata.records import rejected_rows, split_by_key, usable_key
from ingestion.socrata.settings import CURSOR_COLUMN, DATASETS, DatasetSpec

PIPELINE_NAME = "crashes_raw"
DATASET_NAME = "raw"
REJECTED_TABLE = "rejected_rows"
SYNC_TABLE = "bronze_loads"
_DLT_COLUMNS = ("_dlt_load_id", "_dlt_id")


def raw_pipeline(settings: Settings) -> dlt.Pipeline:
    return dlt.pipeline(
        pipeline_name=PIPELINE_NAME,
        destination=dlt.destinations.duckdb(str(settings.warehouse_path)),
        dataset_name=DATASET_NAME,
        pipelines_dir=str(settings.pipelines_dir),
    )


@dataclass
class SyncCounts:
    """What one raw sync did, per dataset."""

    delivered: dict[str, int] = field(default_factory=dict)
    rejected: dict[str, int] = field(default_factory=dict)
    superseded: dict[str, int] = field(default_factory=dict)  # older versions (this sync, or older than raw's)

    def add(self, counts: dict[str, int], dataset: str, n: int) -> None:
        counts[dataset] = counts.get(dataset, 0) + n


def synced_loads(settings: Settings) -> set[str]:
    """Bronze load ids already in raw (read straight from the warehouse; empty before the first)."""
    if not settings.warehouse_path.exists():
        return set()
    with warehouse.connect(read_only=True) as con:
        if not warehouse.table_exists(con, DATASET_NAME, SYNC_TABLE):
            return set()
        rows = con.execute(f"select bronze_load_id from {DATASET_NAME}.{SYNC_TABLE}").fetchall()  # noqa: S608
    return {r[0] for r in rows}


def _strip_bronze_columns(table: pa.Table) -> pa.Table:
    """Bronze's dlt columns describe the bronze load; raw gets its own, plus the bronze load id."""
    bronze_load = table.column("_dlt_load_id") if "_dlt_load_id" in table.column_names else None
    keep = [c for c in table.column_names if c not in _DLT_COLUMNS]
    out = table.select(keep)
    if bronze_load is not None:
        out = out.append_column("_bronze_load_id", pc.cast(bronze_load, pa.string()))
    return out


# Keyless rows can't be merged: they go, appended, to their own table (a variant of the resource).
_REJECT_HINTS = dlt.mark.make_hints(
    table_name=REJECTED_TABLE,
    write_disposition="append",
    columns={
        "dataset": {"data_type": "text"},
        "reason": {"data_type": "text"},
        "record": {"data_type": "text"},
        "_bronze_load_id": {"data_type": "text"},
    },
)


def _attach_raw_versions(con: duckdb.DuckDBPyConnection, warehouse_path: Path | None, spec: DatasetSpec) -> str | None:
    """Attach the warehouse read-only to `con` and return SQL for raw's (key, `socrata_updated_at`)
    of this dataset, or None when there is no warehouse or raw has no such table yet."""
    if warehouse_path is None or not warehouse_path.exists():
        return None
    con.execute(f"attach '{str(warehouse_path).replace(chr(39), chr(39) * 2)}' as wh (read_only)")
    present = {
        r[0]
        for r in con.execute(
            "select column_name from duckdb_columns() where database_name = 'wh' and schema_name = ? "
            "and table_name = ?",
            [DATASET_NAME, spec.table],
        ).fetchall()
    }
    if not {spec.key, CURSOR_COLUMN} <= present:
        return None
    return f'select "{spec.key}" as k, "{CURSOR_COLUMN}" as u from wh."{DATASET_NAME}"."{spec.table}"'  # noqa: S608


def newest_versions(
    bronze: Bronze, files: Sequence[BronzeFile], spec: DatasetSpec, warehouse_path: Path | None = None
) -> list[np.ndarray]:
    """Per file, a mask of the rows to merge: for each key, its newest version in this sync (the
    latest `:updated_at`, then the later delivery), unless raw already holds a strictly newer one.
    Only the key and cursor columns are read, and DuckDB ranks them set-wise, so dlt can be told
    the staged data is already deduplicated.

    A missing `:updated_at` (replayed export files) ranks below any timestamp, as within a sync:
    raw's row is kept when its `socrata_updated_at` is later than the incoming one, or when it has
    one and the incoming row has none; otherwise (equal, or raw's is null) the later delivery wins.
    The warehouse is read (read-only) here, during extract, before dlt opens it to load."""
    parts = []
    sizes = []
    for index, file in enumerate(files):
        cols = bronze.read_columns(file, [spec.key, CURSOR_COLUMN])
        n = cols.num_rows
        sizes.append(n)
        part = pa.table(
            {
                "k": pc.cast(cols.column(0), pa.string()),
                "u": pc.cast(cols.column(1), pa.string()),
                "f": pa.array(np.full(n, index, np.int32)),
                "r": pa.array(np.arange(n, dtype=np.int64)),
            }
        )
        # Keyless rows are rejects (split_by_key, same rule): never ranked, never merged.
        parts.append(part.filter(usable_key(part.column("k"))))
    masks = [np.zeros(n, dtype=bool) for n in sizes]
    if not parts:
        return masks
    keys = pa.concat_tables(parts)  # noqa: F841 - read by DuckDB by name
    newest = """select k, u, f, r from keys
                qualify row_number() over (partition by k order by u desc nulls last, f desc, r desc) = 1"""
    with duckdb.connect() as con:
        existing = _attach_raw_versions(con, warehouse_path, spec)
        if existing is None:
            keep = con.sql(f"select f, r from ({newest})").to_arrow_table()  # noqa: S608
        else:
            keep = con.sql(
                f"""select n.f, n.r from ({newest}) n left join ({existing}) e on e.k = n.k
                    where e.u is null or e.u <= coalesce(n.u, '')"""  # noqa: S608
            ).to_arrow_table()
    files_idx = keep.column("f").to_numpy()
    rows_idx = keep.column("r").to_numpy()
    for index, mask in enumerate(masks):
        mask[rows_idx[files_idx == index]] = True
    return masks


def _dataset_resource(
    spec: DatasetSpec, bronze: Bronze, load_ids: Sequence[str], counts: SyncCounts, warehouse_path: Path | None
) -> DltResource:
    def rows() -> Iterator[pa.Table]:
        wanted = set(load_ids)  # one listing of the dataset's folder, whatever the number of loads
        files = [f for f in bronze.files(spec.table) if f.load_id in wanted]
        masks = newest_versions(bronze, files, spec, warehouse_path)
        for file, mask in zip(files, masks, strict=True):
            offset = 0
            for table in bronze.read(file):
                newest = pa.array(mask[offset : offset + table.num_rows])
                offset += table.num_rows
                table = _strip_bronze_columns(table)
                counts.add(counts.delivered, spec.name, table.num_rows)
                _, keyless = split_by_key(table, spec)
                if keyless.num_rows:
                    counts.add(counts.rejected, spec.name, keyless.num_rows)
                    rejects = rejected_rows(keyless, spec, f"missing {spec.key}")
                    rejects = rejects.append_column(
                        "_bronze_load_id", pa.array([file.load_id] * rejects.num_rows, pa.string())
                    )
                    yield dlt.mark.with_hints(rejects, _REJECT_HINTS, create_table_variant=True)
                keyed = table.filter(newest)
                superseded = table.num_rows - keyless.num_rows - keyed.num_rows
                if superseded:
                    counts.add(counts.superseded, spec.name, superseded)
                if keyed.num_rows:
                    yield keyed

    columns = spec.text_columns()
    columns["_bronze_load_id"] = {"data_type": "text", "nullable": True}
    return dlt.resource(
        rows,
        name=spec.table,
        # Deduplicated above, so dlt's delete-insert is a plain insert, not a window over wide rows.
        write_disposition={"disposition": "merge", "strategy": "delete-insert", "deduplicated": True},
        primary_key=spec.key,
        columns=columns,
        max_table_nesting=0,
    )


def _sync_record(load_ids: Sequence[str]) -> DltResource:
    now = datetime.now(UTC).isoformat()

    def rows() -> Iterator[pa.Table]:
        schema = pa.schema(
            [pa.field("bronze_load_id", pa.string(), nullable=False), pa.field("synced_at", pa.string())]
        )
        yield pa.table([list(load_ids), [now] * len(load_ids)], schema=schema)

    return dlt.resource(
        rows,
        name=SYNC_TABLE,
        write_disposition={"disposition": "merge", "strategy": "delete-insert"},
        primary_key="bronze_load_id",
    )


@dlt.source(name="raw", max_table_nesting=0)
def bronze_to_raw(
    bronze: Bronze, load_ids: Sequence[str], counts: SyncCounts, warehouse_path: Path
) -> list[DltResource]:
    resources = [_dataset_resource(spec, bronze, load_ids, counts, warehouse_path) for spec in DATASETS.values()]
    return [*resources, _sync_record(load_ids)]
