"""Portal export files: which dataset a file holds (from its name), what a replay will read, and
reading them as delivered Arrow tables, the shapes the API source yields, so both take the same
bronze → raw path (`ingestion/replay.py` makes them a dlt source).

Accepts a file or a folder of CSV (upper-case display names or lower-case field names, BOM,
CRLF, quoted line breaks), JSON arrays, NDJSON or parquet, each optionally gzipped (told by its
magic bytes, whatever the name). Unless given, the dataset comes from the file's columns (the
key it holds, `ingestion.datasets.identify_dataset`), else from its name (`people`/`person` →
people, `vehicle` → vehicles, anything else → crashes). Each file's shape (portal export,
spreadsheet re-save, API) is detected and its values normalised by `ingestion/shapes.py`.

Free of dlt: the devserver shares the naming rule without loading it.
"""

from __future__ import annotations

import codecs
import csv
import gzip
import io
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import BinaryIO

import orjson
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.json as pajson
import pyarrow.parquet as pq

from crashes.errors import CrashesError
from ingestion.datasets import DATASETS, SYSTEM_FIELDS, DatasetSpec, identify_dataset
from ingestion.records import rows_to_table, to_delivered_table
from ingestion.shapes import SHAPE_COLUMN, FileShape, detect_values, header_shape, normalise
from ingestion.streams import prefetch

SUFFIXES = (".csv", ".json", ".jsonl", ".ndjson", ".parquet")


def base_suffix(path: Path) -> str:
    """The format suffix, looking through a `.gz`: `x.csv.gz` → `.csv`."""
    name = path.name.lower()
    return Path(name[:-3]).suffix if name.endswith(".gz") else path.suffix.lower()


def is_export(path: Path) -> bool:
    return base_suffix(path) in SUFFIXES


def dataset_for_file(path: Path) -> str | None:
    """`people`/`person` → people, `vehicle` → vehicles, `crash` → crashes (checked in that order,
    so `traffic_crash_vehicle.csv` is vehicles); None for other names and for non-export files.
    What to do with a None is the caller's choice (the replay assumes crashes and checks the header)."""
    if not is_export(path):
        return None
    name = path.name.lower()
    if "people" in name or "person" in name:
        return "people"
    if "vehicle" in name:
        return "vehicles"
    if "crash" in name:
        return "crashes"
    return None


# Rows per table handed to dlt. dlt pays per table (it computes and validates the table's schema,
# 53 column hints, each time: ≈ 50 ms of the main thread), so a yearly export file goes whole:
# 10 tables for the real crashes instead of 16 at 100,000, about a second less a replay.
CHUNK_ROWS = 250_000
# Rows parsed one by one are Python dicts (≈ 3 KB each) until converted: fewer at a time.
DICT_ROWS = 100_000


@dataclass
class ReplayPlan:
    """What a replay will read, decided before anything is loaded."""

    files: dict[str, list[Path]] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)
    # Each file's shape, as read (filled while the tables are read).
    shapes: dict[Path, FileShape] = field(default_factory=dict)

    def tables(self, dataset: str) -> Iterator[pa.Table]:
        """The dataset's delivered tables in file order, read one table ahead of the caller (in a
        background thread: Arrow's readers release the GIL while dlt writes the current one)."""
        return prefetch(_read_files(self.files[dataset], DATASETS[dataset], self.shapes))


def infer_dataset(path: Path) -> str:
    """The dataset the file's columns hold; else the one its name says (the rule the devserver
    uses too); else crashes: the header check then refuses a file that is not one."""
    return identify_dataset(peek_fields(path)) or dataset_for_file(path) or "crashes"


def plan_replay(path: Path, dataset: str | None = None) -> ReplayPlan:
    if dataset is not None and dataset not in DATASETS:
        raise CrashesError(f"--dataset must be one of {', '.join(DATASETS)}, got {dataset!r}")
    if not path.exists():
        raise CrashesError(f"--path {path} does not exist")
    candidates = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    plan = ReplayPlan()
    for f in candidates:
        if not is_export(f):
            if path.is_file():
                raise CrashesError(f"{f.name}: not a CSV, JSON, NDJSON or parquet export (.gz allowed)")
            plan.skipped.append(f"{f.name}: not an export file")
            continue
        if f.stat().st_size == 0:
            plan.skipped.append(f"{f.name}: empty file")
            continue
        plan.files.setdefault(dataset or infer_dataset(f), []).append(f)
    if not plan.files:
        reasons = "; ".join(plan.skipped) or "no files"
        raise CrashesError(f"nothing to replay under {path} ({reasons})")
    return plan


def is_gzip(path: Path) -> bool:
    """By the magic bytes: a browser or a user may drop or add the `.gz`."""
    with open(path, "rb") as fh:
        return fh.read(2) == b"\x1f\x8b"


def _open_binary(path: Path) -> BinaryIO:
    return gzip.open(path, "rb") if is_gzip(path) else open(path, "rb")  # noqa: SIM115


def _open(path: Path) -> pa.NativeFile:
    return pa.input_stream(str(path), compression="gzip" if is_gzip(path) else None)


@dataclass(frozen=True)
class CsvDialect:
    encoding: str = "utf-8"
    delimiter: str = ","


DELIMITERS = (",", ";", "\t", "|")


def csv_dialect(path: Path) -> CsvDialect:
    stat = path.stat()
    return _dialect(str(path), stat.st_mtime_ns, stat.st_size)


@lru_cache(maxsize=64)
def _dialect(name: str, _mtime: int, _size: int) -> CsvDialect:
    """UTF-8 unless the bytes are not (a spreadsheet saves Windows-1252: then that), and the
    delimiter the header line uses most (a spreadsheet in a European locale writes `;`, its
    "text" export tabs). Column names hold none of these."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    encoding = "utf-8"
    first = b""
    with _open_binary(Path(name)) as fh:
        while chunk := fh.read(16 << 20):
            first = first or chunk[: chunk.find(b"\n") if b"\n" in chunk else len(chunk)]
            try:
                decoder.decode(chunk)
            except UnicodeDecodeError:
                encoding = "cp1252"
                break
    line = first.decode(encoding, "replace")
    delimiter = max(DELIMITERS, key=line.count) if any(d in line for d in DELIMITERS) else ","
    return CsvDialect(encoding, delimiter)


def _csv_header(path: Path, dialect: CsvDialect | None = None) -> list[str]:
    dialect = dialect or csv_dialect(path)
    encoding = "utf-8-sig" if dialect.encoding == "utf-8" else dialect.encoding
    with io.TextIOWrapper(_open_binary(path), encoding=encoding, errors="replace", newline="") as fh:
        return next(csv.reader(fh, delimiter=dialect.delimiter), [])


# JSON object keys in a file's first bytes: enough to tell which dataset a JSON file holds.
_JSON_KEY = re.compile(rb'"((?:[^"\\]|\\.)+)"\s*:')
PEEK_BYTES = 1 << 16


def peek_fields(path: Path) -> list[str]:
    """The column names a file starts with, cheaply: a CSV's header, parquet's schema, the keys
    of a JSON file's first records. Empty when the file cannot be read that way."""
    suffix = base_suffix(path)
    try:
        if suffix == ".csv":
            return _csv_header(path)
        if suffix == ".parquet":
            return pq.read_schema(str(path)).names
        with _open_binary(path) as fh:
            head = fh.read(PEEK_BYTES)
        return list(dict.fromkeys(k.decode("utf-8", "replace") for k in _JSON_KEY.findall(head)))
    except (OSError, ValueError, pa.ArrowException, csv.Error):
        return []


def _json_schema(spec: DatasetSpec) -> pa.Schema:
    """Known fields read as strings, so pyarrow never turns `2024-01-01T00:00:00` into a timestamp."""
    names = [*spec.columns, *SYSTEM_FIELDS, ":@computed_region_rpca_8um6"]
    point = pa.struct([("type", pa.string()), ("coordinates", pa.list_(pa.float64()))])
    return pa.schema([(n, point if n == "location" else pa.string()) for n in names])


def _read_ndjson(path: Path, spec: DatasetSpec) -> Iterator[pa.Table]:
    """Fast path: Arrow's multi-threaded JSON reader. If a value is not the type Socrata
    delivers (a number, or an unknown field Arrow typed), re-read exactly, line by line."""
    try:
        with _open(path) as stream:
            table = pajson.read_json(
                stream,
                read_options=pajson.ReadOptions(block_size=8 << 20),
                parse_options=pajson.ParseOptions(
                    explicit_schema=_json_schema(spec), unexpected_field_behavior="infer"
                ),
            )
        exact = all(
            pa.types.is_string(f.type) or f.name == "location" or pa.types.is_null(f.type) for f in table.schema
        )
    except pa.ArrowInvalid:
        exact = False
    if exact:
        # Large slices (zero-copy) rather than Arrow's small read blocks: dlt's cost is per table.
        for start in range(0, table.num_rows, CHUNK_ROWS):
            yield to_delivered_table(table.slice(start, CHUNK_ROWS), spec)
        return
    yield from _read_lines(path, spec)


def _read_lines(path: Path, spec: DatasetSpec) -> Iterator[pa.Table]:
    rows: list[dict] = []
    with _open_binary(path) as fh:
        for n, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                rows.append(orjson.loads(line))
            except orjson.JSONDecodeError:
                # A garbled line is kept, as text, under the key-less rejects rather than lost.
                rows.append({"_unparsed_line": line.decode("utf-8", "replace").strip(), "_line": str(n)})
            if len(rows) >= DICT_ROWS:
                yield rows_to_table(rows, spec)
                rows = []
    if rows:
        yield rows_to_table(rows, spec)


def _read_json_array(path: Path, spec: DatasetSpec) -> Iterator[pa.Table]:
    with _open(path) as fh:
        raw = fh.read()
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError:
        # Not one JSON document: maybe NDJSON saved as .json.
        yield from _read_ndjson(path, spec)
        return
    if isinstance(data, dict):
        data = [data]
    if not isinstance(data, list):
        raise CrashesError(f"{path.name}: expected a JSON array of records")
    for start in range(0, len(data), DICT_ROWS):
        yield rows_to_table(data[start : start + DICT_ROWS], spec)


def check_header(path: Path, spec: DatasetSpec, names: list[str]) -> None:
    """Refuse a file whose header is not this dataset's: it needs the key, and most of its columns
    must be fields the dataset knows (a vehicles export has crash_record_id too)."""
    known = set(spec.columns) | set(SYSTEM_FIELDS) | {"rd_no", ":@computed_region_rpca_8um6"}
    mapped = [spec.field_for_header(n) for n in names]
    share = sum(m in known for m in mapped) / max(len(mapped), 1)
    if spec.key not in mapped or share < 0.5:
        raise CrashesError(
            f"{path.name}: header does not look like a {spec.name} export (no {spec.key} column or "
            f"mostly unknown columns; first columns: {', '.join(names[:4])}); "
            "pass --dataset crashes|vehicles|people if the file name misleads"
        )


def _read_csv(path: Path, spec: DatasetSpec) -> Iterator[pa.Table]:
    dialect = csv_dialect(path)
    names = _csv_header(path, dialect)
    check_header(path, spec, names)
    with _open(path) as stream:
        reader = pacsv.open_csv(
            stream,
            read_options=pacsv.ReadOptions(block_size=16 << 20, encoding=dialect.encoding),
            # Exports quote free text (street names, carrier names) that may hold line breaks.
            parse_options=pacsv.ParseOptions(newlines_in_values=True, delimiter=dialect.delimiter),
            convert_options=pacsv.ConvertOptions(
                column_types={n: pa.string() for n in names}, strings_can_be_null=True
            ),
        )
        for batch in reader:
            yield to_delivered_table(pa.Table.from_batches([batch]), spec)


def _read_parquet(path: Path, spec: DatasetSpec) -> Iterator[pa.Table]:
    with pq.ParquetFile(str(path)) as pf:
        for batch in pf.iter_batches(batch_size=CHUNK_ROWS):
            yield to_delivered_table(pa.Table.from_batches([batch]), spec)


READERS = {
    ".csv": _read_csv,
    ".json": _read_json_array,
    ".jsonl": _read_ndjson,
    ".ndjson": _read_ndjson,
    ".parquet": _read_parquet,
}


def _container(path: Path) -> str:
    kind = {".csv": "CSV", ".json": "JSON", ".jsonl": "NDJSON", ".ndjson": "NDJSON", ".parquet": "parquet"}
    parts = [kind[base_suffix(path)]]
    if kind[base_suffix(path)] == "CSV":
        dialect = csv_dialect(path)
        if dialect.encoding != "utf-8":
            parts.append(dialect.encoding)
        if dialect.delimiter != ",":
            parts.append(f"{dialect.delimiter!r}-delimited")
    if is_gzip(path):
        parts.append("gzipped")
    return ", ".join(parts)


def read_export(path: Path, spec: DatasetSpec, shapes: dict[Path, FileShape] | None = None) -> Iterator[pa.Table]:
    """The file's delivered tables, its values in the API's shapes (`ingestion/shapes.py`); the
    shape detected from its header and first table goes into `shapes`."""
    suffix = base_suffix(path)
    headers = peek_fields(path) if suffix in (".csv", ".parquet") else []
    shape = header_shape(spec, headers, _container(path))
    for n, table in enumerate(READERS[suffix](path, spec)):
        if n == 0:
            detect_values(shape, table, spec)
            if shapes is not None:
                shapes[path] = shape
        if SHAPE_COLUMN in table.column_names:  # a bronze file replayed: it is labelled anew
            table = table.drop_columns([SHAPE_COLUMN])
        yield normalise(table, spec, shape)


def _read_files(files: list[Path], spec: DatasetSpec, shapes: dict[Path, FileShape]) -> Iterator[pa.Table]:
    for path in files:
        yield from read_export(path, spec, shapes)
