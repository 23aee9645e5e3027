"""The bronze → raw sync's own steps, on a small bronze folder built by the test."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from dlt.common.destination.client import SqlModel
from fsspec.implementations.local import LocalFileSystem

from crashes.config import get_settings
from crashes.errors import CrashesError
from ingestion.bronze import Bronze, bronze_pipeline, open_bronze
from ingestion.datasets import DATASETS
from ingestion.exports import plan_replay
from ingestion.pipeline import ingest, sync_raw
from ingestion.raw import SyncCounts, bronze_to_raw, raw_pipeline, staged_dir, synced_loads
from ingestion.replay import replay_source
from tests.ingestion.helpers import bronze_files, raw_count, raw_query


class CountingFileSystem(LocalFileSystem):
    def __init__(self) -> None:
        super().__init__()
        self.listed: list[str] = []

    def ls(self, path: str, detail: bool = True, **kwargs: object) -> list:
        self.listed.append(str(path).rstrip("/"))
        return super().ls(path, detail=detail, **kwargs)


def test_a_dataset_folder_is_listed_once_for_all_pending_loads(crashes_home: Path, tmp_path: Path) -> None:
    spec = DATASETS["crashes"]
    folder = tmp_path / "chicago" / spec.table
    folder.mkdir(parents=True)
    loads = ["1700000001.1", "1700000002.2", "1700000003.3"]
    for n, load_id in enumerate(loads):
        table = pa.table({"crash_record_id": [f"k{n}"], "socrata_updated_at": [None], "_dlt_load_id": [load_id]})
        pq.write_table(table, folder / f"{load_id}.file{n}.parquet")
    fs = CountingFileSystem()
    bronze = Bronze(fs, str(tmp_path / "chicago"))
    settings = get_settings()

    raw_pipeline(settings).run(bronze_to_raw(bronze, loads[1:], SyncCounts(), settings.warehouse_path))

    assert raw_query(crashes_home, "select crash_record_id, _bronze_load_id from raw.crashes order by 1") == [
        ("k1", loads[1]),
        ("k2", loads[2]),
    ]
    assert fs.listed.count(str(folder)) == 1


def _ndjson(path: Path, records: list[dict]) -> Path:
    path.write_text("\n".join(json.dumps(r) for r in records) + "\n")
    return path


CRASH = {"crash_record_id": "a1", "crash_date": "2024-05-01T10:00:00.000", "hit_and_run_i": "Y"}


def test_columns_named_like_duckdbs_file_columns_are_kept(crashes_home: Path, tmp_path: Path) -> None:
    """Bronze keeps unknown columns; ones called `filename` or `file_row_number` (the names of
    DuckDB's own parquet file columns) must neither break the sync nor lose their values."""
    records = [{**CRASH, "filename": "photo.jpg", "file_row_number": "7"}, {**CRASH, "crash_record_id": "b1"}]
    result = ingest(source="replay", path=_ndjson(tmp_path / "crashes.jsonl", records))

    assert result.raw_rows == {"crashes": 2, "vehicles": 0, "people": 0}
    assert raw_query(crashes_home, "select crash_record_id, filename, file_row_number from raw.crashes order by 1") == [
        ("a1", "photo.jpg", "7"),
        ("b1", None, None),
    ]


def test_a_replay_of_crashes_alone_gives_raw_every_dataset_table(crashes_home: Path, tmp_path: Path) -> None:
    """Every dbt build reads all three raw tables: a first replay of a crashes export alone
    still creates vehicles and people, empty, with every known column, or the build fails."""
    result = ingest(source="replay", path=_ndjson(tmp_path / "crashes.jsonl", [CRASH]))

    assert result.raw_rows == {"crashes": 1, "vehicles": 0, "people": 0}
    for name, spec in DATASETS.items():
        columns = {
            r[0]
            for r in raw_query(
                crashes_home,
                "select column_name from information_schema.columns where table_schema = 'raw' and table_name = ?",
                [name],
            )
        }
        assert set(spec.columns) | {"_dlt_load_id", "_bronze_load_id"} <= columns, name
    unit = {"crash_unit_id": "u1", "crash_record_id": "a1", "crash_date": "2024-05-01T10:00:00.000"}
    again = ingest(source="replay", path=_ndjson(tmp_path / "vehicles.jsonl", [unit]))
    assert again.raw_rows == {"crashes": 1, "vehicles": 1, "people": 0}


def test_unreadable_bronze_gives_one_clear_error_and_loses_nothing(crashes_home: Path, tmp_path: Path) -> None:
    ingest(source="replay", path=_ndjson(tmp_path / "crashes_1.jsonl", [CRASH]))
    settings = get_settings()
    bronze_pipeline(settings).run(
        replay_source(plan_replay(_ndjson(tmp_path / "crashes_2.jsonl", [{**CRASH, "crash_record_id": "b1"}]))),
        loader_file_format="parquet",
    )
    newest = bronze_files(crashes_home, "crashes")[-1]
    good = newest.read_bytes()
    newest.write_bytes(good[: len(good) // 2])

    with pytest.raises(CrashesError, match="reading bronze for raw") as raised:
        sync_raw(settings)
    assert "\n" not in str(raised.value)

    newest.write_bytes(good)  # once bronze is readable again, the next sync takes the load
    loads, _ = sync_raw(settings)
    assert len(loads) == 1
    assert raw_count(crashes_home, "crashes") == 2


def test_an_append_job_run_again_after_a_kill_leaves_one_row_per_key(crashes_home: Path, tmp_path: Path) -> None:
    """The window append opens: DuckDB committed the job's insert, the process died before dlt
    marked the job done, and dlt runs the job again on the next sync. Rows stay one per key."""
    ingest(source="replay", path=_ndjson(tmp_path / "crashes_1.jsonl", [CRASH]))
    settings = get_settings()
    bronze_pipeline(settings).run(
        replay_source(
            plan_replay(_ndjson(tmp_path / "crashes_2.jsonl", [{**CRASH, "crash_record_id": k} for k in "bcd"]))
        ),
        loader_file_format="parquet",
    )
    raw = raw_pipeline(settings)
    pending = [lid for lid in open_bronze(settings).completed_loads() if lid not in synced_loads(settings)]
    raw.extract(bronze_to_raw(open_bronze(settings), pending, SyncCounts(), settings.warehouse_path))
    raw.normalize()
    (package,) = raw.list_normalized_load_packages()
    job = next((Path(raw.working_dir) / "load" / "normalized" / package / "new_jobs").glob("crashes.*.model"))
    with job.open() as f, duckdb.connect(str(settings.warehouse_path)) as con:  # the insert DuckDB had committed
        con.execute(f"insert into raw.crashes by name {SqlModel.from_file(f).to_sql()}")
    assert raw_count(crashes_home, "crashes") == 4

    loads, _ = sync_raw(settings)

    assert loads == []  # the interrupted package held the pending load
    assert sorted(r[0] for r in raw_query(crashes_home, "select crash_record_id from raw.crashes")) == [
        "a1",
        "b",
        "c",
        "d",
    ]


def test_a_pending_load_finds_its_skip_list_and_a_finished_sync_leaves_none(crashes_home: Path, tmp_path: Path) -> None:
    """Raw's rows go as a SQL model that skips older versions by a list staged beside the load
    package: a package left pending by a dead run still needs it, a finished sync does not."""
    ingest(source="replay", path=_ndjson(tmp_path / "crashes_1.jsonl", [{**CRASH, "crash_record_id": "z1"}]))
    settings = get_settings()
    versions = [{**CRASH, "hit_and_run_i": "Y"}, {**CRASH, "hit_and_run_i": "N"}, {**CRASH, "crash_record_id": "b1"}]
    bronze_pipeline(settings).run(
        replay_source(plan_replay(_ndjson(tmp_path / "crashes_2.jsonl", versions))), loader_file_format="parquet"
    )
    raw = raw_pipeline(settings)
    pending = [lid for lid in open_bronze(settings).completed_loads() if lid not in synced_loads(settings)]
    raw.extract(bronze_to_raw(open_bronze(settings), pending, SyncCounts(), settings.warehouse_path))
    raw.normalize()  # the run dies here, before the load
    assert len(list(staged_dir(raw).glob("*.parquet"))) == 1

    loads, _ = sync_raw(settings)

    assert loads == []  # the pending package held the load
    # The later delivery of a1 wins: the skip list dropped the earlier one.
    assert raw_query(crashes_home, "select crash_record_id, hit_and_run_i from raw.crashes order by 1") == [
        ("a1", "N"),
        ("b1", "Y"),
        ("z1", "Y"),
    ]
    assert not staged_dir(raw).exists()
