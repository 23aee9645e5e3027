"""The Great Expectations gate: results kept per load, failures counted, only a broken key blocks."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb

from ingestion.pipeline import ingest
from ingestion.quality import check_new_loads
from tests.ingestion.helpers import raw_query

RECORD = {"crash_record_id": "k1", "crash_date": "2024-05-01T10:00:00.000", "hit_and_run_i": "Y"}


def _ingest(tmp_path: Path, records: list[dict], name: str = "crashes.jsonl") -> None:
    path = tmp_path / name
    path.write_text("\n".join(json.dumps(r) for r in records))
    ingest(source="replay", path=path)


def test_each_load_is_checked_once_and_results_are_kept(crashes_home: Path, tmp_path: Path) -> None:
    _ingest(tmp_path, [RECORD, {**RECORD, "crash_record_id": "k2", "hit_and_run_i": "MAYBE"}])
    report = check_new_loads()

    assert report.ok and len(report.loads) == 1
    (load_id,) = report.loads
    vocab = [r for r in report.results if r.column == "hit_and_run_i"]
    assert [(v.success, v.unexpected_count, v.element_count) for v in vocab] == [(False, 1, 2)]
    assert (crashes_home / "quality" / f"{load_id}.json").exists()
    stored = raw_query(crashes_home, "select count(*), count(distinct load_id) from raw.quality_results")[0]
    assert stored == (len(report.results), 1)

    assert check_new_loads().loads == []  # nothing new: nothing re-checked
    _ingest(tmp_path, [{**RECORD, "crash_record_id": "k3"}], "crashes_2.jsonl")
    assert len(check_new_loads().loads) == 1


def test_future_crash_date_is_reported(crashes_home: Path, tmp_path: Path) -> None:
    _ingest(tmp_path, [RECORD, {**RECORD, "crash_record_id": "k2", "crash_date": "2999-01-01T00:00:00.000"}])
    report = check_new_loads()
    future = [r for r in report.failed if r.column == "crash_ts"]
    assert len(future) == 1 and future[0].unexpected_count == 1
    assert report.ok


def test_a_broken_key_stops_the_run(crashes_home: Path, tmp_path: Path) -> None:
    """Raw merges on the key, so a duplicate key in a load means the layer is corrupt: the gate must
    block. The corruption is made by hand, as a failing merge would leave it."""
    _ingest(tmp_path, [RECORD, {**RECORD, "crash_record_id": "k2"}])
    with duckdb.connect(str(crashes_home / "warehouse.duckdb")) as con:
        con.execute("update raw.crashes set crash_record_id = 'k1'")
    report = check_new_loads()

    assert not report.ok
    blocking = [r for r in report.failed if r.blocking]
    assert [(r.dataset, r.column, r.expectation) for r in blocking] == [
        ("crashes", "crash_record_id", "ExpectColumnValuesToBeUnique")
    ]
    assert "KEY BROKEN" in report.summary()

    # Still broken on the next run: the gate keeps blocking, it does not pass a load it saw before.
    again = check_new_loads()
    assert not again.ok and again.loads == report.loads
    with duckdb.connect(str(crashes_home / "warehouse.duckdb")) as con:
        con.execute("delete from raw.crashes where rowid = (select min(rowid) from raw.crashes)")
    fixed = check_new_loads()
    assert fixed.ok and fixed.loads == report.loads
    assert check_new_loads().loads == []
    kept = raw_query(crashes_home, "select count(*) from raw.quality_results where blocking and not success")
    assert kept == [(0,)]
