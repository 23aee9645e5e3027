"""Community areas and beat polygons in gold, checked on the real build (one real year)."""

from __future__ import annotations

import json
import random
from pathlib import Path

import shapely

from tests.dbt.conftest import RealBuild
from tests.dbt.samples import YEAR


def test_gold_holds_every_boundary_with_names_and_geometry(real_build: RealBuild) -> None:
    with real_build.gold() as con:
        counts = {
            table: con.execute(
                f"select count(*), count(distinct {key}), count(*) filter (where {key}_name is null)"  # noqa: S608
                f" from marts.{table}"
            ).fetchone()
            for table, key in (
                ("geo_police_beats", "beat"),
                ("geo_police_districts", "district"),
                ("geo_community_areas", "community_area"),
            )
        }
        loop = con.execute(
            "select community_area_name, geometry_geojson from marts.geo_community_areas where community_area = 32"
        ).fetchone()
    assert counts == {
        "geo_police_beats": (275, 275, 0),
        "geo_police_districts": (23, 23, 0),
        "geo_community_areas": (77, 77, 0),
    }
    assert loop[0] == "LOOP"
    assert shapely.from_geojson(loop[1]).contains(shapely.Point(-87.6298, 41.8781))  # State & Madison


def test_located_crashes_get_the_community_area_their_point_lies_in(real_build: RealBuild, shared_data: Path) -> None:
    """Checked against the unsimplified source polygons, point by point, on a sample."""
    source = json.loads((shared_data / "boundaries" / "community_areas.geojson").read_text())
    areas = [(int(f["properties"]["area_numbe"]), shapely.geometry.shape(f["geometry"])) for f in source["features"]]
    with real_build.gold() as con:
        rows = con.execute(
            "select crash_record_id, longitude, latitude, community_area, community_area_name, has_valid_location"
            " from marts.fct_crashes where crash_year = ?",
            [YEAR],
        ).fetchall()
        names = dict(
            con.execute("select community_area, community_area_name from marts.geo_community_areas").fetchall()
        )
    located = [r for r in rows if r[5]]
    assert len(located) > 30_000
    assert all(r[3] is None for r in rows if not r[5])  # imputed or missing locations get none
    with_area = [r for r in located if r[3] is not None]
    assert len(with_area) / len(located) > 0.995
    assert all(names[r[3]] == r[4] for r in with_area)
    sample = random.Random(YEAR).sample(located, 400)
    expected = {r[0]: next((n for n, a in areas if a.contains(shapely.Point(r[1], r[2]))), None) for r in sample}
    agree = sum(expected[r[0]] == r[3] for r in sample)
    assert agree >= 398, f"{400 - agree} of 400 sampled crashes disagree with the source polygons"


def test_crashes_outside_their_own_beat_are_a_dq_mart_not_an_error(real_build: RealBuild) -> None:
    with real_build.gold() as con:
        located = con.execute(
            "select count(*) from marts.fct_crashes where has_valid_location and beat_of_occurrence is not null"
        ).fetchone()[0]
        issues = dict(con.execute("select issue, count(*) from marts.dq_crashes_outside_beat group by 1").fetchall())
        wrong = con.execute(
            "select count(*) from marts.dq_crashes_outside_beat as dq"
            " join marts.geo_police_beats as b on dq.beat_of_occurrence = b.beat_of_occurrence"
            " where dq.issue = 'inside another beat' and dq.located_beat = dq.beat_of_occurrence"
        ).fetchone()[0]
    outside = sum(issues.values())
    assert 0.001 < outside / located < 0.03, issues
    assert issues.get("inside another beat", 0) > 0
    assert wrong == 0
