"""The bronze → raw sync's own steps, on a small bronze folder built by the test."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from fsspec.implementations.local import LocalFileSystem

from ingestion.bronze import Bronze
from ingestion.raw import SyncCounts, _dataset_resource
from ingestion.socrata.settings import DATASETS


class CountingFileSystem(LocalFileSystem):
    def __init__(self) -> None:
        super().__init__()
        self.listed: list[str] = []

    def ls(self, path: str, detail: bool = True, **kwargs: object) -> list:
        self.listed.append(str(path).rstrip("/"))
        return super().ls(path, detail=detail, **kwargs)


def test_a_dataset_folder_is_listed_once_for_all_pending_loads(tmp_path: Path) -> None:
    spec = DATASETS["crashes"]
    folder = tmp_path / "chicago" / spec.table
    folder.mkdir(parents=True)
    loads = ["1700000001.1", "1700000002.2", "1700000003.3"]
    for n, load_id in enumerate(loads):
        table = pa.table({"crash_record_id": [f"k{n}"], "socrata_updated_at": [None], "_dlt_load_id": [load_id]})
        pq.write_table(table, folder / f"{load_id}.file{n}.parquet")
    fs = CountingFileSystem()
    bronze = Bronze(fs, str(tmp_path / "chicago"))

    tables = list(_dataset_resource(spec, bronze, loads[1:], SyncCounts(), None))

    assert sorted(k for t in tables for k in t.column("crash_record_id").to_pylist()) == ["k1", "k2"]
    assert fs.listed.count(str(folder)) == 1
