"""Every version of every record the portal delivered, read from bronze (raw keeps only the latest).

A version is one delivered row, numbered per key in delivery order: load, then `:updated_at`
within a load, then file and row. A version whose values (every data column; Socrata's system
fields and dlt's aside) equal the previous version's is a repeat: the lag window of an
incremental load, unordered paging, a replayed file. Incremental on bronze loads newer than the
newest held; bronze only ever gains loads, so appending them numbered after the held versions of
their keys is the same as a full refresh. Why Python: `transform.audit` says.
"""

import pyarrow as pa

from crashes.sql import ident, literal
from ingestion.datasets import DATASETS
from transform import audit

SCHEMA = pa.schema(
    [
        ("dataset", pa.string()),
        ("record_key", pa.string()),
        ("crash_record_id", pa.string()),
        ("version", pa.int32()),
        ("load_id", pa.string()),
        ("loaded_at", pa.timestamp("us", tz="UTC")),
        ("updated_at", pa.timestamp("us")),
        ("crash_date", pa.timestamp("us")),
        ("record_hash", pa.string()),
        ("is_repeat", pa.bool_()),
        ("bronze_file", pa.string()),
        ("bronze_row", pa.int64()),
    ]
)


def optional(column, present, sql, kind):
    return sql if column in present else f"null::{kind}"


def versions_sql(this, dataset, key, files, present):
    if this is None:
        held = "select null::varchar as record_key, 0 as held_versions, null::varchar as held_hash where false"
    else:
        held = f"""
            select record_key, max(version) as held_versions, arg_max(record_hash, version) as held_hash
            from {this}
            where dataset = {literal(dataset)} and record_key in (select record_key from delivered)
            group by record_key"""  # noqa: S608
    updated_at = optional(audit.UPDATED_AT, present, f"try_cast({ident(audit.UPDATED_AT)} as timestamp)", "timestamp")
    return f"""
        with delivered as (
            select
                {ident(key)}::varchar as record_key,
                {optional("crash_record_id", present, "crash_record_id::varchar", "varchar")} as crash_record_id,
                _dlt_load_id as load_id,
                {updated_at} as updated_at,
                {optional("crash_date", present, "try_cast(crash_date as timestamp)", "timestamp")} as crash_date,
                {audit.values_hash(audit.data_columns(present))} as record_hash,
                parse_filename(filename) as bronze_file,
                file_row_number as bronze_row
            from read_parquet(
                {audit.file_listing(files)}, union_by_name = true, filename = true, file_row_number = true
            )
            where {ident(key)} is not null
        ),
        held as ({held}),
        ordered as (
            select
                delivered.*,
                coalesce(held.held_versions, 0) + row_number() over delivery as version,
                coalesce(lag(delivered.record_hash) over delivery, held.held_hash) as previous_hash
            from delivered
            left join held using (record_key)
            window delivery as (
                partition by delivered.record_key
                order by delivered.load_id, delivered.updated_at nulls first, delivered.bronze_file,
                    delivered.bronze_row
            )
        )
        select
            {literal(dataset)} as dataset,
            record_key,
            crash_record_id,
            version::integer as version,
            load_id,
            to_timestamp(load_id::double) as loaded_at,
            updated_at,
            crash_date,
            record_hash,
            coalesce(record_hash = previous_hash, false) as is_repeat,
            bronze_file,
            bronze_row
        from ordered
    """  # noqa: S608


def model(dbt, session):
    dbt.config(materialized="incremental", incremental_strategy="append", on_schema_change="fail")
    this = str(dbt.this) if dbt.is_incremental else None
    newer_than = audit.watermark(session, this)
    bronze = audit.open_for(session)
    tables = []
    for spec in DATASETS.values():
        files = audit.files_of_loads(bronze, spec, newer_than)
        present = audit.bronze_columns(session, files) if files else set()
        if spec.key in present:
            sql = versions_sql(this, spec.name, spec.key, files, present)
            tables.append(session.sql(sql, params=audit.file_params(files)).to_arrow_table().cast(SCHEMA))
    return pa.concat_tables(tables) if tables else SCHEMA.empty_table()
