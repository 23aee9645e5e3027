"""Bronze: every extraction as delivered, as parquet, one folder per dataset, files named by load.

dlt's filesystem destination writes it (a local folder or `s3://…`: MinIO works through dlt's
standard credentials and endpoint settings). Completed loads are listed from dlt's own
`_dlt_loads` records, so raw can be (re)built from bronze alone, without the API.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import dlt
import pyarrow as pa
import pyarrow.parquet as pq
from dlt.destinations.impl.filesystem.filesystem import FilesystemClient

from crashes.config import Settings

PIPELINE_NAME = "crashes_bronze"
DATASET_NAME = "chicago"


def bronze_pipeline(settings: Settings) -> dlt.Pipeline:
    return dlt.pipeline(
        pipeline_name=PIPELINE_NAME,
        destination=dlt.destinations.filesystem(bucket_url=settings.bronze_url),
        dataset_name=DATASET_NAME,
        pipelines_dir=str(settings.pipelines_dir),
    )


@dataclass(frozen=True)
class BronzeFile:
    table: str
    load_id: str
    path: str
    size: int


class Bronze:
    """Read access to what the bronze pipeline has written (local or remote, via fsspec)."""

    def __init__(self, client: FilesystemClient) -> None:
        self._client = client
        self.fs = client.fs_client
        self.root = client.dataset_path.rstrip("/")

    def completed_loads(self) -> list[str]:
        """Load ids whose packages dlt finished (it writes `_dlt_loads/<schema>__<load_id>.jsonl`
        only after every file of the load is in place)."""
        folder = f"{self.root}/_dlt_loads"
        if not self.fs.exists(folder):
            return []
        ids = []
        for path in self.fs.ls(folder, detail=False):
            name = path.rsplit("/", 1)[-1]
            if name.endswith(".jsonl") and "__" in name:
                ids.append(name[: -len(".jsonl")].split("__", 1)[1])
        return sorted(set(ids), key=float)

    def files(self, table: str, load_id: str | None = None) -> list[BronzeFile]:
        folder = f"{self.root}/{table}"
        if not self.fs.exists(folder):
            return []
        out = []
        for info in self.fs.ls(folder, detail=True):
            name = info["name"].rsplit("/", 1)[-1]
            if not name.endswith(".parquet"):
                continue
            file_load = name.split(".", 2)
            lid = f"{file_load[0]}.{file_load[1]}" if len(file_load) > 2 else file_load[0]
            if load_id is None or lid == load_id:
                out.append(BronzeFile(table, lid, info["name"], int(info.get("size") or 0)))
        return sorted(out, key=lambda f: (float(f.load_id), f.path))

    def read(self, file: BronzeFile) -> Iterator[pa.Table]:
        """Stream a bronze file in record batches so memory stays flat on big loads."""
        with self.fs.open(file.path, "rb") as fh:
            pf = pq.ParquetFile(fh)
            for batch in pf.iter_batches(batch_size=200_000):
                yield pa.Table.from_batches([batch])


@contextmanager
def open_bronze(settings: Settings) -> Iterator[Bronze]:
    with bronze_pipeline(settings).destination_client() as client:
        assert isinstance(client, FilesystemClient)
        yield Bronze(client)
