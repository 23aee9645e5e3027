"""Scoring: every crash in gold once, into the warehouse in the contract's shape, replaced not
appended; one crash explained by contributions that add up; bad input is one clear message."""

from __future__ import annotations

import math

import duckdb
import numpy as np
import pandas as pd
import pytest

from crashes.errors import CrashesError
from ml import registry
from ml.data import SCORING_COLUMNS, read_mart
from ml.score import predict_one, record_frame, score_all, score_frame
from tests.ml.conftest import Trained
from tests.ml.synthetic import mart_frame, write_gold

SCORES_TYPES = {
    "crash_record_id": "VARCHAR",
    "probability": "DOUBLE",
    "predicted_hit_and_run": "BOOLEAN",
    "risk_band": "VARCHAR",
    "model_version": "VARCHAR",
    "scored_at": "TIMESTAMP",
}
NIGHT_PARKED = {
    "crash_hour": 2,
    "crash_day_of_week": 7,
    "crash_month": 7,
    "first_crash_type": "parked motor vehicle",
    "num_units": 2,
    "lighting_condition": "DARKNESS, LIGHTED ROAD",
    "beat_of_occurrence": "1834",
    "latitude": 41.9,
    "longitude": -87.65,
    "is_intersection_related": "N",
}


def _warehouse(trained: Trained, sql: str, params: list | None = None) -> list[tuple]:
    con = duckdb.connect(str(trained.home / "warehouse.duckdb"), read_only=True)
    try:
        return con.execute(sql, params or []).fetchall()
    finally:
        con.close()


def test_scoring_covers_every_crash_once_in_the_contracts_shape(in_trained_home: Trained) -> None:
    first = score_all()
    second = score_all()  # replaces the first set, never appends to it
    print("\n" + second.summary())
    mart_ids = set(read_mart(("crash_record_id",), in_trained_home.gold)["crash_record_id"])
    rows, distinct, versions, stamps = _warehouse(
        in_trained_home,
        "select count(*), count(distinct crash_record_id), count(distinct model_version), count(distinct scored_at)"
        " from ml.hit_and_run_scores",
    )[0]
    assert rows == distinct == len(mart_ids) == second.rows == first.rows
    assert {r[0] for r in _warehouse(in_trained_home, "select crash_record_id from ml.hit_and_run_scores")} == mart_ids
    assert versions == 1 and stamps == 1
    types = _warehouse(
        in_trained_home,
        "select column_name, data_type from information_schema.columns"
        " where table_schema = 'ml' and table_name = 'hit_and_run_scores' order by ordinal_position",
    )
    assert dict(types) == SCORES_TYPES and [t[0] for t in types] == list(SCORES_TYPES)
    (flagged, version, bad), *_ = _warehouse(
        in_trained_home,
        "select count(*) filter (where predicted_hit_and_run), any_value(model_version),"
        " count(*) filter (where probability not between 0 and 1"
        " or predicted_hit_and_run <> (probability >= ?)) from ml.hit_and_run_scores",
        [second.threshold],
    )
    assert flagged == second.flagged and version == second.model_version == in_trained_home.result.version
    assert bad == 0
    # Each stored band is the one the model's test-year cuts give its probability.
    bands = registry.load_current().metadata["risk"]["bands"]
    per_band = dict(_warehouse(in_trained_home, "select risk_band, count(*) from ml.hit_and_run_scores group by 1"))
    assert per_band == {b: n for b, n in second.bands.items() if n} and sum(per_band.values()) == rows
    for band in bands[:-1]:
        (below,) = _warehouse(
            in_trained_home,
            "select count(*) from ml.hit_and_run_scores where risk_band = ? and probability < ?",
            [band["band"], band["min_score"]],
        )[0]
        assert below == 0


def test_frame_scoring_matches_the_model(in_trained_home: Trained) -> None:
    frame = read_mart(SCORING_COLUMNS, in_trained_home.gold).head(500)
    scored = score_frame(frame.drop(columns=["crash_record_id"]))
    model = registry.load_current()
    assert np.array_equal(scored["probability"].to_numpy(), model.probabilities(frame))
    assert (scored["predicted_hit_and_run"] == (scored["probability"] >= model.threshold)).all()


def test_contributions_add_up_to_the_margin(in_trained_home: Trained) -> None:
    prediction = predict_one(NIGHT_PARKED)
    print("\n" + prediction.summary())
    total = prediction.bias + sum(c["contribution"] for c in prediction.contributions)
    assert total == pytest.approx(prediction.margin, abs=1e-4)
    assert 1 / (1 + math.exp(-prediction.margin)) == pytest.approx(prediction.probability, abs=1e-6)
    assert prediction.model_version == in_trained_home.result.version
    assert prediction.predicted == (prediction.probability >= prediction.threshold)
    magnitudes = [abs(c["contribution"]) for c in prediction.contributions]
    assert magnitudes == sorted(magnitudes, reverse=True)
    shown = {c["feature"]: c["value"] for c in prediction.contributions}
    assert shown["first_crash_type"] == "PARKED MOTOR VEHICLE" and shown["crash_hour"] == 2
    # The score is calibrated, shown with its band and human names, never as a verdict.
    summary = prediction.summary()
    assert f"risk band: {prediction.band_summary}" in summary and "flagged" not in summary
    assert "first crash type: PARKED MOTOR VEHICLE" in summary or prediction.contributions[0]["label"] in summary
    assert all("_" not in c["label"] for c in prediction.contributions)


def test_the_known_signal_moves_the_prediction(in_trained_home: Trained) -> None:
    """The generator makes parked-vehicle crashes at night far likelier hit-and-runs."""
    daytime_rear_end = NIGHT_PARKED | {
        "crash_hour": 14,
        "first_crash_type": "REAR END",
        "lighting_condition": "DAYLIGHT",
    }
    assert predict_one(NIGHT_PARKED).probability > predict_one(daytime_rear_end).probability + 0.2


def test_one_crash_equals_the_same_crash_in_a_frame(in_trained_home: Trained) -> None:
    single = predict_one(NIGHT_PARKED).probability
    assert single == pytest.approx(score_frame(record_frame(NIGHT_PARKED))["probability"].iloc[0], abs=1e-12)


def test_a_frame_of_text_is_read_like_one_crash(in_trained_home: Trained) -> None:
    """Flags given as text mean what they say in a frame too ("N" and "false" are no), numbers as
    text are numbers: the frame scores exactly as the same crashes given one by one."""
    flags = {"is_location_imputed": "N", "is_private_property": "false", "is_work_zone": "n"}
    crashes = [
        NIGHT_PARKED | flags | {"is_intersection_related": "N"},
        NIGHT_PARKED | flags | {"is_intersection_related": "Y", "is_private_property": "true"},
    ]
    as_text = pd.DataFrame(crashes).astype(str)
    scored = score_frame(as_text)["probability"].to_numpy()
    one_by_one = np.array([predict_one(c).probability for c in crashes])
    assert scored == pytest.approx(one_by_one, abs=1e-12)
    flags_as_bools = as_text.assign(is_intersection_related=[False, True], is_private_property=[False, True])
    flags_as_bools[["is_location_imputed", "is_work_zone"]] = False
    assert scored == pytest.approx(score_frame(flags_as_bools)["probability"].to_numpy(), abs=1e-12)


def test_an_invalid_value_in_a_frame_is_one_clear_error(in_trained_home: Trained) -> None:
    frame = pd.DataFrame({"crash_hour": [2, 30], "is_work_zone": ["N", "maybe"]})
    with pytest.raises(CrashesError, match="row 1: crash_hour must be between 0 and 23, got 30"):
        score_frame(frame)


@pytest.mark.parametrize(
    ("record", "message"),
    [
        ({"crash_hour": "two"}, "crash_hour must be a number, got 'two'"),
        ({"crash_hour": 24}, "crash_hour must be between 0 and 23, got 24"),
        ({"crash_day_of_week": True}, "crash_day_of_week must be a number"),
        ({"injuries_total": 2}, "unknown field.* injuries_total: the model reads only scene facts"),
        ({"is_crash_date_estimated": "Y"}, "is_crash_date_estimated is not a model input \\(leak: .*\\); leave it out"),
        ({"lane_cnt": 2}, "lane_cnt is not a model input"),
        ({"is_work_zone": "maybe"}, "is_work_zone must be true/false"),
        ({"first_crash_type": ["A"]}, "first_crash_type must be text"),
        ({"latitude": float("nan")}, "latitude must be between"),
    ],
)
def test_bad_input_is_one_clear_error(record: dict, message: str) -> None:
    with pytest.raises(CrashesError, match=message):
        record_frame(record)


def test_a_bare_record_is_scored_with_everything_missing(in_trained_home: Trained) -> None:
    row = record_frame({})
    assert not bool(row.loc[0, "is_location_imputed"]) and pd.isna(row.loc[0, "crash_hour"])
    assert pd.isna(row.loc[0, "latitude"]) and pd.isna(row.loc[0, "longitude"])
    assert 0 < predict_one({}).probability < 1


def test_left_out_coordinates_are_missing_not_imputed() -> None:
    """In the mart is_location_imputed means the police record had no valid location (a far lower
    hit-and-run share): a caller who leaves the coordinates out has not said that."""
    without = {k: v for k, v in NIGHT_PARKED.items() if k not in ("latitude", "longitude")}
    row = record_frame(without)
    assert pd.isna(row.loc[0, "latitude"]) and pd.isna(row.loc[0, "longitude"])
    assert not bool(row.loc[0, "is_location_imputed"])
    assert bool(record_frame(without | {"is_location_imputed": "Y"}).loc[0, "is_location_imputed"])
    assert not bool(record_frame(NIGHT_PARKED | {"longitude": None}).loc[0, "is_location_imputed"])


def test_scoring_without_a_model_is_one_clear_error(crashes_home, trained: Trained) -> None:  # noqa: ANN001
    with pytest.raises(CrashesError, match="no current model"):
        score_all(gold=trained.gold)


def test_scoring_a_mart_without_a_models_column_says_retrain(in_trained_home: Trained, tmp_path) -> None:  # noqa: ANN001
    gold = write_gold(mart_frame(per_year=50), tmp_path / "gold.duckdb", drop=("first_crash_type",))
    with pytest.raises(CrashesError, match=f"in {gold} no longer has: first_crash_type; retrain with `crashes train`"):
        score_all(gold=gold)
    with pytest.raises(CrashesError, match="has no marts.ml_hit_and_run_features: run `crashes build` first"):
        registry.load_current([])
