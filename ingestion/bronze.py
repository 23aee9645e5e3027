"""Bronze: every extraction as delivered, as parquet, one folder per dataset, files named by load.

dlt's filesystem destination writes it (a local folder or `s3://…`: MinIO works through dlt's
standard credentials and endpoint settings). Completed loads are listed from dlt's own
`_dlt_loads` records, so raw can be (re)built from bronze alone, without the API.
"""

from __future__ import annotations

from dataclasses import dataclass

import dlt
import duckdb
from dlt.common.configuration import resolve_configuration
from dlt.common.storages.configuration import FilesystemConfiguration
from dlt.common.storages.fsspec_filesystem import fsspec_from_config
from fsspec import AbstractFileSystem
from fsspec.implementations.local import LocalFileSystem

from crashes.config import Settings, get_settings

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


def bronze_filesystem(settings: Settings | None = None) -> tuple[AbstractFileSystem, str]:
    """An fsspec filesystem and the root path of bronze (a local folder or s3://, e.g. MinIO).

    Credentials resolve exactly as dlt's filesystem destination resolves them (environment
    variables or .dlt/secrets.toml), so readers reach bronze wherever the pipeline writes it."""
    settings = settings or get_settings()
    config = resolve_configuration(
        FilesystemConfiguration(bucket_url=settings.bronze_url), sections=("destination", "filesystem")
    )
    fs, root = fsspec_from_config(config)
    return fs, root.rstrip("/")


class Bronze:
    """Read access to what the bronze pipeline has written (local or remote, via fsspec)."""

    def __init__(self, fs: AbstractFileSystem, root: str) -> None:
        self.fs = fs
        self.root = root

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

    def location(self, file: BronzeFile) -> str:
        """Where DuckDB finds the file once `attach_to` has run: a local path, or a URL."""
        return file.path if self.is_local else self.fs.unstrip_protocol(file.path)

    @property
    def is_local(self) -> bool:
        return isinstance(self.fs, LocalFileSystem)

    def attach_to(self, con: duckdb.DuckDBPyConnection) -> None:
        """Let DuckDB read bronze: local files natively, remote ones through the same fsspec
        filesystem (and credentials) dlt writes them with."""
        if not self.is_local:
            con.register_filesystem(self.fs)


def open_bronze(settings: Settings | None = None) -> Bronze:
    fs, root = bronze_filesystem(settings)
    return Bronze(fs, f"{root}/{DATASET_NAME}")
