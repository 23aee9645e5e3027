"""Replay of portal export files through the same bronze → raw path as the API source."""

from __future__ import annotations

import gzip
import json
import shutil
import subprocess
import sys
from pathlib import Path

import duckdb
import pyarrow.parquet as pq
import pytest

from crashes.errors import CrashesError
from ingestion.pipeline import ingest
from tests.ingestion.helpers import bronze_files, raw_count, raw_query


def test_linked_sample_replays_into_bronze_and_raw(crashes_home: Path, shared_data: Path) -> None:
    result = ingest(source="replay", path=shared_data / "linked_2021-12_faithhunja")

    assert result.rows == {"crashes": 1000, "vehicles": 1000, "people": 1000}
    assert {t: raw_count(crashes_home, t) for t in ("crashes", "vehicles", "people")} == {
        "crashes": 1000,
        "vehicles": 1000,
        "people": 1000,
    }
    # Bronze holds the delivery as strings, one folder per dataset.
    table = pq.read_table(bronze_files(crashes_home, "crashes")[0])
    assert table.num_rows == 1000
    assert all(str(f.type) == "string" for f in table.schema if not f.name.startswith("_dlt"))
    # The CSV's older `rd_no` column is not in today's spec: it is kept, not dropped.
    assert "rd_no" in table.column_names
    # people link to vehicles on vehicle_id, exactly as the portal delivered them
    linked = raw_query(
        crashes_home,
        "select count(*) from raw.people p join raw.vehicles v on p.vehicle_id = v.vehicle_id",
    )[0][0]
    assert linked > 0


def test_replaying_twice_never_duplicates(crashes_home: Path, shared_data: Path) -> None:
    folder = shared_data / "linked_2021-12_faithhunja"
    ingest(source="replay", path=folder)
    again = ingest(source="replay", path=folder)

    assert again.rows["crashes"] == 1000  # delivered again, into bronze
    assert raw_count(crashes_home, "crashes") == 1000  # merged on the key in raw
    assert len(bronze_files(crashes_home, "crashes")) == 2  # bronze keeps both deliveries
    loads = raw_query(crashes_home, "select count(*) from raw.bronze_loads")[0][0]
    assert loads == 2


def test_real_year_with_repeated_records_dedupes(crashes_home: Path, shared_data: Path) -> None:
    year_file = shared_data / "crashes_real" / "crashes_2015.jsonl.gz"
    with duckdb.connect() as con:
        delivered, distinct = con.execute(
            "select count(*), count(distinct crash_record_id) from read_ndjson_auto(?)", [str(year_file)]
        ).fetchone()

    result = ingest(source="replay", path=year_file)

    assert result.rows["crashes"] == delivered
    assert raw_count(crashes_home, "crashes") == distinct
    assert result.superseded.get("crashes", 0) == delivered - distinct
    # Values arrive untouched: timestamps keep the API's format, location is GeoJSON text.
    crash_date, location = raw_query(
        crashes_home, "select crash_date, location from raw.crashes where location is not null limit 1"
    )[0]
    assert len(crash_date) == 23 and crash_date[10] == "T"
    assert json.loads(location)["type"] == "Point"


def test_upper_case_display_names_map_to_field_names(crashes_home: Path, shared_data: Path, tmp_path: Path) -> None:
    src = shared_data / "linked_2021-12_faithhunja" / "traffic_crashes.csv"
    lines = src.read_text().splitlines()
    header = [h.strip('"').upper() for h in lines[0].split(",")]
    header[header.index("PRIVATE_PROPERTY_I")] = "NOT_RIGHT_OF_WAY_I"  # the portal's display name
    export = tmp_path / "Traffic_Crashes_-_Crashes.csv.gz"
    with gzip.open(export, "wt") as fh:
        fh.write(",".join(header) + "\n" + "\n".join(lines[1:101]) + "\n")

    ingest(source="replay", path=export)

    cols = {
        r[0]
        for r in raw_query(
            crashes_home,
            "select column_name from information_schema.columns where table_schema='raw' and table_name='crashes'",
        )
    }
    assert {"crash_record_id", "private_property_i", "hit_and_run_i"} <= cols
    assert "not_right_of_way_i" not in cols
    assert raw_count(crashes_home, "crashes") == 100


def test_dataset_identified_from_columns(crashes_home: Path, shared_data: Path, tmp_path: Path) -> None:
    folder = tmp_path / "exports"
    folder.mkdir()
    shutil.copy(shared_data / "linked_2021-12_faithhunja" / "traffic_crash_people.csv", folder / "Person_export.csv")
    shutil.copy(shared_data / "linked_2021-12_faithhunja" / "traffic_crash_vehicle.csv", folder / "units.csv")

    # `units.csv` says nothing about vehicles, but its columns do (crash_unit_id).
    result = ingest(source="replay", path=folder / "units.csv")
    assert result.rows == {"vehicles": 1000}
    # A --dataset that contradicts the columns is refused for the header, not loaded.
    with pytest.raises(CrashesError, match="does not look like a crashes export"):
        ingest(source="replay", path=folder / "units.csv", dataset="crashes")
    result = ingest(source="replay", path=folder / "Person_export.csv")
    assert result.rows == {"people": 1000}


def test_replay_readers_close_every_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each export file's handles are closed once read (a folder of many files must not leak them)."""
    import pyarrow as pa

    from ingestion import exports
    from ingestion.datasets import DATASETS

    spec = DATASETS["crashes"]
    rows = [{"crash_record_id": f"k{i}", "crash_date": "2024-05-01T10:00:00.000"} for i in range(3)]
    ndjson = tmp_path / "crashes.jsonl"
    ndjson.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    csv_file = tmp_path / "crashes.csv.gz"
    with gzip.open(csv_file, "wt") as fh:
        fh.write("crash_record_id,crash_date\n" + "".join(f"{r['crash_record_id']},{r['crash_date']}\n" for r in rows))
    parquet = tmp_path / "crashes.parquet"
    pq.write_table(pa.Table.from_pylist(rows), parquet)

    opened: list = []
    real_open, real_parquet_file = exports._open, exports.pq.ParquetFile

    def tracked_open(path: Path) -> pa.NativeFile:
        opened.append(real_open(path))
        return opened[-1]

    class TrackedParquetFile(real_parquet_file):
        def __init__(self, *args: object, **kwargs: object) -> None:
            super().__init__(*args, **kwargs)
            opened.append(self)

    monkeypatch.setattr(exports, "_open", tracked_open)
    monkeypatch.setattr(exports.pq, "ParquetFile", TrackedParquetFile)
    for path in (ndjson, csv_file, parquet):
        assert sum(t.num_rows for t in exports.read_export(path, spec)) == 3
    assert len(opened) == 3
    assert all(f.closed for f in opened)


def test_replay_and_devserver_name_datasets_by_one_rule(tmp_path: Path) -> None:
    """The devserver serves a folder as the replay would load it: one file-name rule for both."""
    from ingestion.devserver.store import files_by_dataset
    from ingestion.exports import dataset_for_file, plan_replay

    named = {
        "Traffic_Crashes_-_Crashes.csv": "crashes",
        "traffic_crash_vehicle.csv.gz": "vehicles",
        "Traffic_Crash_People.JSONL": "people",
        "person_2024.ndjson.gz": "people",
        "crashes_2015.parquet": "crashes",
        "units.csv": None,  # says nothing: the devserver ignores it, the replay assumes crashes
        "notes.txt": None,
    }
    for name in named:
        (tmp_path / name).write_text("x")
    assert {name: dataset_for_file(tmp_path / name) for name in named} == named

    expected: dict[str, list[Path]] = {}
    for name in sorted(named):
        if named[name]:
            expected.setdefault(named[name], []).append(tmp_path / name)
    assert files_by_dataset(tmp_path) == expected
    replayed = plan_replay(tmp_path).files
    assert replayed.pop("crashes") == sorted([*expected.pop("crashes"), tmp_path / "units.csv"])
    assert replayed == expected


def test_the_dataset_catalog_and_export_reading_load_without_dlt() -> None:
    """The devserver, the quality gate's specs and the replay reader need no dlt (≈ 1 s to import)."""
    probe = (
        "import sys, ingestion.datasets, ingestion.exports, ingestion.records, ingestion.devserver.server; "
        "print('dlt' in sys.modules)"
    )
    root = Path(__file__).resolve().parents[2]
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True, cwd=root)
    assert out.stdout.strip() == "False"


def test_an_export_file_reaches_dlt_in_few_large_tables(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """dlt's cost is per table: a file goes whole up to CHUNK_ROWS rows, in zero-copy slices beyond."""
    from ingestion import exports
    from ingestion.datasets import DATASETS

    path = tmp_path / "crashes.jsonl"
    rows = [{"crash_record_id": f"k{i}", "crash_date": "2024-05-01T10:00:00.000"} for i in range(7)]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    spec = DATASETS["crashes"]

    assert [t.num_rows for t in exports.read_export(path, spec)] == [7]
    monkeypatch.setattr(exports, "CHUNK_ROWS", 3)
    tables = list(exports.read_export(path, spec))
    assert [t.num_rows for t in tables] == [3, 3, 1]
    assert [k for t in tables for k in t.column("crash_record_id").to_pylist()] == [r["crash_record_id"] for r in rows]
