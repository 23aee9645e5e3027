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

import dlt
import pyarrow as pa
import pyarrow.compute as pc
from dlt.sources import DltResource

from crashes import warehouse
from crashes.config import Settings
from ingestion.bronze import Bronze
from ingestion.socrata.records import rejected_rows, split_by_key
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


def _dataset_resource(spec: DatasetSpec, bronze: Bronze, load_ids: Sequence[str], counts: SyncCounts) -> DltResource:
    def rows() -> Iterator[pa.Table]:
        for load_id in load_ids:
            for file in bronze.files(spec.table, load_id):
                for table in bronze.read(file):
                    table = _strip_bronze_columns(table)
                    keyed, keyless = split_by_key(table, spec)
                    counts.add(counts.delivered, spec.name, table.num_rows)
                    if keyless.num_rows:
                        counts.add(counts.rejected, spec.name, keyless.num_rows)
                        rejects = rejected_rows(keyless, spec, f"missing {spec.key}")
                        rejects = rejects.append_column(
                            "_bronze_load_id", pa.array([load_id] * rejects.num_rows, pa.string())
                        )
                        yield dlt.mark.with_hints(rejects, _REJECT_HINTS, create_table_variant=True)
                    if keyed.num_rows:
                        yield keyed

    columns = spec.text_columns()
    # The newest version of a record wins when one load delivers it twice.
    columns[CURSOR_COLUMN] = {**columns[CURSOR_COLUMN], "dedup_sort": "desc"}
    columns["_bronze_load_id"] = {"data_type": "text", "nullable": True}
    return dlt.resource(
        rows,
        name=spec.table,
        write_disposition={"disposition": "merge", "strategy": "delete-insert"},
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
def bronze_to_raw(bronze: Bronze, load_ids: Sequence[str], counts: SyncCounts) -> list[DltResource]:
    resources = [_dataset_resource(spec, bronze, load_ids, counts) for spec in DATASETS.values()]
    return [*resources, _sync_record(load_ids)]
