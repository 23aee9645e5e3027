"""What bronze holds, listed through fsspec: datasets, loads, files and their sizes.

Bronze is dlt's filesystem layout: `<dataset>/<table>/<load_id>.<file_id>.parquet`, with
`_dlt_loads/<schema>__<load_id>.jsonl` written once a load is complete. Listing needs no dlt
import (slow) and works the same for a local folder and `s3://` (MinIO). Row counts come from
parquet footers only, never from reading data.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import pandas as pd
import pyarrow.parquet as pq
from fsspec import AbstractFileSystem

from crashes.config import get_settings
from ingestion.bronze import bronze_filesystem


@dataclass(frozen=True)
class BronzeListing:
    url: str
    files: pd.DataFrame  # table, load_id, loaded_at, complete, path, bytes, rows
    error: str = ""

    @property
    def reachable(self) -> bool:
        return not self.error

    def datasets(self) -> pd.DataFrame:
        if self.files.empty:
            return pd.DataFrame(columns=["table", "loads", "files", "bytes", "rows"])
        return (
            self.files.groupby("table", as_index=False)
            .agg(loads=("load_id", "nunique"), files=("path", "count"), bytes=("bytes", "sum"), rows=("rows", "sum"))
            .sort_values("table")
        )

    def loads(self) -> pd.DataFrame:
        if self.files.empty:
            return pd.DataFrame(columns=["load_id", "loaded_at", "complete", "tables", "files", "bytes", "rows"])
        return (
            self.files.groupby(["load_id", "loaded_at", "complete"], as_index=False)
            .agg(
                tables=("table", lambda t: ", ".join(sorted(set(t)))),
                files=("path", "count"),
                bytes=("bytes", "sum"),
                rows=("rows", "sum"),
            )
            .sort_values("loaded_at", ascending=False)
        )


def _load_time(load_id: str) -> datetime | None:
    """dlt's load ids are the epoch seconds when the load started."""
    try:
        return datetime.fromtimestamp(float(load_id), tz=UTC)
    except (ValueError, OverflowError, OSError):
        return None


def _completed(fs: AbstractFileSystem, root: str) -> set[str]:
    done: set[str] = set()
    for path in fs.glob(f"{root}/*/_dlt_loads/*.jsonl"):
        name = path.rsplit("/", 1)[-1].removesuffix(".jsonl")
        if "__" in name:
            done.add(name.split("__", 1)[1])
    return done


# Row counts by (path, size): a bronze file never changes once written, so its footer is read
# once per server process, not on every rerun of a page (one GET per file on S3).
_ROWS: dict[tuple[str, int], int] = {}


def _rows(fs: AbstractFileSystem, path: str, size: int) -> int | None:
    if (path, size) not in _ROWS:
        try:
            with fs.open(path, "rb") as fh:
                _ROWS[(path, size)] = pq.ParquetFile(fh).metadata.num_rows
        except (OSError, ValueError):
            return None  # not remembered: it may be readable next time
    return _ROWS[(path, size)]


def list_bronze() -> BronzeListing:
    """Every data file in bronze with its load and size; an unreachable bronze says why."""
    url = get_settings().bronze_url
    try:
        fs, root = bronze_filesystem()
        root = root.rstrip("/")
        if not fs.exists(root):
            return BronzeListing(url, pd.DataFrame(), error=f"{url} does not exist yet (nothing ingested)")
        found = fs.glob(f"{root}/**/*.parquet", detail=True)
        completed = _completed(fs, root)
    except Exception as exc:  # noqa: BLE001 - any storage failure is a health fact to show, not a crash
        return BronzeListing(url, pd.DataFrame(), error=f"{type(exc).__name__}: {' '.join(str(exc).split())[:200]}")
    records = []
    for path, info in found.items():
        parts = path.rstrip("/").split("/")
        table, name = parts[-2], parts[-1]
        if table.startswith("_dlt"):
            continue
        pieces = name.split(".")
        load_id = ".".join(pieces[:2]) if len(pieces) > 3 else pieces[0]
        size = int(info.get("size") or 0)
        records.append(
            {
                "table": table,
                "load_id": load_id,
                "loaded_at": _load_time(load_id),
                "complete": load_id in completed,
                "path": path,
                "bytes": size,
                "rows": _rows(fs, path, size),
            }
        )
    frame = pd.DataFrame(records, columns=["table", "load_id", "loaded_at", "complete", "path", "bytes", "rows"])
    return BronzeListing(url, frame.sort_values(["loaded_at", "table"], ascending=[False, True]))
