"""What a score means: calibrated probabilities, risk bands ordered by precision, precision at the
top k, human feature names, and the baseline comparison the page reports."""

from __future__ import annotations

import numpy as np
import pytest

from ml.evaluate import metrics
from ml.features import FEATURE_LABELS, feature_label, model_features, shown_value
from ml.risk import REST, band_of, calibrate, fit_calibrator, precision_at_k, risk_bands
from ml.train import fit
from tests.ml.synthetic import mart_frame


def _miscalibrated(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Labels drawn from a true probability, and a raw score that ranks them perfectly but is
    overconfident and too high (what a model trained on a year with more hit-and-runs gives)."""
    rng = np.random.default_rng(seed)
    true_logit = rng.normal(-1.0, 1.0, n)
    y = (rng.random(n) < 1 / (1 + np.exp(-true_logit))).astype(int)
    raw = 1 / (1 + np.exp(-(2.0 * true_logit + 1.5)))
    return y, raw


def test_calibrated_scores_match_the_observed_share_on_held_out_rows() -> None:
    y_val, raw_val = _miscalibrated(4000, seed=1)
    y_test, raw_test = _miscalibrated(4000, seed=2)
    calibrator = fit_calibrator(y_val, raw_val, fitted_on="validation")
    calibrated = calibrate(calibrator, raw_test)
    observed = y_test.mean()
    assert abs(raw_test.mean() - observed) > 0.1, "the raw scores should be visibly off"
    assert abs(calibrated.mean() - observed) < 0.02
    # Per decile as well, and the order (hence every ranking figure) is unchanged.
    order = np.argsort(calibrated)
    for idx in np.array_split(order, 5):
        assert abs(calibrated[idx].mean() - y_test[idx].mean()) < 0.06
    assert np.array_equal(np.argsort(raw_test, kind="stable"), np.argsort(calibrated, kind="stable"))
    assert metrics(y_test, calibrated, 0.5)["brier"] < metrics(y_test, raw_test, 0.5)["brier"]


def test_bands_are_ordered_and_cover_every_row() -> None:
    y, raw = _miscalibrated(5000, seed=3)
    bands = risk_bands(y, raw)
    assert [b["band"] for b in bands] == ["top 1 %", "top 5 %", "top 10 %", REST]
    cuts = [b["min_score"] for b in bands]
    assert cuts == sorted(cuts, reverse=True)
    assert sum(b["band_rows"] for b in bands) == len(y)
    for upper, lower in zip(bands, bands[1:], strict=False):
        assert upper["band_precision"] >= lower["band_precision"]
        assert upper["precision"] >= lower["precision"] and upper["flagged"] < lower["flagged"]
    for b in bands:
        assert b["tp"] + b["fp"] + b["fn"] + b["tn"] == len(y) and b["tp"] + b["fp"] == b["flagged"]
    assert bands[1]["flagged"] == pytest.approx(0.05 * len(y), abs=2)
    labels = band_of(bands, raw)
    for b in bands:
        assert (labels == b["band"]).sum() == b["band_rows"]


def test_precision_at_k_is_the_top_k_share() -> None:
    y, raw = _miscalibrated(3000, seed=4)
    rows = precision_at_k(y, raw, ks=(100, 1000, 5000))
    assert [r["k"] for r in rows] == [100, 1000]  # no k beyond the rows there are
    top = np.argsort(-raw)[:100]
    assert rows[0]["precision"] == pytest.approx(y[top].mean())
    assert rows[0]["precision"] >= rows[1]["precision"] > y.mean()


def test_every_feature_has_a_human_label() -> None:
    features = model_features()
    assert set(features) <= set(FEATURE_LABELS)
    for feature in features:
        label = feature_label(feature)
        assert label != feature and "_" not in label, feature
    assert feature_label("hist_beat_x_crash_type") == "beat's past hit-and-run share for this crash type"
    assert shown_value("hist_beat_x_crash_type", 0.3496) == "35%"
    assert shown_value("n_beat_x_crash_type", np.log1p(32.0)) == "32 crashes"
    assert shown_value("is_work_zone", 1.0) == "yes" and shown_value("crash_day_of_week", 7.0) == "Saturday"


def test_training_records_calibration_bands_and_selection() -> None:
    frame = mart_frame(per_year=1500, seed=3)
    pipeline, meta, split = fit(frame)
    test = frame[frame["crash_year"] == split.test]
    calibrated = calibrate(meta["calibrator"], pipeline.predict_proba(test)[:, 1])
    assert abs(calibrated.mean() - test["is_hit_and_run"].mean()) < 0.03
    bands = meta["risk"]["bands"]
    assert meta["risk"]["year"] == split.test and bands[-1]["band"] == REST
    assert bands[0]["precision"] >= bands[-1]["band_precision"]
    assert meta["selection"]["metric"] == "pr_auc" and meta["selection"]["model_is_best"]


def _linear_mart(per_year: int, seed: int):  # noqa: ANN202 - a pandas frame
    """Hit-and-run odds linear in the raw numbers and nothing else: the logistic-regression
    baseline's home ground, where the booster can only approximate the line with steps."""
    frame = mart_frame(per_year=per_year, seed=seed)
    rng = np.random.default_rng(seed)
    speed = rng.normal(30, 8, len(frame)).round().clip(0, 99)
    frame["posted_speed_limit"] = speed.astype("int32")
    z = (frame["latitude"] - 41.85) / 0.06 + (frame["longitude"] + 87.675) / 0.045 + (speed - 30) / 8
    frame["is_hit_and_run"] = rng.random(len(frame)) < 1 / (1 + np.exp(-(-0.9 + 0.9 * z)))
    return frame


def test_a_baseline_that_wins_on_validation_is_reported() -> None:
    frame = _linear_mart(per_year=800, seed=5)
    _, meta, _ = fit(frame)
    chosen = meta["selection"]
    print("\n", chosen)
    assert chosen["best_baseline"] == "logistic_regression"
    assert chosen["baseline"] == pytest.approx(meta["baselines"]["logistic_regression"]["validation"]["pr_auc"])
    assert chosen["model"] == pytest.approx(meta["metrics"]["validation"]["pr_auc"])
    assert chosen["model_is_best"] is False and "baseline beats the model" in chosen["note"]
