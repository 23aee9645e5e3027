"""Bad input gets a clear message or is counted and kept; it never loses or duplicates rows."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import dlt
import duckdb
import pyarrow.parquet as pq
import pytest

from crashes.errors import CrashesError
from ingestion.pipeline import ingest
from ingestion.quality import check_new_loads
from tests.ingestion.helpers import bronze_files, raw_count, raw_query

GOOD = {
    "crash_record_id": "a1",
    "crash_date": "2024-05-01T10:00:00.000",
    "latitude": "41.88",
    "longitude": "-87.63",
    "hit_and_run_i": "Y",
}


def _ndjson(path: Path, records: list[dict]) -> Path:
    path.write_text("\n".join(json.dumps(r) for r in records) + "\n")
    return path


def test_garbled_value_is_kept_and_counted_by_the_gate(crashes_home: Path, tmp_path: Path) -> None:
    records = [GOOD, {**GOOD, "crash_record_id": "a2", "latitude": "abc"}]
    ingest(source="replay", path=_ndjson(tmp_path / "crashes.jsonl", records))

    assert raw_query(crashes_home, "select latitude from raw.crashes where crash_record_id = 'a2'") == [("abc",)]
    report = check_new_loads()
    garbled = [r for r in report.failed if r.column == "latitude_parsed"]
    assert len(garbled) == 1 and garbled[0].unexpected_count == 1
    assert report.ok, "a garbled coordinate is reported, it does not stop the run"
    stored = raw_query(
        crashes_home,
        "select unexpected_count from raw.quality_results where column_name = 'latitude_parsed'",
    )
    assert stored == [(1,)]


def test_record_without_key_is_rejected_not_lost(crashes_home: Path, tmp_path: Path) -> None:
    records = [GOOD, {k: v for k, v in GOOD.items() if k != "crash_record_id"}, {**GOOD, "crash_record_id": " "}]
    result = ingest(source="replay", path=_ndjson(tmp_path / "crashes.jsonl", records))

    assert result.rejected == {"crashes": 2}
    assert raw_count(crashes_home, "crashes") == 1
    rejected = raw_query(crashes_home, "select dataset, reason, record from raw.rejected_rows")
    assert len(rejected) == 2
    assert all(r[0] == "crashes" and "crash_record_id" in r[1] for r in rejected)
    assert json.loads(rejected[0][2])["crash_date"] == GOOD["crash_date"]
    # ...and bronze holds all three rows as delivered.
    assert sum(pq.read_table(f).num_rows for f in bronze_files(crashes_home, "crashes")) == 3


def test_unknown_extra_and_missing_columns(crashes_home: Path, tmp_path: Path) -> None:
    records = [{"crash_record_id": "a1", "crash_date": "2024-05-01T10:00:00.000", "brand_new_field": "x"}]
    ingest(source="replay", path=_ndjson(tmp_path / "crashes.jsonl", records))

    row = raw_query(crashes_home, "select brand_new_field, latitude, weather_condition from raw.crashes")
    assert row == [("x", None, None)]  # the new column is kept; missing known ones are null


def test_newest_version_of_a_key_in_one_delivery_wins(crashes_home: Path, tmp_path: Path) -> None:
    older = {**GOOD, "socrata_updated_at": "2024-05-01T00:00:00.000Z", "weather_condition": "CLEAR"}
    newer = {**older, "socrata_updated_at": "2024-05-02T00:00:00.000Z", "weather_condition": "SNOW"}
    later_line_same_time = {**older, "crash_record_id": "b1", "weather_condition": "RAIN"}
    records = [newer, older, {**older, "crash_record_id": "b1"}, later_line_same_time]
    result = ingest(source="replay", path=_ndjson(tmp_path / "crashes.jsonl", records))

    assert result.superseded == {"crashes": 2}
    got = dict(raw_query(crashes_home, "select crash_record_id, weather_condition from raw.crashes"))
    assert got == {"a1": "SNOW", "b1": "RAIN"}


def test_numbers_where_strings_are_expected_become_strings(crashes_home: Path, tmp_path: Path) -> None:
    records = [GOOD, {**GOOD, "crash_record_id": "a2", "latitude": 41.9, "num_units": 2}]
    ingest(source="replay", path=_ndjson(tmp_path / "crashes.jsonl", records))

    assert raw_query(crashes_home, "select latitude, num_units from raw.crashes where crash_record_id='a2'") == [
        ("41.9", "2")
    ]


def test_unparseable_line_is_kept_as_a_rejected_row(crashes_home: Path, tmp_path: Path) -> None:
    path = tmp_path / "crashes.jsonl"
    path.write_text(json.dumps(GOOD) + '\n{"crash_record_id": "a2", "crash_da\n')
    result = ingest(source="replay", path=path)

    assert raw_count(crashes_home, "crashes") == 1
    assert result.rejected == {"crashes": 1}
    (record,) = raw_query(crashes_home, "select record from raw.rejected_rows")[0]
    assert '"crash_da' in json.loads(record)["_unparsed_line"]


def test_empty_file_and_wrong_header_get_clear_errors(crashes_home: Path, tmp_path: Path) -> None:
    empty = tmp_path / "crashes.csv"
    empty.write_text("")
    with pytest.raises(CrashesError, match="empty file"):
        ingest(source="replay", path=empty)

    wrong = tmp_path / "crashes_wrong.csv"
    wrong.write_text("id,when,where\n1,2024-01-01,here\n")
    with pytest.raises(CrashesError, match="does not look like a crashes export"):
        ingest(source="replay", path=wrong)

    folder = tmp_path / "mixed"
    folder.mkdir()
    (folder / "notes.txt").write_text("not data")
    (folder / "vehicles.csv").write_text("")
    _ndjson(folder / "crashes.jsonl", [GOOD])
    result = ingest(source="replay", path=folder)
    assert result.rows == {"crashes": 1}
    assert any("empty file" in s for s in result.skipped_files)
    assert any("notes.txt" in s for s in result.skipped_files)


def test_missing_path_and_bad_dataset(crashes_home: Path, tmp_path: Path) -> None:
    with pytest.raises(CrashesError, match="does not exist"):
        ingest(source="replay", path=tmp_path / "nope")
    with pytest.raises(CrashesError, match="--dataset must be one of"):
        ingest(source="replay", path=tmp_path, dataset="trucks")


def test_run_that_fails_between_bronze_and_raw_is_finished_by_the_next(crashes_home: Path, tmp_path: Path) -> None:
    """A writer holding the warehouse makes the raw step fail; bronze keeps the delivery, and the
    next ingest merges it together with its own: nothing lost, nothing doubled."""
    first = _ndjson(tmp_path / "crashes_1.jsonl", [GOOD, {**GOOD, "crash_record_id": "a2"}])
    second = _ndjson(tmp_path / "crashes_2.jsonl", [{**GOOD, "crash_record_id": "a3"}])
    ingest(source="replay", path=_ndjson(tmp_path / "crashes_0.jsonl", [{**GOOD, "crash_record_id": "a0"}]))

    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import duckdb, sys, time; c = duckdb.connect(sys.argv[1]); print('ok', flush=True); time.sleep(60)",
            str(crashes_home / "warehouse.duckdb"),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "ok"
        with pytest.raises(CrashesError, match="lock"):
            ingest(source="replay", path=first)
    finally:
        holder.kill()
        holder.wait()
    time.sleep(0.2)

    assert len(bronze_files(crashes_home, "crashes")) == 2  # the failed run's delivery is in bronze
    result = ingest(source="replay", path=second)
    assert len(result.loads) == 2  # the pending load and the new one
    assert sorted(r[0] for r in raw_query(crashes_home, "select crash_record_id from raw.crashes")) == [
        "a0",
        "a1",
        "a2",
        "a3",
    ]


def test_whitespace_only_key_is_rejected_once_not_also_merged(crashes_home: Path, tmp_path: Path) -> None:
    """One rule decides what a usable key is: a tab or newline key is no key, for the rejects and raw alike."""
    records = [GOOD, {**GOOD, "crash_record_id": "\t"}, {**GOOD, "crash_record_id": "\n "}]
    result = ingest(source="replay", path=_ndjson(tmp_path / "crashes.jsonl", records))

    assert result.rejected == {"crashes": 2}
    assert result.superseded.get("crashes", 0) == 0
    assert raw_query(crashes_home, "select crash_record_id from raw.crashes") == [("a1",)]
    assert raw_count(crashes_home, "rejected_rows") == 2


def test_older_replay_never_overwrites_a_newer_raw_row(crashes_home: Path, tmp_path: Path) -> None:
    """Raw keeps the latest `socrata_updated_at` per key across syncs, not only within one: an
    older version (or a replay without `:updated_at`) delivered later is kept in bronze only."""
    stamped = {**GOOD, "socrata_updated_at": "2024-05-02T00:00:00.000Z", "weather_condition": "SNOW"}
    ingest(
        source="replay",
        path=_ndjson(
            tmp_path / "crashes_api.jsonl",
            [
                stamped,
                {**stamped, "crash_record_id": "b1"},
                {**stamped, "crash_record_id": "c1"},
                {**GOOD, "crash_record_id": "d1"},
            ],
        ),
    )
    later = [
        {**GOOD, "weather_condition": "CLEAR"},  # a1: an export replay, no :updated_at
        {
            **stamped,
            "crash_record_id": "b1",
            "socrata_updated_at": "2024-05-01T00:00:00.000Z",
            "weather_condition": "FOG",
        },
        {**stamped, "crash_record_id": "c1", "weather_condition": "RAIN"},  # same version: the later delivery wins
        {**GOOD, "crash_record_id": "d1", "weather_condition": "HAIL"},  # neither stamped: the later delivery wins
        {**GOOD, "crash_record_id": "e1"},
    ]
    result = ingest(source="replay", path=_ndjson(tmp_path / "crashes_export.jsonl", later))

    assert result.superseded == {"crashes": 2}
    got = {
        r[0]: r[1:]
        for r in raw_query(
            crashes_home, "select crash_record_id, weather_condition, socrata_updated_at from raw.crashes"
        )
    }
    assert got == {
        "a1": ("SNOW", "2024-05-02T00:00:00.000Z"),
        "b1": ("SNOW", "2024-05-02T00:00:00.000Z"),
        "c1": ("RAIN", "2024-05-02T00:00:00.000Z"),
        "d1": ("HAIL", None),
        "e1": (None, None),
    }
    # The dropped versions are not lost: bronze holds both deliveries in full.
    assert sum(pq.read_table(f).num_rows for f in bronze_files(crashes_home, "crashes")) == 9


def _raw_disposition(home: Path) -> str:
    pipeline = dlt.attach("crashes_raw", pipelines_dir=str(home / "pipelines"))
    return pipeline.default_schema.get_table("crashes")["write_disposition"]


def test_a_sync_that_replaces_no_raw_row_appends_and_one_that_does_merges(crashes_home: Path, tmp_path: Path) -> None:
    """Appending is a merge when no key is already in raw (one DuckDB write instead of three);
    as soon as one incoming key is, the sync merges, and raw still holds one row per key."""
    first = ingest(
        source="replay", path=_ndjson(tmp_path / "crashes_1.jsonl", [GOOD, {**GOOD, "crash_record_id": "b1"}])
    )
    assert first.raw_rows == {"crashes": 2, "vehicles": 0, "people": 0}
    assert _raw_disposition(crashes_home) == "append"

    ingest(source="replay", path=_ndjson(tmp_path / "crashes_2.jsonl", [{**GOOD, "crash_record_id": "c1"}]))
    assert _raw_disposition(crashes_home) == "append"
    assert raw_count(crashes_home, "crashes") == 3

    changed = [{**GOOD, "weather_condition": "SNOW"}, {**GOOD, "crash_record_id": "d1"}]
    result = ingest(source="replay", path=_ndjson(tmp_path / "crashes_3.jsonl", changed))
    assert _raw_disposition(crashes_home) == "merge"
    assert result.raw_rows == {"crashes": 4, "vehicles": 0, "people": 0}
    rows = dict(raw_query(crashes_home, "select crash_record_id, weather_condition from raw.crashes"))
    assert rows == {"a1": "SNOW", "b1": None, "c1": None, "d1": None}


def test_raw_without_the_cursor_column_still_counts_its_keys(crashes_home: Path, tmp_path: Path) -> None:
    """A raw table that lost `socrata_updated_at` (made by other means) still holds its keys: a
    sync that repeats one merges instead of appending a second row."""
    ingest(source="replay", path=_ndjson(tmp_path / "crashes_1.jsonl", [GOOD]))
    with duckdb.connect(str(crashes_home / "warehouse.duckdb")) as con:
        con.execute("alter table raw.crashes drop column socrata_updated_at")

    ingest(source="replay", path=_ndjson(tmp_path / "crashes_2.jsonl", [{**GOOD, "weather_condition": "SNOW"}]))

    assert _raw_disposition(crashes_home) == "merge"
    assert raw_query(crashes_home, "select crash_record_id, weather_condition from raw.crashes") == [("a1", "SNOW")]
