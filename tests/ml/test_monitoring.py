"""Model monitoring: dbt's `ml_monitoring_monthly` and `ml_monitoring_drift` on crashes scored by a
real model, with a drift we planted (more parked-vehicle crashes and more hit-and-runs from April
2024): PSI passes 0.2 where we drifted and stays near 0 where we did not, and every figure equals
an independent numpy/scikit-learn computation on the same rows.

The feature mart is the synthetic contract-shaped one (tests/ml/synthetic.py), written where dbt
reads its marts, and scored by the session's model (tests/ml/conftest.py: trained on 2020–21,
tested on 2023, as these crashes' years); dbt builds only the scores and the monitoring models on
top of it.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest
import yaml
from sklearn.metrics import average_precision_score, roc_auc_score

from crashes.gold import STORAGE_COMPATIBILITY
from tests.conftest import PROJECT_ROOT
from tests.ml.conftest import Trained, crashes_home_env
from tests.ml.synthetic import mart_frame, write_gold

DRIFT_FROM = pd.Timestamp("2024-04-01")
DRIFTED = "first_crash_type"
PARKED = "PARKED MOTOR VEHICLE"
DBT_VARS = yaml.safe_load((PROJECT_ROOT / "dbt_project" / "dbt_project.yml").read_text())["vars"]


def drifted_mart(seed: int = 3) -> pd.DataFrame:
    """2020–2023 as generated (train 2020–21, validate 2022, test 2023), then January–June 2024,
    of which April–June get three in five crashes turned into parked-vehicle ones and a quarter
    of the others' non-hit-and-runs turned into hit-and-runs."""
    frame = mart_frame(years=range(2020, 2025), per_year=4800, seed=seed)
    frame = frame[frame["crash_ts"] < pd.Timestamp("2024-07-01")].reset_index(drop=True)
    rng = np.random.default_rng(seed)
    late = (frame["crash_ts"] >= DRIFT_FROM).to_numpy()
    frame.loc[late & (rng.random(len(frame)) < 0.6), DRIFTED] = PARKED
    flip = late & ~frame["is_hit_and_run"].to_numpy() & (rng.random(len(frame)) < 0.25)
    frame.loc[flip, "is_hit_and_run"] = True
    return frame


@dataclass(frozen=True)
class Monitored:
    home: Path
    monthly: pd.DataFrame
    drift: pd.DataFrame
    rows: pd.DataFrame  # the scored crashes with their features, read back from the marts
    metadata: dict
    unit_tests: dict[str, str]


def _read(path: Path, sql: str) -> pd.DataFrame:
    con = duckdb.connect(str(path), read_only=True)
    try:
        return con.execute(sql).df()
    finally:
        con.close()


@pytest.fixture(scope="module")
def monitored(trained: Trained, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Monitored]:
    from ml.registry import current_model
    from ml.score import score_all
    from orchestration.stages import SCORES_MART
    from transform.dbt import run_dbt
    from transform.publish import publish

    home = tmp_path_factory.mktemp("monitoring")
    frame = drifted_mart()
    with crashes_home_env(home):
        shutil.copytree(trained.home / "models", home / "models")
        source = write_gold(frame, home / "source.duckdb")
        score_all(gold=source)
        # Where dbt's marts live, in the storage version it keeps them in; the scores'
        # relationships test looks the crashes up in fct_crashes.
        build = home / "gold_build.duckdb"
        con = duckdb.connect(str(build), config={"storage_compatibility_version": STORAGE_COMPATIBILITY})
        con.execute("attach ? as source (read_only)", [str(source)])
        con.execute("create schema marts")
        con.execute("create table marts.ml_hit_and_run_features as select * from source.marts.ml_hit_and_run_features")
        con.execute("create table marts.fct_crashes as select crash_record_id from marts.ml_hit_and_run_features")
        con.close()
        # As the run's publish stage selects, with the unit tests (a build leaves them to CI).
        built = run_dbt(["build", "--select", SCORES_MART])
        assert built.success, [
            (n.name, n.status, n.message) for n in built.nodes if n.status not in ("success", "pass")
        ]
        publish(build, home / "gold.duckdb")
        monthly = _read(build, "select * from marts.ml_monitoring_monthly order by month_start")
        drift = _read(build, "select * from marts.ml_monitoring_drift order by month_start, variable_name")
        rows = _read(
            build,
            "select f.*, s.probability as score, s.model_version from marts.ml_hit_and_run_scores s"
            " join marts.ml_hit_and_run_features f using (crash_record_id)",
        )
        model = current_model()
        assert model is not None
        yield Monitored(
            home=home,
            monthly=monthly,
            drift=drift,
            rows=rows,
            metadata=model.metadata,
            unit_tests={n.name: n.status for n in built.nodes if n.resource_type == "unit_test"},
        )


def _month(ts: pd.Series) -> pd.Series:
    return ts.dt.to_period("M").dt.to_timestamp()


def test_every_scored_month_once_with_the_training_window_marked(monitored: Monitored) -> None:
    monthly, rows = monitored.monthly, monitored.rows
    months = _month(rows["crash_ts"]).value_counts().sort_index()
    assert list(pd.to_datetime(monthly["month_start"])) == list(months.index)
    assert monthly["crashes_scored"].tolist() == months.tolist()
    first, last = monitored.metadata["split"]["train_years"]
    years = pd.to_datetime(monthly["month_start"]).dt.year
    assert (monthly["is_training_window"] == years.between(first, last)).all()
    assert (monthly["is_test_year"] == (years == monitored.metadata["split"]["test_year"])).all()
    assert set(monthly["model_version"]) == {monitored.metadata["version"]}


def test_planted_drift_shows_psi_above_02_and_undrifted_months_near_zero(monitored: Monitored) -> None:
    drift = monitored.drift.assign(month_start=lambda d: pd.to_datetime(d["month_start"]))
    late = drift["month_start"] >= DRIFT_FROM
    outside = ~drift["is_training_window"]
    feature = drift[drift["variable_name"] == DRIFTED]
    score = drift[drift["variable_name"] == "score"]
    assert (feature.loc[late[feature.index], "psi"] > 0.2).all()
    assert (feature.loc[~late[feature.index] & outside[feature.index], "psi"] < 0.1).all()
    assert (score.loc[late[score.index], "psi"] > 0.2).all()
    assert (score.loc[~late[score.index] & outside[score.index], "psi"] < 0.1).all()
    # Inputs we did not drift stay put in the drifted months too.
    others = drift[late & ~drift["variable_name"].isin([DRIFTED, "score"])]
    # (A 20-bin input of ~400 crashes a month has a PSI of ≈ 0.05 by chance alone.)
    assert len(others) and (others["psi"] < 0.15).all(), others.sort_values("psi").tail(3)
    monthly = monitored.monthly.assign(month_start=lambda d: pd.to_datetime(d["month_start"]))
    drifted = monthly["month_start"] >= DRIFT_FROM
    assert (monthly.loc[drifted, "score_psi"] > 0.2).all()
    assert set(monthly.loc[drifted, "most_drifted_feature"]) == {DRIFTED}
    assert monthly.loc[drifted, "observed_share"].min() > monthly.loc[~drifted, "observed_share"].max()


def test_the_features_watched_are_the_models_inputs(monitored: Monitored) -> None:
    watched = set(monitored.metadata["input_columns"]) - set(DBT_VARS["monitoring_unwatched"])
    assert "crash_month" not in watched and len(watched) >= 20
    assert set(monitored.drift["variable_name"]) == {*watched, "score"}


def test_feature_values_are_counted_per_month_not_one_row_per_crash(monitored: Monitored) -> None:
    """The drift mart bins counts: the long form (one row per crash and variable) was 20 M rows
    at real scale and took minutes to bin."""
    con = duckdb.connect(str(monitored.home / "warehouse.duckdb"), read_only=True)
    try:
        con.execute("attach ? as gold_build (read_only)", [str(monitored.home / "gold_build.duckdb")])
        counted = con.execute(
            "select month_start, variable_name, count(*) as values_seen, sum(crashes) as crashes"
            " from intermediate.int_ml_feature_values group by month_start, variable_name"
        ).df()
    finally:
        con.close()
    rows = monitored.rows.assign(month_start=lambda d: _month(d["crash_ts"]))
    counted["month_start"] = pd.to_datetime(counted["month_start"])
    assert set(counted["variable_name"]) == set(monitored.drift["variable_name"])
    for variable, got in counted.groupby("variable_name"):
        by_month = rows.groupby("month_start")[variable]
        got = got.set_index("month_start").sort_index()
        # Every scored crash of the month counted once, missing values included, in one row
        # per distinct value (so fewer rows than crashes for all but the score).
        assert got["crashes"].to_dict() == by_month.size().to_dict(), variable
        assert got["values_seen"].to_dict() == by_month.nunique(dropna=False).to_dict(), variable
    assert counted["values_seen"].sum() < len(rows) * counted["variable_name"].nunique() / 2


# --------------------------------------------------------------------------- independent figures
def _bins(values: pd.Series, reference: pd.Series, numeric: bool) -> tuple[pd.Series, pd.Series]:
    """The binning the mart describes, written again: training-window deciles for a number with
    more than 20 distinct training values, else its 19 most frequent training values + other."""
    missing = "missing"
    if numeric and reference.dropna().nunique() > 20:
        edges = np.quantile(reference.dropna().to_numpy(float), np.arange(1, 10) / 10)

        def cut(v: pd.Series) -> pd.Series:
            out = pd.Series(np.searchsorted(edges, v.to_numpy(float), side="left"), index=v.index).astype(str)
            return out.where(v.notna(), missing)

        return cut(values), cut(reference)
    text = reference.dropna().astype(str)
    counts = text.value_counts()
    top = sorted(counts.index, key=lambda level: (-counts[level], level))[:19]

    def name(v: pd.Series) -> pd.Series:
        s = v.astype(str)
        return s.where(s.isin(top), "other").where(v.notna(), missing)

    return name(values), name(reference)


def _psi(actual: pd.Series, expected: pd.Series, floor: float) -> float:
    a, e = actual.value_counts(normalize=True), expected.value_counts(normalize=True)
    bins = a.index.union(e.index)
    a = a.reindex(bins, fill_value=0).clip(lower=floor)
    e = e.reindex(bins, fill_value=0).clip(lower=floor)
    return float(((a - e) * np.log(a / e)).sum())


def _ece(y: np.ndarray, p: np.ndarray, ids: np.ndarray) -> float:
    order = np.lexsort((ids, p))
    parts = np.array_split(order, 10)
    return float(sum(len(b) * abs(y[b].mean() - p[b].mean()) for b in parts if len(b)) / len(y))


def test_every_figure_matches_numpy_and_sklearn(monitored: Monitored) -> None:
    rows = monitored.rows.assign(month_start=lambda d: _month(d["crash_ts"]))
    first, last = monitored.metadata["split"]["train_years"]
    training = rows[rows["crash_year"].between(first, last)]
    floor = float(DBT_VARS["monitoring_share_floor"])
    numeric = set(monitored.metadata["input_columns"]) & {
        "crash_hour", "crash_day_of_week", "crash_month", "latitude", "longitude", "posted_speed_limit", "num_units",
    }  # fmt: skip
    expected_psi = {}
    unwatched = set(DBT_VARS["monitoring_unwatched"])
    for variable_name in [*(c for c in monitored.metadata["input_columns"] if c not in unwatched), "score"]:
        is_number = variable_name in numeric or variable_name == "score"
        binned, reference = _bins(rows[variable_name], training[variable_name], is_number)
        for month, at in binned.groupby(rows["month_start"]):
            expected_psi[(month, variable_name)] = _psi(at, reference, floor)
    drift = monitored.drift.assign(month_start=lambda d: pd.to_datetime(d["month_start"]))
    assert len(drift) == len(expected_psi)
    for r in drift.itertuples():
        assert r.psi == pytest.approx(expected_psi[(r.month_start, r.variable_name)], abs=1e-9), (
            r.month_start,
            r.variable_name,
        )

    monthly = monitored.monthly.assign(month_start=lambda d: pd.to_datetime(d["month_start"])).set_index("month_start")
    for month, at in rows.groupby("month_start"):
        y, p = at["is_hit_and_run"].to_numpy(int), at["score"].to_numpy(float)
        got = monthly.loc[month]
        assert got["hit_and_runs"] == y.sum()
        assert got["observed_share"] == pytest.approx(y.mean(), abs=1e-12)
        assert got["mean_score"] == pytest.approx(p.mean(), abs=1e-12)
        assert got["calibration_error"] == pytest.approx(_ece(y, p, at["crash_record_id"].to_numpy()), abs=1e-12)
        assert got["roc_auc"] == pytest.approx(roc_auc_score(y, p), abs=1e-12)
        assert got["pr_auc"] == pytest.approx(average_precision_score(y, p), abs=1e-12)
        assert got["score_psi"] == pytest.approx(expected_psi[(month, "score")], abs=1e-9)
    test_year = monthly[monthly["is_test_year"]]
    assert len(test_year) == 12
    reference = test_year["calibration_error"].mean()
    assert monthly["reference_calibration_error"].tolist() == pytest.approx([reference] * len(monthly))


def test_dbt_unit_tests_of_psi_and_calibration_pass(monitored: Monitored) -> None:
    assert monitored.unit_tests and set(monitored.unit_tests.values()) == {"pass"}, monitored.unit_tests
    assert {"ml_monitoring_drift_psi_of_shifted_bins", "ml_monitoring_monthly_calibration_and_ranking"} <= set(
        monitored.unit_tests
    )


def test_prometheus_exports_the_latest_months_score_psi_and_calibration(monitored: Monitored) -> None:
    from orchestration.metrics import RunHistoryCollector

    with crashes_home_env(monitored.home):
        samples = {
            s.name: s.value for family in RunHistoryCollector().collect() for s in family.samples if not s.labels
        }
    latest = monitored.monthly.iloc[-1]
    assert samples["crashes_model_score_psi"] == pytest.approx(latest["score_psi"])
    assert samples["crashes_model_calibration_error"] == pytest.approx(latest["calibration_error"])
    assert samples["crashes_model_calibration_error_reference"] == pytest.approx(latest["reference_calibration_error"])
    assert samples["crashes_model_score_psi"] > 0.2  # the last month is a drifted one


def test_scoring_writes_the_models_window_and_inputs_in_the_contracts_shape(monitored: Monitored) -> None:
    from tests.dbt.samples import contract_pairs

    con = duckdb.connect(str(monitored.home / "warehouse.duckdb"), read_only=True)
    try:
        types = con.execute(
            "select column_name, data_type from information_schema.columns"
            " where table_schema = 'ml' and table_name = 'scoring_models' order by ordinal_position"
        ).fetchall()
        rows = con.execute("select * from ml.scoring_models").fetchall()
    finally:
        con.close()
    expected = contract_pairs(PROJECT_ROOT / "docs" / "contracts.md", "ml.scoring_models")
    assert {name: kind.removesuffix("[]") for name, kind in types} == expected
    split = monitored.metadata["split"]
    assert rows == [
        (
            monitored.metadata["version"],
            *split["train_years"],
            split["validation_year"],
            split["test_year"],
            monitored.metadata["input_columns"],
        )
    ]
