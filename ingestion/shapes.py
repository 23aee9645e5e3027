"""The shapes an export file comes in, told apart from the file itself, and its values put into
the API's shapes: ISO floating timestamps, GeoJSON points, `Y`/`N` flags.

Where normalisation happens, and why here. Bronze keeps a delivery "as delivered", and a portal
or spreadsheet export is the same Socrata records rendered for people: `09/05/2023 07:05:00 PM`
is `2023-09-05T19:05:00.000`, `POINT (-87.6 41.8)` is the API's GeoJSON point. Normalising at
read, before bronze, keeps one shape in bronze whatever the source, so the raw sync (which ranks
on the key, named by the API) and dbt staging (which casts the API's shapes) need no knowledge of
export files, and a bronze rebuild of raw never meets a shape staging cannot type. The rendering
is recorded instead of kept: every row of a replayed file carries its file's shape in
`_export_shape`, and the ingest summary names it per file. Nothing is lost on the way: a value no
rule recognises (a garbled date) goes to bronze exactly as delivered, so staging counts it.

Per file: its naming (field names, the portal's upper-case display names, former names), its
timestamp rendering (read from the first table: spreadsheet serial days are accepted only in a
file whose dates are mostly numbers, so a stray number in an ISO file stays garbled, not a 1900
date) and its location rendering. Conversion is set-based, one DuckDB statement per table, and
skipped entirely for a table already in the API's shapes (the JSON path pays one regex check).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from crashes.sql import ident
from ingestion.datasets import SYSTEM_FIELDS, DatasetSpec

SHAPE_COLUMN = "_export_shape"
REGION = ":@computed_region_rpca_8um6"  # the portal's computed ZIP region: known, not retired

# The API's own rendering of a floating timestamp.
API_TIMESTAMP = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}$"
# Other ISO renderings (no milliseconds, a space for the T, microseconds): DuckDB casts them.
ISO_LIKE = r"^\s*\d{4}-\d{1,2}-\d{1,2}([T ]\d{1,2}:\d{2}(:\d{2}(\.\d+)?)?)?\s*$"
# US month-first renderings: the portal's `09/05/2023 07:05:00 PM` and what spreadsheets write
# when re-saving as CSV (`9/5/2023 19:05`, `9/5/23 7:05 PM`). Month first is the portal's order.
US_4 = r"^\s*\d{1,2}/\d{1,2}/\d{4}(\s.*)?$"
US_2 = r"^\s*\d{1,2}/\d{1,2}/\d{2}(\s.*)?$"
US_FORMATS_4 = ["%m/%d/%Y %I:%M:%S %p", "%m/%d/%Y %I:%M %p", "%m/%d/%Y %H:%M:%S", "%m/%d/%Y %H:%M", "%m/%d/%Y"]
US_FORMATS_2 = [f.replace("%Y", "%y") for f in US_FORMATS_4]
# A spreadsheet's serial day number: days since 1899-12-30 (so 45000.5 = 2023-03-15 12:00),
# below 2,958,466 (9999-12-31). Rounded to the second: a re-save keeps ~15 significant digits.
SERIAL = r"^\s*\d{1,7}(\.\d+)?\s*$"
SERIAL_MAX = 2_958_466
WKT_POINT = r"^\s*(?i:POINT)\s*\(\s*([-+0-9.eE]+)\s+([-+0-9.eE]+)\s*\)\s*$"
FLAG_WORDS = {"true": "Y", "false": "N", "yes": "Y", "no": "N"}
# Rows of a file's first table that its value renderings are detected from.
SAMPLE_ROWS = 5_000
OUT_FORMAT = "%Y-%m-%dT%H:%M:%S.%g"

TIMESTAMP_KINDS = {
    "iso": "ISO",
    "us": "MM/DD/YYYY hh:mm:ss AM",
    "serial": "spreadsheet serial days",
    "other": "unrecognised",
}


@dataclass
class FileShape:
    """How one file renders the records; `label` is what the ingest summary says."""

    dataset: str
    container: str  # CSV, JSON, NDJSON, parquet (+ gzip)
    display_names: bool = False  # upper-case portal display names rather than API field names
    renamed: dict[str, str] = field(default_factory=dict)  # former name → today's, as found
    retired: list[str] = field(default_factory=list)  # columns today's spec no longer has
    timestamps: str = "iso"  # a key of TIMESTAMP_KINDS, or "none"
    wkt_location: bool = False
    word_flags: bool = False

    @property
    def kind(self) -> str:
        if self.timestamps == "serial":
            return "spreadsheet re-save"
        if self.display_names or self.timestamps == "us":
            return "portal CSV export" if self.container.startswith("CSV") else "portal export"
        if self.container.startswith(("JSON", "NDJSON")):
            return "API JSON"
        return "API CSV" if self.container.startswith("CSV") else "API fields"

    @property
    def label(self) -> str:
        parts = [
            "display names" if self.display_names else "field names",
            f"{TIMESTAMP_KINDS.get(self.timestamps, 'no')} timestamps",
        ]
        if self.wkt_location:
            parts.append("WKT location")
        if self.word_flags:
            parts.append("true/false flags")
        if self.renamed:
            parts.append("former names " + ", ".join(f"{a} → {b}" for a, b in self.renamed.items()))
        if self.retired:
            parts.append("retired columns kept: " + ", ".join(self.retired))
        return f"{self.dataset}, {self.kind} ({self.container}; {'; '.join(parts)})"


def header_shape(spec: DatasetSpec, headers: list[str], container: str) -> FileShape:
    """What a file's column names say: display names, former names, retired columns."""
    shape = FileShape(dataset=spec.name, container=container)
    names = [h.strip().strip('"').lstrip("\ufeff") for h in headers]
    letters = [n for n in names if any(c.isalpha() for c in n) and not n.startswith(":")]
    shape.display_names = bool(letters) and sum(n.isupper() for n in letters) > len(letters) / 2
    known = {*spec.columns, *SYSTEM_FIELDS, *SYSTEM_FIELDS.values(), REGION, REGION.lstrip(":@")}
    for n in names:
        plain = n.lower().replace(" ", "_")
        if plain in spec.former_names and n not in spec.display_name_overrides:
            # The portal still shows private_property_i as NOT_RIGHT_OF_WAY_I: a display name,
            # not a former name, in a file of display names.
            if not (shape.display_names and n.isupper()):
                shape.renamed[plain] = spec.former_names[plain]
        elif spec.field_for_header(n) not in known and not n.startswith((":", "_")) and plain != SHAPE_COLUMN:
            shape.retired.append(plain)
    return shape


def _counts(col: pa.ChunkedArray | pa.Array, pattern: str) -> int:
    return pc.sum(pc.match_substring_regex(col, pattern)).as_py() or 0


def detect_values(shape: FileShape, table: pa.Table, spec: DatasetSpec) -> FileShape:
    """Fill in the value renderings from the start of a file's first (delivered) table."""
    table = table.slice(0, SAMPLE_ROWS)
    date = table.column(spec.date_field) if spec.date_field in table.column_names else None
    if date is None or date.null_count == len(date):
        shape.timestamps = "none"
    else:
        iso = _counts(date, ISO_LIKE)
        us = _counts(date, US_4) + _counts(date, US_2)
        serial = _counts(date, SERIAL)
        found = max((iso, "iso"), (us, "us"), (serial, "serial"))
        shape.timestamps = found[1] if found[0] else "other"
    if "location" in table.column_names:
        shape.wkt_location = _counts(table.column("location"), WKT_POINT) > 0
    shape.word_flags = any(_has_flag_words(table.column(c)) for c in spec.flag_columns if c in table.column_names)
    return shape


def _longest(col: pa.ChunkedArray) -> int:
    """The longest value's length in bytes, from the offsets alone (no pass over the text)."""
    return pc.max(pc.binary_length(col)).as_py() or 0


def _has_flag_words(col: pa.ChunkedArray) -> bool:
    # The API's flags are one letter (Y, N, U): a column of those is checked by its offsets.
    if _longest(col) <= 1:
        return False
    return pc.any(pc.is_in(pc.utf8_lower(pc.utf8_trim_whitespace(col)), pa.array(list(FLAG_WORDS)))).as_py() or False


def _timestamp_sql(column: str, serial: bool) -> str:
    c = ident(column)
    parsed = [
        f"when regexp_matches({c}, '{ISO_LIKE}') then try_cast(trim({c}) as timestamp)",
        f"when regexp_matches({c}, '{US_4}') then try_strptime(trim({c}), {US_FORMATS_4})",
        f"when regexp_matches({c}, '{US_2}') then try_strptime(trim({c}), {US_FORMATS_2})",
    ]
    if serial:
        parsed.append(
            f"when regexp_matches({c}, '{SERIAL}') and trim({c})::double < {SERIAL_MAX} "
            f"then timestamp '1899-12-30' + to_seconds(round(trim({c})::double * 86400)::bigint)"
        )
    return (
        f"case when regexp_matches({c}, '{API_TIMESTAMP}') then {c} "
        f"else coalesce(strftime(case {' '.join(parsed)} end, '{OUT_FORMAT}'), {c}) end"
    )


def _needs_timestamps(col: pa.ChunkedArray, shape: FileShape) -> bool:
    """Whether any value may not be in the API's rendering. In a file detected as ISO whose
    values all have the API's length (23), none is: told from the offsets, the JSON path's cost."""
    valid = col.length() - col.null_count
    if not valid:
        return False
    if shape.timestamps == "iso" and pc.min_max(pc.binary_length(col)).as_py() == {"min": 23, "max": 23}:
        return False
    return _counts(col, API_TIMESTAMP) < valid


def normalise(table: pa.Table, spec: DatasetSpec, shape: FileShape) -> pa.Table:
    """The table's values in the API's shapes, plus the file's shape on every row."""
    replace: dict[str, str] = {}
    serial = shape.timestamps == "serial"
    for name in spec.timestamp_columns:
        if name in table.column_names and _needs_timestamps(table.column(name), shape):
            replace[name] = _timestamp_sql(name, serial)
    if "location" in table.column_names and _has_wkt(table.column("location")):
        loc = ident("location")
        replace["location"] = (
            f"case when regexp_matches({loc}, '{WKT_POINT}') then "
            f'regexp_replace({loc}, \'{WKT_POINT}\', \'{{"type":"Point","coordinates":[\\1,\\2]}}\') '
            f"else {loc} end"
        )
    for name in spec.flag_columns:
        if name in table.column_names and _has_flag_words(table.column(name)):
            cases = " ".join(f"when '{word}' then '{flag}'" for word, flag in FLAG_WORDS.items())
            replace[name] = f"case lower(trim({ident(name)})) {cases} else {ident(name)} end"
    if replace:
        table = _apply(table, replace)
    return table.append_column(SHAPE_COLUMN, constant_strings(shape.kind, table.num_rows))


def constant_strings(text: str, n: int) -> pa.Array:
    """`n` copies of `text` as a plain string column (bronze holds strings only), built from
    its two buffers at once: a Python list or `pa.repeat` costs a pass per value."""
    data = text.encode()
    offsets = np.arange(n + 1, dtype=np.int32) * len(data)
    return pa.StringArray.from_buffers(n, pa.py_buffer(offsets), pa.py_buffer(data * n))


def _has_wkt(col: pa.ChunkedArray) -> bool:
    # GeoJSON text starts with `{`: a column of those is checked by a prefix compare alone.
    valid = col.length() - col.null_count
    if not valid or pc.sum(pc.starts_with(col, "{")).as_py() == valid:
        return False
    return _counts(col, WKT_POINT) > 0


def _apply(table: pa.Table, replace: dict[str, str]) -> pa.Table:
    exprs = ", ".join(f"{sql} as {ident(name)}" for name, sql in replace.items())
    with duckdb.connect() as con:
        con.register("delivered", table)
        out = con.sql(f"select * replace ({exprs}) from delivered").to_arrow_table()  # noqa: S608 - names quoted
    # Back to plain strings, in the delivered order (DuckDB may hand back large or view strings).
    return pa.table(
        [pc.cast(out.column(n), pa.string()) for n in table.column_names],
        names=table.column_names,
    )
