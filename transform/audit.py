"""The late-amendment audit's reading of bronze, shared by its two dbt Python models
(`models/marts/audit`): which columns are data, how a version's values are hashed, and the files
of the loads a model has not seen yet.

Bronze is parquet in a local folder or on S3 (MinIO); only `ingestion.bronze` knows which of its
loads are complete and how to reach a remote one (dlt's own credentials, through fsspec), and
DuckDB cannot reach S3 offline, so the models list files here and DuckDB reads them: one
set-based statement per dataset, never a loop over rows.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from crashes.config import get_settings
from crashes.sql import ident, literal
from ingestion.bronze import Bronze, open_bronze
from ingestion.datasets import SYSTEM_FIELDS, DatasetSpec

# Columns that describe a delivery, not the record: no version is compared on them.
NOT_DATA = frozenset({*SYSTEM_FIELDS.values(), "_dlt_load_id", "_dlt_id"})
UPDATED_AT = SYSTEM_FIELDS[":updated_at"]


def data_columns(columns: Iterable[str]) -> list[str]:
    return sorted(c for c in columns if c not in NOT_DATA and not c.startswith("_dlt"))


def values_hash(columns: Sequence[str]) -> str:
    """md5 over `name=value` of the non-null values, in name order: a column a load lacks
    altogether hashes like one delivered empty, so a load adding a column changes no old hash."""
    parts = ", ".join(f"{literal(c + '=')} || {ident(c)}::varchar" for c in columns)
    return f"md5(concat_ws(chr(30), {parts}))"


def file_params(files: Sequence[str]) -> dict[str, str]:
    return {f"f{index}": file for index, file in enumerate(files)}


def file_listing(files: Sequence[str]) -> str:
    """The files as bound parameters (`$f0`, …): paths are never spliced into SQL."""
    return "[" + ", ".join(f"$f{index}" for index in range(len(files))) + "]"


def bronze_columns(session: Any, files: Sequence[str]) -> set[str]:
    sql = f"describe select * from read_parquet({file_listing(files)}, union_by_name = true)"  # noqa: S608
    return {row[0] for row in session.execute(sql, file_params(files)).fetchall()}


def open_for(session: Any) -> Bronze:
    """Bronze where the pipeline writes it, readable by `session` (remote through fsspec). Both
    audit models run on one DuckDB instance, which refuses a second filesystem of a protocol."""
    bronze = open_bronze(get_settings())
    protocol = bronze.fs.protocol if isinstance(bronze.fs.protocol, str) else bronze.fs.protocol[0]
    if bronze.is_local or not session.filesystem_is_registered(protocol):
        bronze.attach_to(session)
    return bronze


def files_of_loads(bronze: Bronze, spec: DatasetSpec, newer_than: str) -> list[str]:
    """Locations of the dataset's files from complete loads newer than `newer_than` ('' = all)."""
    complete = {load for load in bronze.completed_loads() if float(load) > float(newer_than or 0)}
    return [bronze.location(f) for f in bronze.files(spec.table) if f.load_id in complete]


def files_named(bronze: Bronze, spec: DatasetSpec, names: Iterable[str]) -> list[str]:
    wanted = set(names)
    return [bronze.location(f) for f in bronze.files(spec.table) if f.path.rsplit("/", 1)[-1] in wanted]


def watermark(session: Any, this: str | None) -> str:
    """The newest load id a model holds ('' before its first build); load ids are digits and a dot."""
    if this is None:
        return ""
    held = session.execute(f"select coalesce(max(load_id), '') from {this}").fetchall()[0][0]  # noqa: S608
    if held and not held.replace(".", "").isdigit():
        raise ValueError(f"unexpected load id {held!r} in {this}")
    return held
