"""The generator: the portal's shape, consistent fields, linkage, and the real data's shares."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from ingestion.datasets import CRASHES, PEOPLE, VEHICLES
from ingestion.devserver.generator import generate_crashes, generate_to_folder, generate_units
from ingestion.devserver.sampling import load_stats

START, END = date(2024, 1, 1), date(2024, 3, 1)


@pytest.fixture(scope="module")
def data() -> dict[str, pa.Table]:
    crashes = generate_crashes(START, END, crashes_per_day=400, seed=11)
    vehicles, people = generate_units(crashes, seed=11)
    return {"crashes": crashes, "vehicles": vehicles, "people": people}


@pytest.fixture(scope="module")
def con(data: dict[str, pa.Table]) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    for name, table in data.items():
        con.register(name, table)
    return con


def _one(con: duckdb.DuckDBPyConnection, sql: str) -> object:
    return con.execute(sql).fetchall()[0][0]


def test_same_seed_same_bytes_other_seed_other_data() -> None:
    def ipc(seed: int) -> bytes:
        crashes = generate_crashes(START, date(2024, 1, 8), crashes_per_day=50, seed=seed)
        vehicles, people = generate_units(crashes, seed=seed)
        sink = pa.BufferOutputStream()
        for table in (crashes, vehicles, people):
            with pa.ipc.new_stream(sink, table.schema) as writer:
                writer.write_table(table)
        return sink.getvalue().to_pybytes()

    assert ipc(5) == ipc(5)
    assert ipc(5) != ipc(6)


def test_columns_are_the_specs_and_all_strings(data: dict[str, pa.Table]) -> None:
    for spec in (CRASHES, VEHICLES, PEOPLE):
        table = data[spec.name]
        assert tuple(table.column_names) == spec.columns
        assert {str(t) for t in table.schema.types} == {"string"}


def test_values_look_like_the_api(data: dict[str, pa.Table], con: duckdb.DuckDBPyConnection) -> None:
    crashes = data["crashes"]
    ids = crashes["crash_record_id"]
    assert pc.all(pc.match_substring_regex(ids, "^[0-9a-f]{128}$")).as_py()
    assert pc.count_distinct(ids).as_py() == crashes.num_rows
    ts = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:00\.000$"
    assert pc.all(pc.match_substring_regex(crashes["crash_date"], ts)).as_py()
    assert pc.all(pc.match_substring_regex(crashes["date_police_notified"], ts)).as_py()
    assert pc.all(pc.match_substring_regex(crashes["posted_speed_limit"], r"^\d+$")).as_py()
    lat = pc.drop_null(crashes["latitude"])
    assert pc.all(pc.match_substring_regex(lat, r"^(0|4[12]\.\d{1,10})$")).as_py()
    point = json.loads(pc.drop_null(crashes["location"])[0].as_py())
    assert point["type"] == "Point" and len(point["coordinates"]) == 2
    # the point and the lat/lng fields say the same thing
    mismatch = _one(
        con,
        """
        SELECT count(*) FROM crashes WHERE location IS NOT NULL AND (
          abs(json_extract(location, '$.coordinates[1]')::DOUBLE - latitude::DOUBLE) > 1e-9 OR
          abs(json_extract(location, '$.coordinates[0]')::DOUBLE - longitude::DOUBLE) > 1e-9)""",
    )
    assert mismatch == 0
    first, last = pc.min(crashes["crash_date"]).as_py(), pc.max(crashes["crash_date"]).as_py()
    assert first >= "2024-01-01" and last < "2024-03-01"


def test_derived_fields_are_consistent(con: duckdb.DuckDBPyConnection) -> None:
    bad = _one(
        con,
        """
        SELECT count(*) FROM (SELECT *, crash_date::TIMESTAMP ts FROM crashes) WHERE
          crash_hour::INT <> hour(ts) OR crash_day_of_week::INT <> dayofweek(ts) + 1
          OR crash_month::INT <> month(ts) OR date_police_notified::TIMESTAMP <= ts
          OR injuries_total::INT <> injuries_fatal::INT + injuries_incapacitating::INT
             + injuries_non_incapacitating::INT + injuries_reported_not_evident::INT
          OR (injuries_fatal::INT > 0) <> (most_severe_injury = 'FATAL')
          OR (injuries_total::INT = 0) <> (most_severe_injury = 'NO INDICATION OF INJURY')""",
    )
    assert bad == 0
    # a crash with an injury is "no injury / drive away" as rarely as in the real data (0.01-0.02 %)
    assert (
        _one(con, "SELECT avg((crash_type = 'NO INJURY / DRIVE AWAY')::INT) FROM crashes WHERE injuries_total::INT > 0")
        < 0.002
    )


def test_missing_and_odd_locations_at_real_rates(data: dict[str, pa.Table]) -> None:
    crashes = data["crashes"]
    place = load_stats()["place"]
    missing = crashes["latitude"].null_count / crashes.num_rows
    assert missing == pytest.approx(place["p_location_missing"], abs=0.004)
    assert 0.002 < missing < 0.015


def test_conditions_depend_on_time_as_in_reality(con: duckdb.DuckDBPyConnection) -> None:
    snow_winter = _one(con, "SELECT avg((weather_condition = 'SNOW')::INT) FROM crashes WHERE crash_month = '1'")
    dark_night = _one(con, "SELECT avg((lighting_condition LIKE 'DARKNESS%')::INT) FROM crashes WHERE crash_hour = '2'")
    dark_noon = _one(con, "SELECT avg((lighting_condition LIKE 'DARKNESS%')::INT) FROM crashes WHERE crash_hour = '12'")
    assert snow_winter > 0.03
    assert dark_night > 0.8 > 0.05 > dark_noon


def test_hit_and_run_share_and_its_dependence_on_crash_type(con: duckdb.DuckDBPyConnection) -> None:
    real = load_stats()["hit_and_run"]
    share = _one(con, "SELECT avg(coalesce(hit_and_run_i = 'Y', false)::INT) FROM crashes")
    assert share == pytest.approx(real["share"], abs=0.02)
    assert 0.28 < share < 0.35
    by_type = dict(
        con.execute(
            "SELECT first_crash_type, avg(coalesce(hit_and_run_i = 'Y', false)::INT) FROM crashes GROUP BY 1"
        ).fetchall()
    )
    real_types = real["share_by_first_crash_type"]
    assert by_type["PARKED MOTOR VEHICLE"] > 1.4 * share
    assert by_type["PARKED MOTOR VEHICLE"] == pytest.approx(real_types["PARKED MOTOR VEHICLE"], abs=0.06)
    assert by_type["FIXED OBJECT"] < share
    # the flag is 'Y', sometimes 'N', mostly absent: as delivered
    flags = dict(con.execute("SELECT hit_and_run_i, count(*) FROM crashes GROUP BY 1").fetchall())
    assert set(flags) == {"Y", "N", None} and flags[None] > flags["Y"] > flags["N"]


def test_vehicles_and_people_link_like_the_portal(data: dict[str, pa.Table], con) -> None:
    crashes, vehicles, people = data["crashes"], data["vehicles"], data["people"]
    assert vehicles.num_rows / crashes.num_rows == pytest.approx(2.0, abs=0.1)
    assert people.num_rows / crashes.num_rows == pytest.approx(2.1, abs=0.15)
    assert (
        _one(con, "SELECT count(*) FROM vehicles WHERE crash_record_id NOT IN (SELECT crash_record_id FROM crashes)")
        == 0
    )
    assert (
        _one(
            con,
            "SELECT count(*) FROM people p WHERE vehicle_id IS NOT NULL "
            "AND vehicle_id NOT IN (SELECT vehicle_id FROM vehicles WHERE vehicle_id IS NOT NULL)",
        )
        == 0
    )
    # vehicles per crash = num_units, unit numbers 1..n
    assert (
        _one(
            con,
            "SELECT count(*) FROM crashes c JOIN (SELECT crash_record_id, count(*) n, max(unit_no::INT) m "
            "FROM vehicles GROUP BY 1) v USING (crash_record_id) WHERE n <> c.num_units::INT OR m <> n",
        )
        == 0
    )
    for key in ("crash_unit_id",):
        assert pc.count_distinct(vehicles[key]).as_py() == vehicles.num_rows
    vid = pc.drop_null(vehicles["vehicle_id"])
    assert pc.count_distinct(vid).as_py() == len(vid)
    assert _one(con, "SELECT count(*) FROM vehicles WHERE vehicle_id = crash_unit_id") == 0
    assert pc.count_distinct(people["person_id"]).as_py() == people.num_rows
    # drivers, pedestrians, cyclists are 'O' || crash_unit_id; passengers 'P<number>' in a vehicle
    assert (
        _one(
            con,
            "SELECT count(*) FROM people WHERE person_type <> 'PASSENGER' AND substr(person_id, 2) "
            "NOT IN (SELECT crash_unit_id FROM vehicles)",
        )
        == 0
    )
    types = dict(
        con.execute(
            "SELECT person_type, bool_and(regexp_matches(person_id, CASE WHEN person_type = 'PASSENGER' "
            "THEN '^P[0-9]+$' ELSE '^O[0-9]+$' END)) FROM people GROUP BY 1"
        ).fetchall()
    )
    assert set(types) >= {"DRIVER", "PASSENGER", "PEDESTRIAN"} and all(types.values())
    assert (
        _one(
            con, "SELECT count(*) FROM people WHERE person_type IN ('PEDESTRIAN', 'BICYCLE') AND vehicle_id IS NOT NULL"
        )
        == 0
    )


def test_fleeing_drivers_are_mostly_unknown(con: duckdb.DuckDBPyConnection) -> None:
    unknown = dict(
        con.execute("""
        SELECT c.hit_and_run_i = 'Y', avg((v.make = 'UNKNOWN')::INT)
        FROM vehicles v JOIN crashes c USING (crash_record_id)
        WHERE v.unit_no = '1' AND v.unit_type = 'DRIVER' GROUP BY 1""").fetchall()
    )
    assert unknown[True] > 0.3 > 0.05 > unknown[None]


def test_people_injuries_follow_the_crash_counts(con: duckdb.DuckDBPyConnection) -> None:
    # never more injured people of a class than the crash reports
    over = _one(
        con,
        """
        SELECT count(*) FROM crashes c JOIN (
          SELECT crash_record_id, count(*) FILTER (WHERE injury_classification = 'FATAL') f,
                 count(*) FILTER (WHERE injury_classification <> 'NO INDICATION OF INJURY') hurt
          FROM people GROUP BY 1) p USING (crash_record_id)
        WHERE p.f > c.injuries_fatal::INT OR p.hurt > c.injuries_total::INT""",
    )
    assert over == 0
    assigned = _one(con, "SELECT count(*) FROM people WHERE injury_classification <> 'NO INDICATION OF INJURY'")
    reported = _one(con, "SELECT sum(injuries_total::INT) FROM crashes")
    assert 0.7 * reported < assigned <= reported


def test_generate_to_folder_writes_three_files_and_says_so(tmp_path: Path) -> None:
    summary = generate_to_folder(tmp_path / "out", START, date(2024, 1, 4), crashes_per_day=100, seed=3)
    tables = {n: pq.read_table(tmp_path / "out" / f"{n}.parquet") for n in ("crashes", "vehicles", "people")}
    assert f"{tables['crashes'].num_rows:,} crashes" in summary
    assert f"{tables['people'].num_rows:,} people" in summary
    assert "hit-and-run share" in summary and "2024-01-03" in summary


def test_units_for_real_crashes(shared_data: Path) -> None:
    path = shared_data / "crashes_real" / "crashes_2015.jsonl.gz"
    crashes = duckdb.sql(
        f"SELECT * EXCLUDE (location) FROM read_ndjson_auto('{path}') LIMIT 3000"  # noqa: S608 - test path
    ).to_arrow_table()
    vehicles, people = generate_units(crashes, seed=1)
    units = pc.sum(pc.cast(crashes["num_units"], pa.int64())).as_py()
    assert vehicles.num_rows == units
    assert set(vehicles["crash_record_id"].unique().to_pylist()) == set(crashes["crash_record_id"].to_pylist())
    assert people.num_rows / crashes.num_rows == pytest.approx(2.1, abs=0.25)


def test_units_for_crashes_with_missing_or_garbled_counts(data: dict[str, pa.Table]) -> None:
    crashes = data["crashes"].slice(0, 4)
    crashes = crashes.set_column(
        crashes.schema.get_field_index("num_units"), "num_units", pa.array(["abc", None, " 3", "2"])
    )
    crashes = crashes.set_column(
        crashes.schema.get_field_index("injuries_fatal"), "injuries_fatal", pa.array(["x", None, "0", "1"])
    )
    vehicles, people = generate_units(crashes, seed=2)
    per_crash = pc.value_counts(vehicles["crash_record_id"]).to_pylist()
    counts = {d["values"]: d["counts"] for d in per_crash}
    ids = crashes["crash_record_id"].to_pylist()
    assert [counts[i] for i in ids] == [1, 1, 3, 2]  # unreadable counts mean one unit
    fatal = pc.sum(pc.equal(people["injury_classification"], "FATAL")).as_py()
    assert fatal <= 1
