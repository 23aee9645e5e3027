"""A second load on top of the real build: the incremental build gets amendments, new rows,
garbled values, orphans and re-linked people right, equals a full refresh, never blocks a
reader of gold, and a failing build leaves gold alone."""

from __future__ import annotations

import hashlib
import shutil
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

import duckdb
import pytest

from crashes.gold import connect as gold_connect
from tests.dbt.conftest import RealBuild
from tests.dbt.scenario import SecondLoad, write_second_load

# Columns that depend on the clock at build time, not on the data.
CLOCK_COLUMNS = {"dq_datasets": ("hours_since_last_load", "checked_at")}
SCORED = 10


@dataclass
class ReaderLog:
    reads: int = 0
    errors: list[str] = field(default_factory=list)
    snapshots: set[tuple[int, int]] = field(default_factory=set)


class Location(NamedTuple):
    latitude: float | None
    longitude: float | None
    is_location_imputed: bool
    lat_bin: float | None
    lng_bin: float | None


@dataclass
class Scenario:
    load: SecondLoad
    incremental: object
    full_refresh: object
    failed: object
    incremental_gold: Path
    full_gold: Path
    reader: ReaderLog
    gold_digest_before_failure: str
    gold_digest_after_failure: str
    gold_inode_before_failure: int
    gold_inode_after_failure: int
    narrow_after_failure: object
    future_crashes_in_gold_after_narrow_build: int
    built_alone: object
    built_after_alone: object
    unit_counts_alone_then_after: tuple[int | None, int | None]
    second_version: SecondVersion
    unlocated_before: tuple[Location, Location, str]


def _location_of(gold: Path, crash: str) -> tuple[Location, Location, str]:
    """Where gold puts a crash, in fct_crashes and in the ML mart, and the load it was built from."""
    columns = ", ".join(f"{table}.{name}" for table in ("c", "f") for name in Location._fields)
    with duckdb.connect(str(gold), read_only=True) as con:
        row = con.execute(
            f"select {columns}, c.last_load_id "  # noqa: S608 - Location's own field names
            "from marts.fct_crashes c join marts.ml_hit_and_run_features f using (crash_record_id) "
            "where c.crash_record_id = ?",
            [crash],
        ).fetchone()
    return Location(*row[:5]), Location(*row[5:10]), row[10]


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _read_gold_until(stop: threading.Event, gold: Path, log: ReaderLog) -> None:
    """What a dashboard does: open gold read-only per request, read, close."""
    while not stop.is_set():
        try:
            with gold_connect(gold) as con:
                snapshot = con.execute(
                    "select (select count(*) from marts.fct_crashes), "
                    "(select count(*) from marts.ml_hit_and_run_features)"
                ).fetchone()
            log.snapshots.add(snapshot)
            log.reads += 1
        except Exception as exc:  # noqa: BLE001 - any failure is what the test reports
            log.errors.append(f"{type(exc).__name__}: {exc}")


def _write_scores(warehouse: Path, count: int) -> None:
    """What `ml.score` leaves in the warehouse: scores for some crashes."""
    with duckdb.connect(str(warehouse)) as con:
        con.execute("create schema if not exists ml")
        con.execute(
            "create or replace table ml.hit_and_run_scores as "
            "select crash_record_id, 0.5 as probability, true as predicted_hit_and_run, "
            "'v-test' as model_version, timestamp '2026-01-02 00:00:00' as scored_at "
            "from raw.crashes order by crash_record_id limit ?",
            [count],
        )


FUTURE_CRASH = "scenario-crash-from-the-future"


def _add_crash_in_the_future(warehouse: Path) -> None:
    with duckdb.connect(str(warehouse)) as con:
        last = con.execute("select max(_dlt_load_id) from raw.crashes").fetchone()[0]
        con.execute(
            "insert into raw.crashes (crash_record_id, crash_date, _dlt_load_id) values (?, ?, ?)",
            [FUTURE_CRASH, "2099-01-01T00:00:00.000", f"{float(last) + 1:.6f}"],
        )


CRASH_BUILT_ALONE = "scenario-crash-built-without-its-units"


def _add_crash_with_its_unit(warehouse: Path) -> None:
    """A new crash and its one unit in one load, copied from rows already there."""
    with duckdb.connect(str(warehouse)) as con:
        last = con.execute("select max(_dlt_load_id) from raw.crashes").fetchone()[0]
        load = f"{float(last) + 1:.6f}"
        crash = con.execute(
            "select crash_record_id from raw.crashes where crash_date < '2025' order by crash_record_id limit 1"
        ).fetchone()[0]
        con.execute(
            "insert into raw.crashes select * replace (? as crash_record_id, ? as _dlt_load_id) "
            "from raw.crashes where crash_record_id = ?",
            [CRASH_BUILT_ALONE, load, crash],
        )
        con.execute(
            "insert into raw.vehicles select * replace (? as crash_unit_id, ? as crash_record_id, "
            "? as vehicle_id, 'DRIVER' as unit_type, ? as _dlt_load_id) from raw.vehicles limit 1",
            [f"{CRASH_BUILT_ALONE}-unit", CRASH_BUILT_ALONE, f"{CRASH_BUILT_ALONE}-vehicle", load],
        )


def _unit_count_in(gold: Path, crash: str) -> int | None:
    with duckdb.connect(str(gold), read_only=True) as con:
        row = con.execute("select unit_count from marts.fct_crashes where crash_record_id = ?", [crash]).fetchone()
    return row[0] if row else None


@dataclass
class SecondVersion:
    crash: str
    label: bool
    rows_in_gold: list[tuple[str, bool]]
    repeated_keys_held: list[str]


def _add_second_version(warehouse: Path) -> tuple[str, bool]:
    """A newer version of a crash next to the one raw holds, as a load that bypassed dlt's merge
    would leave it: staging must rank the two although no earlier build saw the key repeated."""
    with duckdb.connect(str(warehouse)) as con:
        last = con.execute("select max(_dlt_load_id) from raw.crashes").fetchone()[0]
        crash, label = con.execute(
            "select crash_record_id, coalesce(hit_and_run_i, 'N') = 'Y' from raw.crashes "
            "where crash_date < '2025' order by crash_record_id limit 1 offset 7"
        ).fetchone()
        con.execute(
            "insert into raw.crashes select * replace (? as hit_and_run_i, "
            "'2030-01-01T00:00:00.000Z' as socrata_updated_at, ? as _dlt_load_id) "
            "from raw.crashes where crash_record_id = ?",
            ["N" if label else "Y", f"{float(last) + 1:.6f}", crash],
        )
    return crash, not label


def _second_version_in(gold: Path, warehouse: Path, crash: str, label: bool) -> SecondVersion:
    with duckdb.connect(str(gold), read_only=True) as con:
        rows = con.execute(
            "select crash_record_id, is_hit_and_run from marts.fct_crashes where crash_record_id = ?", [crash]
        ).fetchall()
    with duckdb.connect(str(warehouse), read_only=True) as con:
        held = con.execute(
            "select repeated_keys from staging.base_chicago__repeated_keys where dataset = 'crashes'"
        ).fetchone()[0]
    return SecondVersion(crash, label, rows, held)


def _future_crashes_in(gold: Path) -> int:
    with duckdb.connect(str(gold), read_only=True) as con:
        return con.execute(
            "select count(*) from marts.fct_crashes where crash_record_id = ?", [FUTURE_CRASH]
        ).fetchone()[0]


@pytest.fixture(scope="module")
def scenario(real_build: RealBuild, shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Scenario]:
    base = tmp_path_factory.mktemp("dbt-incremental")
    gold = real_build.home / "gold.duckdb"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("CRASHES_HOME", str(real_build.home))
        mp.delenv("CRASHES_BRONZE_URL", raising=False)
        from ingestion.pipeline import ingest
        from transform import build
        from transform.dbt import GOLD_BUILD_FILE, run_dbt

        load = write_second_load(shared_data, base / "second-load")
        unlocated_before = _location_of(gold, load.unlocated_crash)
        ingest(source="replay", path=load.folder)
        _write_scores(real_build.warehouse, SCORED)

        log, stop = ReaderLog(), threading.Event()
        reader = threading.Thread(target=_read_gold_until, args=(stop, gold, log), daemon=True)
        reader.start()
        try:
            incremental = build()
        finally:
            stop.set()
            reader.join(timeout=30)
        incremental_gold = shutil.copyfile(gold, base / "incremental.duckdb")

        full_refresh = build(full_refresh=True)
        full_gold = shutil.copyfile(gold, base / "full-refresh.duckdb")

        # An analyst's `dbt run --select fct_crashes`: a new crash built before its units'
        # aggregate, then a whole build.
        _add_crash_with_its_unit(real_build.warehouse)
        alone = run_dbt(["run", "--select", "fct_crashes"])
        unit_count_alone = _unit_count_in(real_build.home / GOLD_BUILD_FILE, CRASH_BUILT_ALONE)
        twice, newer_label = _add_second_version(real_build.warehouse)
        after_alone = build()
        unit_count_after = _unit_count_in(gold, CRASH_BUILT_ALONE)
        second_version = _second_version_in(gold, real_build.warehouse, twice, newer_label)

        _add_crash_in_the_future(real_build.warehouse)
        digest, inode = _digest(gold), gold.stat().st_ino
        failed = build(select="fct_crashes")
        digest_after, inode_after = _digest(gold), gold.stat().st_ino
        # What the pipeline's publish stage runs after scoring: a narrow build that passes.
        narrow = build(select="+ml_hit_and_run_scores")
        yield Scenario(
            load, incremental, full_refresh, failed, Path(incremental_gold), Path(full_gold), log,
            digest, digest_after, inode, inode_after, narrow, _future_crashes_in(gold),
            alone, after_alone, (unit_count_alone, unit_count_after), second_version, unlocated_before,
        )  # fmt: skip


def test_incremental_and_full_refresh_builds_pass(scenario: Scenario) -> None:
    for result in (scenario.incremental, scenario.full_refresh):
        assert result.ok, result.summary()
        assert result.tests_failed == 0 and result.models_failed == 0


def _rows_only_in(con: duckdb.DuckDBPyConnection, left: str, right: str, table: str) -> int:
    exclude = ", ".join(CLOCK_COLUMNS.get(table, ()))
    cols = f"* exclude ({exclude})" if exclude else "*"
    return con.execute(
        f"select count(*) from (select {cols} from {left}.marts.{table} "  # noqa: S608 - catalog names
        f"except all select {cols} from {right}.marts.{table})"
    ).fetchone()[0]


def test_incremental_build_equals_a_full_refresh(scenario: Scenario) -> None:
    with duckdb.connect() as con:
        con.execute("attach ? as incremental (read_only)", [str(scenario.incremental_gold)])
        con.execute("attach ? as full_refresh (read_only)", [str(scenario.full_gold)])
        tables = [
            r[0]
            for r in con.execute(
                "select table_name from duckdb_tables() where database_name = 'full_refresh' order by 1"
            ).fetchall()
        ]
        differences = {
            table: (
                _rows_only_in(con, "incremental", "full_refresh", table),
                _rows_only_in(con, "full_refresh", "incremental", table),
            )
            for table in tables
        }
    assert len(tables) == 21  # 15 marts (with agg_crashes_beat_daily), 3 geo_*, dq_crashes_outside_beat, 2 audit_*
    assert differences == dict.fromkeys(tables, (0, 0))


def test_amendments_replace_and_new_rows_add(scenario: Scenario, real_build: RealBuild) -> None:
    load = scenario.load
    with duckdb.connect(str(scenario.incremental_gold), read_only=True) as con:
        labels = dict(
            con.execute(
                "select crash_record_id, is_hit_and_run from marts.fct_crashes where crash_record_id in "
                "(select unnest(?))",
                [list(load.amended)],
            ).fetchall()
        )
        new = con.execute(
            "select count(*), count(*) filter (where unit_count = 1 and person_count = 1) from marts.fct_crashes "
            "where crash_record_id in (select unnest(?))",
            [load.new_crashes],
        ).fetchone()
        total = con.execute("select count(*) from marts.fct_crashes").fetchone()[0]
    assert labels == load.amended
    assert new == (len(load.new_crashes), len(load.new_crashes))
    # + the garbled crash, - the crash amended to an unparseable date
    assert total == real_build.samples.crashes.count + len(load.new_crashes) + 1 - 1


def test_garbled_values_are_nulled_counted_and_do_not_fail_the_build(scenario: Scenario) -> None:
    load = scenario.load
    with duckdb.connect(str(scenario.incremental_gold), read_only=True) as con:
        row = con.execute(
            "select posted_speed_limit, is_hit_and_run, is_location_imputed, latitude is not null, "
            "list_sort(garbled_columns) from marts.fct_crashes where crash_record_id = ?",
            [load.garbled_crash],
        ).fetchone()
        garbled = dict(
            con.execute(
                "select column_name, garbled_count from marts.dq_columns "
                "where dataset = 'crashes' and garbled_count > 0"
            ).fetchall()
        )
    assert row == (None, False, True, True, ["is_hit_and_run", "latitude", "longitude", "posted_speed_limit"])
    assert garbled == {"is_hit_and_run": 1, "latitude": 1, "longitude": 1, "posted_speed_limit": 1}


def test_crashes_with_an_unparseable_date_are_listed_and_leave_the_facts(
    scenario: Scenario, real_build: RealBuild
) -> None:
    """A new crash and an amended one whose crash_date cannot be parsed: both stay in raw and are
    listed with the load that brought them; the amended one, in gold before, is gone from the
    facts (the full refresh equals this, see above)."""
    load = scenario.load
    crashes = [load.undatable_new_crash, load.undatable_amended_crash]
    with real_build.gold() as before:
        held_before = before.execute(
            "select count(*) from marts.fct_crashes where crash_record_id = ?", [load.undatable_amended_crash]
        ).fetchone()[0]
    with duckdb.connect(str(real_build.warehouse), read_only=True) as con:
        raw = dict(
            con.execute(
                "select crash_record_id, crash_date from raw.crashes where list_contains(?, crash_record_id)", [crashes]
            ).fetchall()
        )
    with duckdb.connect(str(scenario.incremental_gold), read_only=True) as con:
        listed = con.execute(
            "select record_key, raw_value, reason, load_id = (select max(load_id) from marts.fct_crashes) "
            "from marts.dq_rejected_records where dataset = 'crashes' order by record_key"
        ).fetchall()
        in_facts = con.execute(
            "select (select count(*) from marts.fct_crashes where list_contains($c, crash_record_id)),"
            " (select count(*) from marts.ml_hit_and_run_features where list_contains($c, crash_record_id))",
            {"c": crashes},
        ).fetchone()
    assert held_before == 1
    assert raw == {load.undatable_new_crash: "2021-12-32", load.undatable_amended_crash: "not a date"}
    assert sorted(listed) == sorted(
        [
            (load.undatable_new_crash, "2021-12-32", "unparseable crash_date", True),
            (load.undatable_amended_crash, "not a date", "unparseable crash_date", True),
        ]
    )
    assert in_facts == (0, 0)


def test_orphan_unit_is_kept_counted_and_warned_about(scenario: Scenario) -> None:
    with duckdb.connect(str(scenario.incremental_gold), read_only=True) as con:
        kept = con.execute(
            "select count(*) from marts.fct_vehicles where crash_unit_id = ?", [scenario.load.orphan_unit]
        ).fetchone()[0]
        orphans = con.execute("select orphan_row_count from marts.dq_datasets where dataset = 'vehicles'").fetchone()[0]
    warned = [p for p in scenario.incremental.problems if "relationships_fct_vehicles_crash_record_id" in p]
    assert kept == 1 and orphans == 1
    assert len(warned) == 1 and "Got 1 result" in warned[0]


def test_an_unlocated_crash_moves_with_its_beats_median_though_no_load_touched_it(scenario: Scenario) -> None:
    load = scenario.load
    after = _location_of(scenario.incremental_gold, load.unlocated_crash)
    with duckdb.connect(str(scenario.incremental_gold), read_only=True) as con:
        median = con.execute(
            "select median(latitude), median(longitude) from marts.fct_crashes "
            "where beat_of_occurrence = ? and has_valid_location",
            [load.relocating_beat],
        ).fetchone()
    (crash_before, _, load_before), (crash, features, load_id) = scenario.unlocated_before, after
    assert crash_before.is_location_imputed and crash.is_location_imputed, "imputed before and after"
    assert crash_before[:2] != crash[:2], "the new crashes moved the beat's median"
    assert load_id == load_before, "no load touched the crash itself"
    assert crash[:2] == pytest.approx(median)
    # The ML mart follows fct_crashes: same location, flag and bins.
    assert features == crash


def test_people_follow_their_unit_when_only_the_unit_changed(scenario: Scenario) -> None:
    load = scenario.load
    with duckdb.connect(str(scenario.incremental_gold), read_only=True) as con:
        types = {
            r[0]
            for r in con.execute(
                "select unit_type from marts.fct_people where person_id in (select unnest(?))", [load.retyped_people]
            ).fetchall()
        }
    assert load.retyped_people and types == {load.retyped_unit_type}


def test_scores_written_by_the_ml_stage_reach_gold(scenario: Scenario) -> None:
    with duckdb.connect(str(scenario.incremental_gold), read_only=True) as con:
        rows, versions = con.execute(
            "select count(*), list(distinct model_version) from marts.ml_hit_and_run_scores"
        ).fetchone()
    assert (rows, versions) == (SCORED, ["v-test"])


def test_readers_never_block_and_always_see_a_complete_snapshot(scenario: Scenario, real_build: RealBuild) -> None:
    log = scenario.reader
    with real_build.gold() as before, duckdb.connect(str(scenario.incremental_gold), read_only=True) as after:
        counts = {con.execute("select count(*) from marts.fct_crashes").fetchone()[0] for con in (before, after)}
    assert log.errors == []
    assert log.reads >= 5
    assert all(crashes == features for crashes, features in log.snapshots)
    assert {crashes for crashes, _ in log.snapshots} <= counts


def test_a_failed_build_leaves_the_published_snapshot_alone(scenario: Scenario) -> None:
    failed = scenario.failed
    assert not failed.ok and failed.published is None and failed.tests_failed >= 1
    assert any("assert_no_crash_in_the_future" in p for p in failed.problems)
    assert "gold not replaced" in failed.summary()
    assert scenario.gold_digest_after_failure == scenario.gold_digest_before_failure
    assert scenario.gold_inode_after_failure == scenario.gold_inode_before_failure


def test_marts_of_a_failed_build_never_reach_gold_through_a_later_narrow_build(scenario: Scenario) -> None:
    assert not scenario.failed.ok
    assert scenario.narrow_after_failure.ok, scenario.narrow_after_failure.summary()
    assert scenario.narrow_after_failure.published is not None
    assert scenario.future_crashes_in_gold_after_narrow_build == 0


def test_a_crash_built_before_its_units_aggregate_gets_its_units_on_the_next_build(scenario: Scenario) -> None:
    assert scenario.built_alone.success, scenario.built_alone.error
    assert scenario.built_after_alone.ok, scenario.built_after_alone.summary()
    assert scenario.unit_counts_alone_then_after == (0, 1)


def test_a_key_repeated_by_a_newer_load_is_ranked_on_an_incremental_build(scenario: Scenario) -> None:
    """Raw holding two versions of a crash that no earlier build saw repeated: the newer one
    wins, once, and the key is held for the builds after."""
    second = scenario.second_version
    assert scenario.built_after_alone.ok, scenario.built_after_alone.summary()
    assert second.rows_in_gold == [(second.crash, second.label)]
    assert second.repeated_keys_held == [second.crash]
