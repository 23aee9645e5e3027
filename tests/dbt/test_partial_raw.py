"""Real inputs: a user with only the crashes file, one bad row among them, a broken key, and the
units and people arriving on a later day. Two builds in all: the crashes-only one through the
real CLI (`crashes ingest … --dataset crashes && crashes build`), then the later day's.

One unparseable (or missing) crash_date never stops gold: the row stays in raw, is listed in
dq_rejected_records and is left out of the facts, and the rest of the load is published. A broken
key still fails the build. Datasets raw does not hold are empty, and dq_datasets says so.
"""

from __future__ import annotations

import csv
import hashlib
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pytest
import yaml

from ingestion.datasets import DATASETS
from tests.conftest import PROJECT_ROOT
from tests.dbt.samples import LINKED, read_csv

BIN = Path(sys.executable).parent
UNPARSEABLE = "dq-crash-with-an-unparseable-date"
UNDATED = "dq-crash-without-a-date"
UNLINKED_UNIT = "dq-unit-naming-no-crash"
BROKEN_KEY_ROWS = 1


def _write_csv(path: Path, rows: list[dict[str, str]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, list(rows[0]), quoting=csv.QUOTE_ALL)
        writer.writeheader()
        writer.writerows(rows)
    return path


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("CRASHES_BRONZE_URL", "SOCRATA_BASE_URL")}
    return env | {"CRASHES_HOME": str(home), "DO_NOT_TRACK": "1"}


def _add_crash_without_key(warehouse: Path) -> str:
    """A load that slipped a keyless crash into raw (ingestion itself never merges one)."""
    with duckdb.connect(str(warehouse)) as con:
        last = con.execute("select max(load_id) from raw._dlt_loads").fetchone()[0]
        load = f"{float(last) + 1:.6f}"
        con.execute(
            "insert into raw.crashes by name select * replace (null as crash_record_id, ? as _dlt_load_id) "
            "from raw.crashes where crash_record_id = (select min(crash_record_id) from raw.crashes)",
            [load],
        )
        con.execute("insert into raw._dlt_loads values (?, 'raw', 0, now(), null)", [load])
    return load


def _remove_crash_without_key(warehouse: Path) -> None:
    with duckdb.connect(str(warehouse)) as con:
        con.execute("delete from raw.crashes where crash_record_id is null")


def _raw_datasets(warehouse: Path) -> list[str]:
    """The datasets raw holds rows of (the raw sync creates every dataset's table, empty if need be)."""
    with duckdb.connect(str(warehouse), read_only=True) as con:
        return [
            r[0]
            for r in con.execute(
                "select table_name from duckdb_tables()"
                " where schema_name = 'raw' and list_contains(?, table_name) and estimated_size > 0 order by 1",
                [list(DATASETS)],
            ).fetchall()
        ]


@dataclass
class Partial:
    home: Path
    crashes_only_gold: Path
    ingest: subprocess.CompletedProcess[str]
    build: subprocess.CompletedProcess[str]
    raw_tables_after_build: list[str]
    linked_crashes: int
    linked_vehicles: int
    broken: object  # transform.BuildResult
    gold_digests_around_broken: tuple[str, str]
    later: object  # transform.BuildResult
    later_gold: Path

    def sql(self, gold: Path, statement: str, params: list | None = None) -> list[tuple]:
        with duckdb.connect(str(gold), read_only=True) as con:
            return con.execute(statement, params or []).fetchall()

    def raw(self, statement: str, params: list | None = None) -> list[tuple]:
        return self.sql(self.home / "warehouse.duckdb", statement, params)


@pytest.fixture(scope="module")
def partial(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Partial]:
    base = tmp_path_factory.mktemp("dbt-partial")
    home, files = base / "home", base / "files"
    files.mkdir()
    crashes = read_csv(shared_data / LINKED / "traffic_crashes.csv")
    bad = [
        crashes[0] | {"crash_record_id": UNPARSEABLE, "crash_date": "31/12/2021 2pm"},
        crashes[1] | {"crash_record_id": UNDATED, "crash_date": ""},
    ]
    crashes_file = _write_csv(files / "my_crashes.csv", crashes + bad)

    # Day 1: only the crashes file, through the CLI as a user runs it.
    env = _env(home)
    ingest = subprocess.run(
        [str(BIN / "crashes"), "ingest", "--source", "replay", "--path", str(crashes_file), "--dataset", "crashes"],
        env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    build_run = subprocess.run([str(BIN / "crashes"), "build"], env=env, capture_output=True, text=True, timeout=600)
    raw_tables = _raw_datasets(home / "warehouse.duckdb")
    crashes_only_gold = base / "gold-crashes-only.duckdb"
    if (home / "gold.duckdb").exists():
        shutil.copyfile(home / "gold.duckdb", crashes_only_gold)

    vehicles = read_csv(shared_data / LINKED / "traffic_crash_vehicle.csv")
    later_day = base / "later-day"
    later_day.mkdir()
    _write_csv(
        later_day / "traffic_crash_vehicle.csv",
        vehicles + [vehicles[0] | {"crash_unit_id": UNLINKED_UNIT, "crash_record_id": "", "vehicle_id": ""}],
    )
    os.symlink(shared_data / LINKED / "traffic_crash_people.csv", later_day / "traffic_crash_people.csv")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("CRASHES_HOME", str(home))
        mp.delenv("CRASHES_BRONZE_URL", raising=False)
        from ingestion.pipeline import ingest as ingest_files
        from transform import build

        # A broken key: the build fails and gold stays as it was.
        before = _digest(home / "gold.duckdb") if (home / "gold.duckdb").exists() else ""
        _add_crash_without_key(home / "warehouse.duckdb")
        broken = build()
        after = _digest(home / "gold.duckdb") if (home / "gold.duckdb").exists() else ""
        _remove_crash_without_key(home / "warehouse.duckdb")

        # Day 2: the units (one of them naming no crash) and the people.
        ingest_files(source="replay", path=later_day)
        later = build()
    later_gold = base / "gold-later.duckdb"
    if (home / "gold.duckdb").exists():
        shutil.copyfile(home / "gold.duckdb", later_gold)
    yield Partial(
        home, crashes_only_gold, ingest, build_run, raw_tables, len(crashes), len(vehicles),
        broken, (before, after), later, later_gold,
    )  # fmt: skip


def test_a_crashes_only_raw_builds_and_publishes_through_the_cli(partial: Partial) -> None:
    assert partial.ingest.returncode == 0, partial.ingest.stderr[-2000:]
    assert partial.build.returncode == 0, (partial.build.stdout + partial.build.stderr)[-3000:]
    assert "gold published" in partial.build.stdout
    assert partial.raw_tables_after_build == ["crashes"]


def test_dq_datasets_says_units_and_people_are_missing_not_zero(partial: Partial) -> None:
    rows = partial.sql(
        partial.crashes_only_gold,
        "select dataset, is_loaded, row_count, rejected_row_count from marts.dq_datasets order by dataset",
    )
    assert rows == [
        ("crashes", True, partial.linked_crashes, 2),
        ("people", False, 0, 0),
        ("vehicles", False, 0, 0),
    ]


def test_an_unparseable_crash_date_is_kept_in_raw_listed_and_left_out_of_the_facts(partial: Partial) -> None:
    gold = partial.crashes_only_gold
    in_raw = dict(
        partial.raw(
            "select crash_record_id, _dlt_load_id from raw.crashes where crash_record_id in (?, ?)",
            [UNPARSEABLE, UNDATED],
        )
    )
    assert set(in_raw) == {UNPARSEABLE, UNDATED}
    load = in_raw[UNPARSEABLE]
    rejected = partial.sql(
        gold,
        "select dataset, record_key, column_name, raw_value, reason, load_id, kept_in "
        "from marts.dq_rejected_records order by record_key",
    )
    assert rejected == [
        ("crashes", UNPARSEABLE, "crash_date", "31/12/2021 2pm", "unparseable crash_date", load, "raw.crashes"),
        ("crashes", UNDATED, "crash_date", None, "missing crash_date", load, "raw.crashes"),
    ]
    for mart in ("fct_crashes", "ml_hit_and_run_features"):
        ((rows, bad),) = partial.sql(
            gold,
            f"select count(*), count(*) filter (where crash_record_id in (?, ?)) from marts.{mart}",  # noqa: S608
            [UNPARSEABLE, UNDATED],
        )
        assert (mart, rows, bad) == (mart, partial.linked_crashes, 0)
    assert partial.sql(gold, "select rejected_row_count from marts.dq_loads where dataset = 'crashes'") == [(2,)]


def test_a_broken_key_still_fails_the_build_and_leaves_gold_alone(partial: Partial) -> None:
    broken = partial.broken
    assert not broken.ok and broken.published is None
    assert any("quality gate failed" in p for p in broken.problems), broken.summary()
    assert "crashes.crash_record_id ExpectColumnValuesToNotBeNull" in (broken.quality or "")
    before, after = partial.gold_digests_around_broken
    assert before and after == before


def test_units_and_people_loaded_on_a_later_day_join_the_crashes(partial: Partial) -> None:
    later, gold = partial.later, partial.later_gold
    assert later.ok, later.summary()
    loaded = partial.sql(gold, "select dataset, is_loaded from marts.dq_datasets order by dataset")
    assert loaded == [("crashes", True), ("people", True), ("vehicles", True)]
    ((units, linked),) = partial.sql(
        gold,
        "select count(*), count(*) filter (where crash_record_id in (select crash_record_id from marts.fct_crashes))"
        " from marts.fct_vehicles",
    )
    assert units == partial.linked_vehicles
    assert partial.sql(gold, "select sum(unit_count) from marts.fct_crashes") == [(linked,)]
    assert linked > 0


def test_a_unit_naming_no_crash_is_listed_and_left_out_while_the_rest_publishes(partial: Partial) -> None:
    gold = partial.later_gold
    [(load,)] = partial.raw("select _dlt_load_id from raw.vehicles where crash_unit_id = ?", [UNLINKED_UNIT])
    rejected = partial.sql(
        gold,
        "select dataset, record_key, column_name, raw_value, reason, load_id, kept_in "
        "from marts.dq_rejected_records where dataset = 'vehicles'",
    )
    assert rejected == [
        ("vehicles", UNLINKED_UNIT, "crash_record_id", None, "missing crash_record_id", load, "raw.vehicles")
    ]
    assert partial.sql(gold, "select count(*) from marts.fct_vehicles where crash_unit_id = ?", [UNLINKED_UNIT]) == [
        (0,)
    ]
    assert partial.sql(gold, "select count(*) from marts.dq_rejected_records where dataset = 'crashes'") == [(2,)]
    counts = partial.sql(gold, "select dataset, rejected_row_count from marts.dq_datasets order by dataset")
    assert counts == [("crashes", 2), ("people", 0), ("vehicles", 1)]


def test_the_dbt_dataset_list_matches_ingestion() -> None:
    """dbt cannot import ingestion/datasets.py: its own list of keys and required columns
    (dbt_project.yml, `chicago_datasets`) must name the same datasets, keys and known columns."""
    project = yaml.safe_load((PROJECT_ROOT / "dbt_project" / "dbt_project.yml").read_text())
    datasets = project["vars"]["chicago_datasets"]
    assert {name: d["key"] for name, d in datasets.items()} == {s.name: s.key for s in DATASETS.values()}
    for name, d in datasets.items():
        assert d["required"], name
        for column, kind in d["required"]:
            assert column in DATASETS[name].columns and column != DATASETS[name].key, (name, column)
            assert kind in ("text", "integer", "double", "timestamp"), (name, column, kind)
