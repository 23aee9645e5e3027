"""A delivered record as Arrow: every value a string, columns named as raw names them.

Socrata delivers strings; bronze and raw keep them as strings so that nothing is lost to a cast
(a garbled `"latitude": "abc"` is kept and counted downstream, not dropped here). Both the API
source and the export-file replay pass their pages through :func:`to_delivered_table`, so the two
paths land identical shapes in bronze.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.compute as pc

from ingestion.datasets import DatasetSpec, column_name


def _point_to_geojson(col: pa.ChunkedArray) -> pa.Array:
    """GeoJSON text for a `{type, coordinates}` struct, computed column-wise."""
    combined = col.combine_chunks() if isinstance(col, pa.ChunkedArray) else col
    coords = combined.field("coordinates")
    # list_element fails on null or short lists: give those a [null, null] stand-in first.
    usable = pc.fill_null(pc.greater_equal(pc.list_value_length(coords), 2), False)
    coords = pc.if_else(usable, coords, pa.scalar([None, None], coords.type))
    lon = pc.cast(pc.list_element(coords, 0), pa.string())
    lat = pc.cast(pc.list_element(coords, 1), pa.string())
    kind = combined.field("type")
    text = pc.binary_join_element_wise('{"type":"', kind, '","coordinates":[', lon, ",", lat, "]}", "")
    return pc.if_else(pc.and_(pc.is_valid(combined), usable), text, pa.scalar(None, pa.string()))


def _to_json_text(col: pa.ChunkedArray) -> pa.Array:
    """Fallback for any other nested value: JSON text, value by value (rare, small)."""
    return pa.array(
        [None if v is None else json.dumps(v, separators=(",", ":")) for v in col.to_pylist()],
        type=pa.string(),
    )


def _as_string(name: str, col: pa.ChunkedArray) -> pa.Array | pa.ChunkedArray:
    t = col.type
    if pa.types.is_string(t):
        return col
    if pa.types.is_large_string(t) or pa.types.is_dictionary(t):
        return pc.cast(col, pa.string())
    if pa.types.is_null(t):
        return pa.nulls(len(col), pa.string())
    if pa.types.is_struct(t) and {f.name for f in t} >= {"type", "coordinates"}:
        return _point_to_geojson(col)
    if pa.types.is_nested(t):
        return _to_json_text(col)
    if pa.types.is_boolean(t):
        return pc.if_else(col, "true", "false")
    return pc.cast(col, pa.string())


def to_delivered_table(table: pa.Table, spec: DatasetSpec) -> pa.Table:
    """Rename API fields to raw column names, make every column a string, and add the spec's
    known columns that this page lacks as nulls (so raw always has the full, stable column set)."""
    columns: dict[str, Any] = {}
    for field_name, col in zip(table.column_names, table.columns, strict=True):
        name = column_name(spec.field_for_header(field_name))
        if not name:
            continue
        value = _as_string(name, col)
        # Two fields naming one column (`:updated_at` and `socrata_updated_at`, a repeated CSV
        # header): the first value that is present wins, row by row.
        columns[name] = pc.coalesce(columns[name], value) if name in columns else value
    for known in spec.columns:
        columns.setdefault(known, pa.nulls(table.num_rows, pa.string()))
    return pa.table(list(columns.values()), names=list(columns))


def rows_to_table(rows: list[dict[str, Any]], spec: DatasetSpec) -> pa.Table:
    """A page of JSON objects → delivered table. Arrow infers the page in C++; a page whose
    values mix types (a number where strings are expected) falls back to strings per value."""
    if not rows:
        return to_delivered_table(pa.table({}), spec).slice(0, 0)
    try:
        struct = pa.array(rows)
        table = pa.Table.from_struct_array(struct)
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        table = pa.table(_stringify_columns(rows))
    return to_delivered_table(table, spec)


def _stringify_columns(rows: Iterable[dict[str, Any]]) -> dict[str, pa.Array]:
    rows = list(rows)
    keys: dict[str, None] = {}
    for r in rows:
        keys.update(dict.fromkeys(r))
    out: dict[str, pa.Array] = {}
    for k in keys:
        values = []
        for r in rows:
            v = r.get(k)
            if v is None or isinstance(v, str):
                values.append(v)
            elif isinstance(v, (dict, list)):
                values.append(orjson.dumps(v).decode())
            else:
                values.append(str(v))
        out[k] = pa.array(values, type=pa.string())
    return out


def rejected_rows(table: pa.Table, spec: DatasetSpec, reason: str) -> pa.Table:
    """Keyless rows as (dataset, reason, record JSON): a shape that never breaks on new columns."""
    records = [
        orjson.dumps({k: v for k, v in row.items() if v is not None and not k.startswith("_dlt")}).decode()
        for row in table.to_pylist()
    ]
    n = len(records)
    return pa.table(
        {
            "dataset": pa.array([spec.name] * n, pa.string()),
            "reason": pa.array([reason] * n, pa.string()),
            "record": pa.array(records, pa.string()),
        }
    )
