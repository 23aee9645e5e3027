"""The feature list against the contract and the deny-list, and the history features' hygiene:
nothing the model reads is, or is computed from, a post-crash fact, and no row's own label
reaches its own features."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ml.features import (
    DENIED_COLUMNS,
    EXCLUDED_FROM_MART,
    HISTORIES,
    INPUT_COLUMNS,
    LABEL,
    SceneFeatures,
    conform,
    engineered_sources,
    history_keys,
    is_denied,
    model_features,
)
from tests.ml.synthetic import contract_columns, mart_frame

POST_CRASH = [
    "injuries_total",
    "injuries_fatal",
    "most_severe_injury",
    "damage",
    "report_type",
    "crash_type",
    "prim_contributory_cause",
    "sec_contributory_cause",
    "date_police_notified",
    "photos_taken_i",
    "statements_taken_i",
    "n_people_injured",
    "vehicles_towed",
    "num_vehicles",
    "people_count",
]


def test_the_deny_list_catches_post_crash_columns_by_name() -> None:
    assert all(is_denied(c) for c in POST_CRASH)
    # ...without catching scene facts whose names merely look alike
    assert not any(is_denied(c) for c in ("first_crash_type", "num_units", "crash_hour", "street_name"))


def test_no_feature_is_or_derives_from_a_denied_column() -> None:
    assert set(model_features()).isdisjoint(DENIED_COLUMNS)
    assert not [f for f in model_features() if is_denied(f)]
    for feature, sources in engineered_sources().items():
        assert sources, feature
        assert not [s for s in sources if is_denied(s)], feature
        assert set(sources) <= set(INPUT_COLUMNS), f"{feature} derives from a column the model does not declare"
    assert not [c for c in INPUT_COLUMNS if is_denied(c)]


def test_inputs_are_contract_columns_and_leaks_in_the_mart_are_left_out() -> None:
    contract = contract_columns()
    assert LABEL in contract and "crash_record_id" in contract
    assert set(INPUT_COLUMNS) <= set(contract)
    assert "is_crash_date_estimated" in contract and "is_crash_date_estimated" not in INPUT_COLUMNS
    assert set(EXCLUDED_FROM_MART) <= set(contract)
    unaccounted = set(contract) - set(INPUT_COLUMNS) - set(EXCLUDED_FROM_MART)
    # The key, the split's clock, the label, and dbt's incremental watermark: none is an input.
    assert unaccounted == {"crash_record_id", "crash_ts", "crash_year", LABEL, "last_load_id"}


def test_features_read_only_the_declared_columns() -> None:
    frame = mart_frame(per_year=400)
    y = frame[LABEL].to_numpy(int)
    only_declared = SceneFeatures().fit_transform(frame[list(INPUT_COLUMNS)], y)
    # Post-crash columns beside the inputs, with values that would give the label away, change nothing.
    leaky = frame.assign(injuries_total=y * 3, damage=np.where(y, "OVER $1,500", "$500 OR LESS"), crash_type=y)
    with_leaks = SceneFeatures().fit_transform(leaky, y)
    pd.testing.assert_frame_equal(only_declared, with_leaks)
    assert list(only_declared.columns) == model_features()


def test_history_features_never_see_the_rows_own_label() -> None:
    """Every crash on its own street: a street's in-fold share would be the crash's own label."""
    frame = mart_frame(per_year=600).reset_index(drop=True)
    frame["street_name"] = [f"ONLY STREET {i}" for i in range(len(frame))]
    y = frame[LABEL].to_numpy(int)
    encoded = SceneFeatures(smooth=1.0).fit_transform(frame, y)["hist_street"].to_numpy()
    gap = encoded[y == 1].mean() - encoded[y == 0].mean()
    assert abs(gap) < 0.01, f"out-of-fold street history still tracks the own label (gap {gap:.3f})"
    # Fitted (not cross-fitted) statistics would have put the label in: the check can fail.
    refit = SceneFeatures(smooth=1.0).fit(frame, y).transform(frame)["hist_street"].to_numpy()
    assert refit[y == 1].mean() - refit[y == 0].mean() > 0.3


def test_rows_scored_later_do_not_change_what_was_fitted() -> None:
    frame = mart_frame(per_year=500)
    train, later = frame[frame.crash_year < 2023], frame[frame.crash_year == 2023]
    features = SceneFeatures().fit(train, train[LABEL].to_numpy(int))
    before = features.transform(later)
    flipped = later.assign(is_hit_and_run=~later[LABEL])
    pd.testing.assert_frame_equal(before, features.transform(flipped))


def test_location_imputed_by_the_mart_is_missing_to_the_model() -> None:
    frame = mart_frame(per_year=300)
    x = SceneFeatures().fit_transform(frame, frame[LABEL].to_numpy(int))
    imputed = frame["is_location_imputed"].to_numpy()
    assert imputed.any()
    assert x.loc[imputed, ["latitude", "longitude"]].isna().all().all()
    assert x.loc[~imputed, ["latitude", "longitude"]].notna().all().all()


def test_fitting_needs_the_label() -> None:
    with pytest.raises(ValueError, match="label"):
        SceneFeatures().fit_transform(mart_frame(per_year=50))


def test_fast_lookup_equals_the_target_encoders_own_transform() -> None:
    frame = mart_frame(per_year=400)
    train, later = frame[frame.crash_year < 2023], frame[frame.crash_year == 2023].copy()
    later["street_name"] = "A STREET NEVER SEEN"  # unseen keys get the training share
    features = SceneFeatures().fit(train, train[LABEL].to_numpy(int))
    keys = history_keys(conform(later))
    encoded, counts = features._lookup(keys)
    np.testing.assert_allclose(encoded, features.encoder_.transform(keys.to_numpy()), rtol=0, atol=1e-12)
    street = [h.name for h in HISTORIES].index("street")
    assert (counts[:, street] == 0).all()
    assert np.allclose(encoded[:, street], train[LABEL].mean())


def test_row_keys_are_pandas_hash_of_the_parts_as_a_frame() -> None:
    """Saved models hold keys made by hash_pandas_object; the frame-free hash must give the same."""
    from ml.features import _hash

    text = pd.array(["A", None, "B", "A", "ÜBER STRASSE"], dtype="string")
    numbers = np.array([1.0, np.nan, -3.5, 1.0, 0.0])
    bins = np.array([0, 4, -1, 0, 2])
    frame = pd.DataFrame({"t": text, "n": numbers, "b": bins})
    expected = (pd.util.hash_pandas_object(frame, index=False).to_numpy() >> np.uint64(1)).astype(np.int64)
    assert np.array_equal(_hash(text, numbers, bins), expected)
    assert _hash(text)[0] == _hash(text)[3] and _hash(text)[0] != _hash(text)[2]


def test_the_boosters_matrix_is_the_pipelines_frame() -> None:
    frame = mart_frame(per_year=300)
    train, later = frame[frame.crash_year < 2023], frame[frame.crash_year == 2023]
    features = SceneFeatures().fit(train, train[LABEL].to_numpy(int))
    x, columns = features.transform(later), features.columns(later)
    assert list(columns) == list(x.columns) == model_features()
    for name, values in columns.items():
        expected = x[name].cat.codes if isinstance(x[name].dtype, pd.CategoricalDtype) else x[name]
        np.testing.assert_array_equal(values, expected.to_numpy(), err_msg=name)
