"""One row per field whose value differs between a record's version and the one before it.

Only versions that are not repeats can change a field, so only they and their predecessors are
read back from bronze (the file and row `audit_record_versions` names); their data
columns are unpivoted (nulls kept: a flag set later goes from null to `Y`) and each value is
compared with the previous version's by LAG. Incremental on the versions of newer loads: a
version's predecessor is always held, so the changes of old versions never move and appending is
a full refresh's result. Why Python: `transform.audit` says.
"""

import pyarrow as pa

from crashes.sql import ident, literal
from ingestion.datasets import DATASETS
from transform import audit

# The versions to read back, registered on the session while the model runs.
NEEDED = "audit_needed_versions"
SCHEMA = pa.schema(
    [
        ("dataset", pa.string()),
        ("record_key", pa.string()),
        ("crash_record_id", pa.string()),
        ("version", pa.int32()),
        ("field", pa.string()),
        ("old_value", pa.string()),
        ("new_value", pa.string()),
        ("load_id", pa.string()),
        ("loaded_at", pa.timestamp("us", tz="UTC")),
        ("updated_at", pa.timestamp("us")),
        ("crash_date", pa.timestamp("us")),
    ]
)


def needed_sql(versions, dataset, newer_than):
    """The changed versions of newer loads and the versions just before them, once each (a version
    can be both, when a key changed twice since the last build)."""
    return f"""
        with changed as (
            select * from {versions}
            where dataset = {literal(dataset)} and load_id > {literal(newer_than)}
                and not is_repeat and version > 1
        ),
        both_kinds as (
            select record_key, version, bronze_file, bronze_row, true as is_changed from changed
            union all
            select before.record_key, before.version, before.bronze_file, before.bronze_row, false
            from {versions} as before
            inner join changed
                on before.record_key = changed.record_key and before.version = changed.version - 1
            where before.dataset = {literal(dataset)}
        )
        select record_key, version, bronze_file, bronze_row, bool_or(is_changed) as is_changed
        from both_kinds
        group by record_key, version, bronze_file, bronze_row
    """  # noqa: S608


def changes_sql(versions, dataset, files, present):
    columns = audit.data_columns(present)
    values = ", ".join(f"{ident(c)}::varchar as {ident(c)}" for c in columns)
    return f"""
        with delivered as (
            select parse_filename(filename) as bronze_file, file_row_number as bronze_row, {values}
            from read_parquet(
                {audit.file_listing(files)}, union_by_name = true, filename = true, file_row_number = true
            )
        ),
        needed_values as (
            select needed.record_key, needed.version, needed.is_changed, delivered.* exclude (bronze_file, bronze_row)
            from {NEEDED} as needed
            inner join delivered using (bronze_file, bronze_row)
        ),
        long as (
            from needed_values
            unpivot include nulls (new_value for field in ({", ".join(ident(c) for c in columns)}))
        ),
        compared as (
            select
                *,
                lag(new_value) over (partition by record_key, field order by version) as old_value
            from long
        )
        select
            {literal(dataset)} as dataset,
            compared.record_key,
            versions.crash_record_id,
            compared.version::integer as version,
            compared.field,
            compared.old_value,
            compared.new_value,
            versions.load_id,
            versions.loaded_at,
            versions.updated_at,
            versions.crash_date
        from compared
        inner join {versions} as versions
            on versions.dataset = {literal(dataset)}
            and versions.record_key = compared.record_key
            and versions.version = compared.version
        where compared.is_changed and compared.old_value is distinct from compared.new_value
    """  # noqa: S608


def model(dbt, session):
    dbt.config(materialized="incremental", incremental_strategy="append", on_schema_change="fail")
    dbt.ref("audit_record_versions")  # the lineage; SQL names the table (a ref is a relation here)
    versions = ".".join(ident(part) for part in (dbt.this.database, dbt.this.schema, "audit_record_versions"))
    this = str(dbt.this) if dbt.is_incremental else None
    newer_than = audit.watermark(session, this)
    bronze = audit.open_for(session)
    tables = []
    for spec in DATASETS.values():
        needed = session.sql(needed_sql(versions, spec.name, newer_than)).to_arrow_table()
        if needed.num_rows == 0:
            continue
        files = audit.files_named(bronze, spec, set(needed["bronze_file"].to_pylist()))
        session.register(NEEDED, needed)
        try:
            sql = changes_sql(versions, spec.name, files, audit.bronze_columns(session, files))
            tables.append(session.sql(sql, params=audit.file_params(files)).to_arrow_table().cast(SCHEMA))
        finally:
            session.unregister(NEEDED)
    return pa.concat_tables(tables) if tables else SCHEMA.empty_table()
