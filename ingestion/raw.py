"""Raw: bronze loads merged into the `raw` schema of the warehouse, one row per key.

Raw is fed from bronze, never from the API directly, so both layers hold the same extraction and
raw can be rebuilt from bronze alone. Which bronze loads raw already holds is recorded in
`raw.bronze_loads`, in the same dlt load as the rows themselves: a run that dies between bronze
and raw is finished by the next run, and a load is never merged twice.

DuckDB ranks the versions from the key and cursor columns alone; the rows to merge then reach the
warehouse as a dlt SQL model that the warehouse's DuckDB runs over bronze's files itself (bronze
on S3 goes through Arrow and parquet load files instead, as the warehouse cannot reach it).
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import NamedTuple

import dlt
import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
from dlt.dataset.relation import Relation
from dlt.destinations.impl.duckdb.configuration import DuckDbCredentials
from dlt.extract.items import DataItemWithMeta
from dlt.sources import DltResource

from crashes import warehouse
from crashes.config import Settings
from crashes.errors import CrashesError
from crashes.sql import ident, literal
from ingestion.bronze import Bronze, BronzeFile
from ingestion.datasets import CURSOR_COLUMN, DATASETS, DatasetSpec
from ingestion.records import rejected_rows

PIPELINE_NAME = "crashes_raw"
DATASET_NAME = "raw"
REJECTED_TABLE = "rejected_rows"
SYNC_TABLE = "bronze_loads"
_DLT_COLUMNS = ("_dlt_load_id", "_dlt_id")
CHUNK_ROWS = 200_000


def raw_pipeline(settings: Settings) -> dlt.Pipeline:
    # Raw rows have no meaningful order (the key says which is which): without preserving
    # insertion order DuckDB inserts in parallel, half the time of the load on 2 cores.
    credentials = DuckDbCredentials(str(settings.warehouse_path), global_config={"preserve_insertion_order": False})
    return dlt.pipeline(
        pipeline_name=PIPELINE_NAME,
        destination=dlt.destinations.duckdb(credentials),
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
    con.execute("attach ? as wh (read_only)", [str(warehouse_path)])
    present = {
        r[0]
        for r in con.execute(
            "select column_name from duckdb_columns() where database_name = 'wh' and schema_name = ? "
            "and table_name = ?",
            [DATASET_NAME, spec.table],
        ).fetchall()
    }
    if not present:
        return None
    if spec.key not in present:
        raise CrashesError(f"raw.{spec.table} has no {spec.key} column: rebuild raw from bronze (delete the warehouse)")
    # Without the cursor column every raw row ranks as undated (it still counts as held, so the
    # sync merges rather than appends).
    cursor = ident(CURSOR_COLUMN) if CURSOR_COLUMN in present else "null::varchar"
    return f'select "{spec.key}" as k, {cursor} as u from wh."{DATASET_NAME}"."{spec.table}"'  # noqa: S608


# Columns the sync adds to what it reads from bronze: dlt's column names never hold a space.
FILE_INDEX = '"bronze file"'
ROW_INDEX = '"bronze row"'


class BronzeScan(NamedTuple):
    """SQL over bronze files with each row's file (its index in the list) and position in it."""

    sql: str
    params: dict[str, str]
    columns: list[str]  # bronze's own columns, dlt's included
    native: bool  # the positions are DuckDB's own file columns


def _positioned(con: duckdb.DuckDBPyConnection, bronze: Bronze, files: Sequence[BronzeFile]) -> BronzeScan:
    """A scan of the bronze files with each row's position; `con` is set up to read bronze.

    DuckDB's own `file_index` and `file_row_number` columns give both, in a parallel scan. Bronze
    keeps unknown columns, though, and a data column of either name hides DuckDB's: then each file
    is scanned alone with an empty OVER, which keeps its row order (DuckDB's documented order
    preservation, so that connection must preserve insertion order), and row_number() is the
    position."""
    bronze.attach_to(con)
    params = {f"f{index}": bronze.location(f) for index, f in enumerate(files)}
    listing = "[" + ", ".join(f"${name}" for name in params) + "]"
    described = con.execute(f"describe select * from read_parquet({listing}, union_by_name = true)", params)  # noqa: S608
    columns = [r[0] for r in described.fetchall()]
    if not {"file_index", "file_row_number"} & set(columns):
        con.execute("set preserve_insertion_order = false")  # raw has no row order: scan in parallel
        sql = (
            f"select *, file_index::integer as {FILE_INDEX}, file_row_number as {ROW_INDEX} "  # noqa: S608
            f"from read_parquet({listing}, union_by_name = true)"
        )
        return BronzeScan(sql, params, columns, native=True)
    con.execute("set preserve_insertion_order = true")
    parts = [
        f"(select *, {index} as {FILE_INDEX}, row_number() over () - 1 as {ROW_INDEX} from read_parquet($f{index}))"  # noqa: S608
        for index in range(len(files))
    ]
    return BronzeScan(" union all by name ".join(parts), params, columns, native=False)


# The one rule for a mergeable key: present, and holding a character that is not whitespace
# (spaces, tabs, newlines, Unicode spaces). Every bronze row is sorted by it: ranked and merged, or
# kept as a reject.
USABLE_KEY = r"k is not null and regexp_matches(k, '[^\s\v\p{Z}]')"


@dataclass
class Versions:
    """What a sync takes from its bronze files: how many rows it read, its keyless rows, and the
    rows it drops as older versions, each as (f: the file's index, r: the row's position in it),
    and whether a merged row replaces one raw holds. Every other row is merged. `columns` are the
    bronze files' columns, dlt's own included."""

    delivered: int
    keyless: pa.Table
    dropped: pa.Table
    replaces_raw: bool
    columns: list[str] = field(default_factory=list)

    @property
    def data_columns(self) -> list[str]:
        return [c for c in self.columns if c not in _DLT_COLUMNS]

    @property
    def merged(self) -> int:
        return self.delivered - self.keyless.num_rows - self.dropped.num_rows


def newest_versions(
    bronze: Bronze, files: Sequence[BronzeFile], spec: DatasetSpec, warehouse_path: Path | None = None
) -> Versions:
    """For each key, its newest version in this sync (the latest `:updated_at`, then the later
    delivery), unless raw already holds a strictly newer one. Only the key and cursor columns are
    read, DuckDB ranks them set-wise, and only keys delivered more than once are ranked at all, so
    dlt can be told the staged data is already deduplicated.

    A missing `:updated_at` (replayed export files) ranks below any timestamp, as within a sync:
    raw's row is kept when its `socrata_updated_at` is later than the incoming one, or when it has
    one and the incoming row has none; otherwise (equal, or raw's is null) the later delivery wins.
    The warehouse is read (read-only) here, before dlt opens it to load."""
    positions = pa.schema([("f", pa.int32()), ("r", pa.int64())])
    if not files:
        return Versions(0, positions.empty_table(), positions.empty_table(), replaces_raw=False)
    with duckdb.connect() as con:
        scan = _positioned(con, bronze, files)
        rows, params = scan.sql, scan.params
        con.execute(
            f"""create temp table keys as
                select k, u, f, r, coalesce({USABLE_KEY}, false) as usable
                from (select {ident(spec.key)}::varchar as k, {ident(CURSOR_COLUMN)}::varchar as u,
                             {FILE_INDEX}::integer as f, {ROW_INDEX}::bigint as r
                      from ({rows}))""",  # noqa: S608
            params,
        ).fetchall()
        [(delivered,)] = con.execute("select count(*) from keys").fetchall()
        # Keyless rows are rejects, kept whole in their own table: never ranked, never merged.
        keyless = con.sql("select f, r from keys where not usable").to_arrow_table()
        older_in_sync = """select f, r from keys
            where usable and k in (select k from keys where usable group by k having count(*) > 1)
            qualify row_number() over (partition by k order by u desc nulls last, f desc, r desc) > 1"""
        existing = _attach_raw_versions(con, warehouse_path, spec)
        if existing is None:
            dropped, replaces_raw = con.sql(older_in_sync).to_arrow_table(), False
        else:
            # Every version of a key raw holds, and whether raw's is strictly newer: a key's newest
            # version loses to raw exactly when all its versions do.
            con.execute(
                f"""create temp table held as
                    select n.f, n.r, coalesce(e.u > coalesce(n.u, ''), false) as raw_is_newer
                    from keys n join ({existing}) e on e.k = n.k
                    where n.usable"""  # noqa: S608
            ).fetchall()
            dropped = con.sql(f"{older_in_sync} union select f, r from held where raw_is_newer").to_arrow_table()  # noqa: S608 - fixed SQL
            [(replaces_raw,)] = con.execute("select count(*) > 0 from held where not raw_is_newer").fetchall()
    return Versions(
        delivered=delivered,
        keyless=keyless.cast(positions),
        dropped=dropped.cast(positions),
        replaces_raw=bool(replaces_raw),
        columns=scan.columns,
    )


def _bronze_tables(
    bronze: Bronze, files: Sequence[BronzeFile], versions: Versions, spec: DatasetSpec
) -> Iterator[pa.Table | DataItemWithMeta | Relation]:
    """The sync's keyless rows (as reject records, to their own table) and the rows to merge,
    read and filtered by DuckDB set-wise."""
    keyless = versions.keyless  # noqa: F841 - read by DuckDB by name
    # Rows not merged: few (repeats and rejects), so the scan below probes a small hash table.
    skipped = pa.concat_tables([versions.keyless, versions.dropped])
    # A memory ceiling, or DuckDB's cache of bronze alone takes the ingest past its budget (1.44 GB
    # peak RSS on the real crashes, 1.27 with it).
    with duckdb.connect(config={"memory_limit": "1GB"}) as con:
        scan = _positioned(con, bronze, files)
        rows, params = scan.sql, scan.params
        data = [f"b.{ident(n)}" for n in versions.data_columns]
        if versions.keyless.num_rows:
            table = con.sql(
                f"""select {", ".join(data)}, b.{FILE_INDEX} as f from ({rows}) b
                    semi join keyless k on k.f = b.{FILE_INDEX} and k.r = b.{ROW_INDEX}
                    order by b.{FILE_INDEX}, b.{ROW_INDEX}""",  # noqa: S608
                params=params,
            ).to_arrow_table()
            rejects = rejected_rows(table.drop_columns(["f"]), spec, f"missing {spec.key}")
            loads = pa.array([f.load_id for f in files], pa.string()).take(table.column("f"))
            yield dlt.mark.with_hints(
                rejects.append_column("_bronze_load_id", loads), _REJECT_HINTS, create_table_variant=True
            )
        if not versions.merged:
            return
        # Bronze's dlt columns describe the bronze load; raw gets its own, plus the bronze load id.
        bronze_load = "b._dlt_load_id::varchar" if "_dlt_load_id" in versions.columns else "null::varchar"
        merged = f"{', '.join(data)}, {bronze_load} as _bronze_load_id"
        if bronze.is_local and scan.native:
            yield _merge_model(bronze, files, merged, skipped)
            return
        # A relation, not a DB-API result: DuckDB streams it rather than materialising it first.
        reader = con.sql(
            f"""select {merged} from ({rows}) b
                anti join skipped s on s.f = b.{FILE_INDEX} and s.r = b.{ROW_INDEX}""",  # noqa: S608
            params=params,
        ).to_arrow_reader(batch_size=CHUNK_ROWS)
        for batch in reader:
            yield pa.Table.from_batches([batch])


def _merge_model(bronze: Bronze, files: Sequence[BronzeFile], merged: str, skipped: pa.Table) -> Relation:
    """The rows to merge as a dlt SQL model: the warehouse's DuckDB reads them from bronze itself
    at load time, so they are never converted to Arrow, written to a load file and read back
    (≈ 3 s of a 20 s real-scale replay). The positions to skip go to a small parquet file beside
    the load package, which the model reads; `clear_staged` removes it once the load is done."""
    pipeline = dlt.current.pipeline()
    load_id = dlt.current.load_package_state()["load_id"]
    paths = [literal(bronze.location(f)) for f in files]
    sql = f"select {merged} from read_parquet([{', '.join(paths)}], union_by_name = true) b"  # noqa: S608
    if skipped.num_rows:
        staged = staged_dir(pipeline) / f"{load_id}.{files[0].table}.skipped.parquet"
        staged.parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(skipped, staged)
        sql += (
            f" anti join read_parquet({literal(str(staged))}) s"
            " on s.f = b.file_index::integer and s.r = b.file_row_number"
        )
    return pipeline.dataset()(sql)


def staged_dir(pipeline: dlt.Pipeline) -> Path:
    """Where the sync's models find the bronze positions they skip (see `_merge_model`)."""
    return Path(pipeline.working_dir) / "staged"


def clear_staged(pipeline: dlt.Pipeline) -> None:
    """Remove the skip lists once no load package can still need them."""
    if not pipeline.list_extracted_load_packages() and not pipeline.list_normalized_load_packages():
        shutil.rmtree(staged_dir(pipeline), ignore_errors=True)


def _raw_tables(warehouse_path: Path | None) -> set[str]:
    """The dataset tables raw holds (read-only, before dlt opens the warehouse)."""
    if warehouse_path is None or not warehouse_path.exists():
        return set()
    with duckdb.connect(str(warehouse_path), read_only=True) as con:
        rows = con.execute(
            "select table_name from information_schema.tables where table_schema = ?", [DATASET_NAME]
        ).fetchall()
    return {r[0] for r in rows}


def _empty_table(columns: dict[str, dict]) -> pa.Table:
    return pa.table({name: pa.array([], pa.string()) for name in columns})


def _dataset_resource(
    spec: DatasetSpec,
    bronze: Bronze,
    load_ids: Sequence[str],
    counts: SyncCounts,
    warehouse_path: Path | None,
    raw_tables: set[str],
) -> DltResource:
    """Ranked here, before dlt runs: the write disposition depends on the ranking."""
    wanted = set(load_ids)  # one listing of the dataset's folder, whatever the number of loads
    files = [f for f in bronze.files(spec.table) if f.load_id in wanted]
    versions = newest_versions(bronze, files, spec, warehouse_path)
    columns = spec.text_columns()
    # Bronze's unknown columns too: dlt takes a model's columns from these hints, not from data.
    for name in [*versions.data_columns, "_bronze_load_id"]:
        columns.setdefault(name, {"data_type": "text", "nullable": True})

    def rows() -> Iterator[pa.Table | DataItemWithMeta | Relation]:
        rejected, merged = versions.keyless.num_rows, versions.merged
        counts.add(counts.delivered, spec.name, versions.delivered)
        if rejected:
            counts.add(counts.rejected, spec.name, rejected)
        if versions.delivered - rejected - merged:
            counts.add(counts.superseded, spec.name, versions.delivered - rejected - merged)
        if rejected or merged:
            yield from _bronze_tables(bronze, files, versions, spec)
        elif spec.table not in raw_tables:
            # A replay of crashes alone still gives raw all three tables (empty, every known
            # column), as every dbt build reads all three.
            yield _empty_table(columns)

    # Deduplicated above, so dlt's delete-insert is a plain insert, not a window over wide rows; and
    # when no row replaces one raw holds (a first load, or only new keys), a merge is an append:
    # one write into DuckDB instead of staging, delete and insert.
    merge = {"disposition": "merge", "strategy": "delete-insert", "deduplicated": True}
    return dlt.resource(
        rows,
        name=spec.table,
        write_disposition=merge if versions.replaces_raw else "append",
        primary_key=spec.key,
        columns=columns,
        max_table_nesting=0,
    )


def drop_repeated_rows(con: duckdb.DuckDBPyConnection, load_ids: Sequence[str]) -> int:
    """Within one raw load each key is unique (the sync ranks them), so a key twice under one load
    id can only be an append job that dlt ran again: DuckDB had committed it when the process died,
    before dlt marked it done. Keep one of each; returns how many rows went. (A merge job is safe
    to re-run by itself.)"""
    dropped = 0
    for spec in DATASETS.values():
        if not warehouse.table_exists(con, DATASET_NAME, spec.table):
            continue
        table = f"{DATASET_NAME}.{ident(spec.table)}"
        for load_id in load_ids:
            deleted = con.execute(
                f"""delete from {table} where rowid in (
                        select rowid from {table} where _dlt_load_id = $load
                        qualify row_number() over (partition by {ident(spec.key)} order by rowid) > 1
                    ) returning 1""",  # noqa: S608 - fixed names
                {"load": load_id},
            ).fetchall()
            dropped += len(deleted)
    return dropped


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
    held = _raw_tables(warehouse_path)
    resources = [_dataset_resource(spec, bronze, load_ids, counts, warehouse_path, held) for spec in DATASETS.values()]
    return [*resources, _sync_record(load_ids)]
