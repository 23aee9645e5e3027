"""The first build on real data: every dbt test passes, and gold agrees with an independent
reading of the same files."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest
import yaml

from tests.conftest import PROJECT_ROOT
from tests.dbt.conftest import RealBuild
from tests.dbt.samples import YEAR, contract_columns, contract_pairs

DBT_DIR = PROJECT_ROOT / "dbt_project"


def test_every_model_builds_and_every_test_passes(real_build: RealBuild) -> None:
    result = real_build.result
    assert result.ok and result.published == real_build.home / "gold.duckdb"
    assert result.models_failed == 0 and result.models_skipped == 0 and result.tests_failed == 0
    assert result.models_built >= 20 and result.tests_passed >= 60


def test_the_only_warning_is_crashes_without_units_and_its_count_is_the_files(real_build: RealBuild) -> None:
    """The sample's vehicles file covers 490 of its 1000 crashes and the real year has no units
    at all: the completeness test warns with exactly that many, and nothing else warns."""
    crashes = real_build.samples.crashes
    expected = crashes.count - len(real_build.samples.vehicle_crash_ids & set(crashes.locations))
    warnings = [p for p in real_build.result.problems if p.startswith("warning:")]
    assert len(warnings) == real_build.result.tests_warned == 1
    assert "assert_crashes_have_units" in warnings[0]
    assert f"Got {expected} results" in warnings[0]


def test_every_unit_test_in_the_project_passes(at_real_home: RealBuild) -> None:
    """build() leaves unit tests to CI; here they run against the real build's relations. The
    monitoring marts' unit tests need scored relations this unscored build lacks: they run in
    tests/ml/test_monitoring.py, on a scored build."""
    from transform.dbt import run_dbt

    tests = [
        test
        for path in DBT_DIR.joinpath("models").rglob("*.yml")
        for test in (yaml.safe_load(path.read_text()) or {}).get("unit_tests", [])
    ]
    defined = {t["name"] for t in tests if not t["model"].startswith("ml_monitoring_")}
    scored = [t["name"] for t in tests if t["model"].startswith("ml_monitoring_")]
    run = run_dbt(["test", "--select", "test_type:unit", "--exclude", *scored])
    assert len(defined) >= 7
    assert {n.name: n.status for n in run.nodes} == dict.fromkeys(defined, "pass")
    assert run.success


def test_one_row_per_distinct_crash_and_the_label_maps_missing_to_false(real_build: RealBuild) -> None:
    crashes = real_build.samples.crashes
    with real_build.gold() as con:
        rows, hits, nulls = con.execute(
            "select count(*), count(*) filter (where is_hit_and_run), count(*) filter (where is_hit_and_run is null)"
            " from marts.ml_hit_and_run_features"
        ).fetchone()
    assert real_build.samples.year_records > crashes.count  # the real year repeats records
    assert rows == crashes.count
    assert hits == crashes.hit_and_run["Y"]
    assert nulls == 0 and rows - hits == crashes.hit_and_run["N"] + crashes.hit_and_run[""]


def test_hit_and_run_share_of_the_real_year(real_build: RealBuild) -> None:
    crashes = real_build.samples.crashes
    with real_build.gold() as con:
        crash_count, hits = con.execute(
            "select sum(crash_count), sum(hit_and_run_count) from marts.agg_crashes_daily where year(crash_date) = ?",
            [YEAR],
        ).fetchone()
    assert crash_count == crashes.years[str(YEAR)]
    assert 0.25 < hits / crash_count < 0.27  # PROVENANCE.md: 0.259 in 2016


def test_ml_features_have_exactly_the_contract_columns_and_types(real_build: RealBuild) -> None:
    expected = contract_columns(PROJECT_ROOT / "docs" / "contracts.md", "marts.ml_hit_and_run_features")
    with real_build.gold() as con:
        actual = {
            name: dtype
            for name, dtype in con.execute(
                "select column_name, data_type from duckdb_columns() "
                "where schema_name = 'marts' and table_name = 'ml_hit_and_run_features'"
            ).fetchall()
        }
    assert len(expected) == 35  # the 34 contract columns before, plus the load watermark
    assert actual == expected


def test_unusable_locations_take_their_beats_median(real_build: RealBuild) -> None:
    crashes = real_build.samples.crashes
    medians = crashes.beat_medians()
    unusable = crashes.unusable_locations()
    with real_build.gold() as con:
        rows = con.execute(
            "select crash_record_id, latitude, longitude, is_location_imputed from marts.fct_crashes "
            "where not has_valid_location"
        ).fetchall()
    assert {r[0] for r in rows} == set(unusable)
    imputable = {cid for cid, beat in unusable.items() if beat in medians}
    assert len(imputable) > 100
    for crash_id, lat, lng, imputed in rows:
        if crash_id in imputable:
            assert imputed and (lat, lng) == pytest.approx(medians[unusable[crash_id]], abs=1e-9)
        else:
            assert not imputed and lat is None and lng is None


def test_people_link_to_units_on_vehicle_id(real_build: RealBuild) -> None:
    samples = real_build.samples
    linkable = [v for v in samples.people_vehicle_ids if v in samples.vehicle_ids]
    with real_build.gold() as con:
        linked, consistent = con.execute(
            "select count(p.crash_unit_id), count(*) filter (where p.crash_unit_id = v.crash_unit_id) "
            "from marts.fct_people as p left join marts.fct_vehicles as v on p.vehicle_id = v.vehicle_id"
        ).fetchone()
    assert len(linkable) == len(samples.people_vehicle_ids) > 700
    assert linked == consistent == len(linkable)


def test_analyst_and_quality_marts_add_up_to_the_facts(real_build: RealBuild) -> None:
    with real_build.gold() as con:
        facts = dict(
            con.execute(
                "select 'crashes', count(*) from marts.fct_crashes union all "
                "select 'vehicles', count(*) from marts.fct_vehicles union all "
                "select 'people', count(*) from marts.fct_people"
            ).fetchall()
        )
        daily = con.execute("select sum(crash_count) from marts.agg_crashes_daily").fetchone()[0]
        causes = con.execute("select sum(crash_count) from marts.agg_contributory_causes").fetchone()[0]
        road_users = con.execute("select sum(person_count) from marts.agg_injuries_by_road_user").fetchone()[0]
        per_load = dict(
            con.execute("select dataset, sum(current_row_count) from marts.dq_loads group by dataset").fetchall()
        )
        per_dataset = dict(con.execute("select dataset, row_count from marts.dq_datasets").fetchall())
        columns = con.execute(
            "select count(distinct column_name), min(row_count), max(row_count) from marts.dq_columns "
            "where dataset = 'crashes'"
        ).fetchone()
        fct_columns = con.execute(
            "select count(*) from duckdb_columns() "
            "where table_name = 'fct_crashes' and column_name != 'garbled_columns'"
        ).fetchone()[0]
    assert facts == {"crashes": real_build.samples.crashes.count, "vehicles": 1000, "people": 1000}
    assert daily == causes == facts["crashes"] and road_users == facts["people"]
    assert {k: int(v) for k, v in per_load.items()} == facts == per_dataset
    assert columns == (fct_columns, facts["crashes"], facts["crashes"])


def test_quality_gate_ran_and_its_results_reach_gold(real_build: RealBuild) -> None:
    summary = real_build.result.summary()
    assert "quality gate:" in summary and "no new raw loads" not in summary
    with real_build.gold() as con:
        datasets = {r[0] for r in con.execute("select distinct dataset from marts.dq_expectations").fetchall()}
    assert {"crashes", "vehicles", "people"} <= datasets


def test_ml_scores_mart_exists_empty_before_any_model(real_build: RealBuild) -> None:
    with real_build.gold() as con:
        rows = con.execute("select count(*) from marts.ml_hit_and_run_scores").fetchone()[0]
        columns = con.execute(
            "select column_name, data_type from duckdb_columns() where table_name = 'ml_hit_and_run_scores'"
        ).fetchall()
    assert rows == 0
    assert dict(columns) == contract_pairs(PROJECT_ROOT / "docs" / "contracts.md", "ml.hit_and_run_scores")


def test_gold_is_a_snapshot_older_duckdb_can_read_with_descriptions(real_build: RealBuild) -> None:
    with real_build.gold() as con:
        tags = dict(con.execute("select database_name, tags from duckdb_databases()").fetchall())
        schemas = {r[0] for r in con.execute("select distinct schema_name from duckdb_tables()").fetchall()}
        undocumented = con.execute(
            "select table_name || '.' || column_name from duckdb_columns() "
            "where schema_name = 'marts' and (comment is null or comment = '')"
        ).fetchall()
        table_comment = con.execute("select comment from duckdb_tables() where table_name = 'fct_crashes'").fetchone()[
            0
        ]
    gold_name = Path(real_build.gold_copy).stem
    assert tags[gold_name]["storage_version"] == "v1.4.0+"
    assert schemas == {"marts"}
    assert undocumented == []
    assert "One row per crash" in table_comment


def test_schemas_are_staging_intermediate_and_marts(real_build: RealBuild) -> None:
    with duckdb.connect(str(real_build.warehouse), read_only=True) as con:
        schemas = {r[0] for r in con.execute("select schema_name from duckdb_schemas() where not internal").fetchall()}
    assert {"raw", "staging", "intermediate"} <= schemas
    assert not any(s.startswith("main_") for s in schemas)
