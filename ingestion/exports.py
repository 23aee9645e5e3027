"""Portal export files: which dataset a file holds (from its name), what a replay will read, and
reading them as delivered Arrow tables, the shapes the API source yields, so both take the same
bronze → raw path (`ingestion/replay.py` makes them a dlt source).

Accepts a file or a folder of CSV (upper-case display names or lower-case field names), JSON
arrays, NDJSON or parquet, each optionally gzipped. The dataset comes from the file name
(`people`/`person` → people, `vehicle` → vehicles, anything else → crashes) unless given.

Free of dlt: the devserver shares the naming rule without loading it.
"""

from __future__ import annotations

import csv
import gzip
import io
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

import orjson
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.json as pajson
import pyarrow.parquet as pq

from crashes.errors import CrashesError
from ingestion.datasets import DATASETS, SYSTEM_FIELDS, DatasetSpec
from ingestion.records import rows_to_table, to_delivered_table
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

    def tables(self, dataset: str) -> Iterator[pa.Table]:
        """The dataset's delivered tables in file order, read one table ahead of the caller (in a
        background thread: Arrow's readers release the GIL while dlt writes the current one)."""
        return prefetch(_read_files(self.files[dataset], DATASETS[dataset]))


def infer_dataset(path: Path) -> str:
    """The dataset named by the file (the rule the devserver uses too), else crashes: the header
    check then refuses a file that is not one."""
    return dataset_for_file(path) or "crashes"


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


def _open_binary(path: Path) -> BinaryIO:
    return gzip.open(path, "rb") if path.name.lower().endswith(".gz") else open(path, "rb")  # noqa: SIM115


def _open(path: Path) -> pa.NativeFile:
    return pa.input_stream(str(path), compression="gzip" if path.name.lower().endswith(".gz") else None)


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
    with io.TextIOWrapper(_open_binary(path), encoding="utf-8-sig", errors="replace", newline="") as fh:
        names = next(csv.reader(fh), [])
    check_header(path, spec, names)
    with _open(path) as stream:
        reader = pacsv.open_csv(
            stream,
            read_options=pacsv.ReadOptions(block_size=16 << 20),
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


def read_export(path: Path, spec: DatasetSpec) -> Iterator[pa.Table]:
    yield from READERS[base_suffix(path)](path, spec)


def _read_files(files: list[Path], spec: DatasetSpec) -> Iterator[pa.Table]:
    for path in files:
        yield from read_export(path, spec)
