"""The one feature list of the hit-and-run model, and the deny-list it is checked against.

Every input is a column of `marts.ml_hit_and_run_features` that is known when a crash is
reported at the scene. Engineered features name the mart columns they are derived from, so a
test can prove that none of them touches a denied column. The scene transformer builds them the
same way for training, scoring and single predictions.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.model_selection import StratifiedKFold
from sklearn.preprocessing import TargetEncoder

# Bump when the fitted state of SceneFeatures changes shape: older saved models are then refused
# with "retrain" instead of failing somewhere inside scoring. 3: scores are calibrated (metadata
# `calibrator`) and carry a risk band (metadata `risk`).
FEATURE_FORMAT = 3

KEY = "crash_record_id"
LABEL = "is_hit_and_run"
TIMESTAMP = "crash_ts"
YEAR = "crash_year"

# Mart columns read as numbers / flags / categories (the model's raw inputs).
NUMERIC = (
    "crash_hour",
    "crash_day_of_week",
    "crash_month",
    "latitude",
    "longitude",
    "posted_speed_limit",
    "num_units",
)
FLAGS = ("is_location_imputed", "is_intersection_related", "is_private_property", "is_work_zone")
CATEGORICAL = (
    "traffic_control_device",
    "device_condition",
    "weather_condition",
    "lighting_condition",
    "first_crash_type",
    "trafficway_type",
    "alignment",
    "roadway_surface_cond",
    "road_defect",
    "street_direction",
)
# Only used through their history (target statistics), never as raw high-cardinality codes.
PLACE = ("beat_of_occurrence", "street_name")
INPUT_COLUMNS: tuple[str, ...] = (*NUMERIC, *FLAGS, *CATEGORICAL, *PLACE)

# Mart columns the model deliberately leaves out, with the reason (reported in metadata).
EXCLUDED_FROM_MART: dict[str, str] = {
    "is_crash_date_estimated": "leak: set when the crash is reported later at a station and its time is "
    "guessed, i.e. nobody stayed to say when it happened; a consequence of the label, like report type",
    "lane_cnt": "filled until 2019 and empty since: its presence encodes the year, not the road",
    "season": "redundant with crash_month",
    "hour_bin": "redundant with crash_hour (rebuilt inside the pipeline for the beat × hour history)",
    "is_weekend": "redundant with crash_day_of_week",
    "lat_bin": "rebuilt from latitude inside the pipeline, so imputed locations get no cell",
    "lng_bin": "rebuilt from longitude inside the pipeline, so imputed locations get no cell",
}

# Recorded after the fact or describing outcomes: nothing the model reads may be, or derive from, these
# (every injuries_* column and most_severe_injury are caught by the "injur" pattern below).
DENIED_COLUMNS: frozenset[str] = frozenset(
    {
        "crash_type",
        "damage",
        "report_type",
        "date_police_notified",
        "prim_contributory_cause",
        "sec_contributory_cause",
        "photos_taken_i",
        "statements_taken_i",
        "hit_and_run_i",
        LABEL,
        "is_crash_date_estimated",
        "crash_date_est_i",
    }
)
# Name patterns of post-crash facts and people/vehicle outcome aggregates, whatever a mart calls them.
DENIED_PATTERNS: tuple[re.Pattern[str], ...] = tuple(
    re.compile(p)
    for p in (
        r"injur",
        r"fatal",
        r"damage",
        r"(^|_)cause",
        r"report_type",
        r"^crash_type$",
        r"police_notified",
        r"photos",
        r"statements",
        r"(^|_)(n|num|count|share|total)_(people|persons|occupants|drivers|passengers|vehicles|towed)",
        r"(^|_)(people|person|vehicle|unit)s?_",
        r"towed",
        r"airbag",
        r"ejection",
        r"hospital",
        r"date_est",
    )
)


def is_denied(column: str) -> bool:
    return column in DENIED_COLUMNS or any(p.search(column) for p in DENIED_PATTERNS)


@dataclass(frozen=True)
class History:
    """A target statistic: the training rows' hit-and-run share per key (smoothed), and how many
    crashes the key had. Computed from training rows only, out-of-fold for the training rows."""

    name: str
    sources: tuple[str, ...]


HISTORIES: tuple[History, ...] = (
    History("beat_x_crash_type", ("beat_of_occurrence", "first_crash_type")),
    History("cell_x_crash_type", ("latitude", "longitude", "is_location_imputed", "first_crash_type")),
    History("street_x_crash_type", ("street_direction", "street_name", "first_crash_type")),
    History("street", ("street_direction", "street_name")),
    History("beat_x_hour_bin", ("beat_of_occurrence", "crash_hour")),
    History("hour_x_weekday", ("crash_hour", "crash_day_of_week")),
)
INTERACTIONS: dict[str, tuple[str, ...]] = {"crash_type_x_units": ("first_crash_type", "num_units")}


def engineered_sources() -> dict[str, tuple[str, ...]]:
    """Every engineered model feature with the mart columns it is computed from."""
    out: dict[str, tuple[str, ...]] = {f"hist_{h.name}": h.sources for h in HISTORIES}
    out |= {f"n_{h.name}": h.sources for h in HISTORIES}
    out |= INTERACTIONS
    return out


def model_features() -> list[str]:
    """The columns XGBoost sees, in order (the raw inputs it reads directly, then engineered)."""
    return [*NUMERIC, *FLAGS, *CATEGORICAL, *engineered_sources()]


# --------------------------------------------------------------------------- building the frame
HOUR_BIN_EDGES = np.array([6, 10, 16, 20])  # night, morning, midday, evening, late (as the mart bins)
MISSING_KEY = np.int64(-1)


def _arrays(frame: pd.DataFrame) -> dict[str, Any]:
    """conform()'s columns as arrays: float64 / bool numpy, text as pandas "string" arrays. Columns
    already in their type pass through untouched (what `ml.inputs` gives), so one crash costs no
    pandas call per column."""
    rows = len(frame)
    out: dict[str, Any] = {}
    for col in NUMERIC:
        if col not in frame:
            out[col] = np.full(rows, np.nan)
        elif frame[col].dtype == np.float64:
            out[col] = frame[col].to_numpy()
        else:
            out[col] = pd.to_numeric(frame[col], errors="coerce").to_numpy(dtype="float64", na_value=np.nan)
    for col in FLAGS:
        if col not in frame:
            out[col] = np.zeros(rows, dtype=bool)
        elif frame[col].dtype == bool:
            out[col] = frame[col].to_numpy()
        else:
            out[col] = frame[col].fillna(False).astype(bool).to_numpy()
    for col in (*CATEGORICAL, *PLACE):
        if col not in frame:
            out[col] = pd.array([pd.NA] * rows, dtype="string")
        elif frame[col].dtype == "string":
            out[col] = frame[col].array
        else:
            out[col] = frame[col].astype("string").array
    return out


def conform(frame: pd.DataFrame) -> pd.DataFrame:
    """The input columns with the types the model expects; absent columns become missing."""
    return pd.DataFrame(_arrays(frame), index=frame.index)


def _codes(values: Any, levels: list[str]) -> np.ndarray:
    """Codes against the training levels (unseen or missing → -1); Arrow's hash lookup is
    ~4x faster than pd.Categorical on a million rows."""
    codes = pc.index_in(pa.array(values, type=pa.string()), value_set=pa.array(levels, type=pa.string()))
    return codes.fill_null(-1).to_numpy(zero_copy_only=False)


def _combine(hashes: list[np.ndarray]) -> np.ndarray:
    """pandas' row hash of a frame from its columns' hashes (pandas.core.util.hashing's
    combine_hash_arrays, CPython's tuple hash): hash_pandas_object without building a frame,
    which cost more than the hashing for the few rows of a request (a test pins the equality)."""
    mult = np.uint64(1000003)
    out = np.zeros_like(hashes[0]) + np.uint64(0x345678)
    for i, h in enumerate(hashes):
        inverse = len(hashes) - i
        out ^= h
        out *= mult
        mult += np.uint64(82520 + inverse + inverse)
    return out + np.uint64(97531)


def _hash(*parts: Any) -> np.ndarray:
    """A stable 63-bit key per row for a combination of columns (nulls are a value of their own):
    pandas' hash_pandas_object(index=False) of the parts as a frame."""
    with np.errstate(over="ignore"):
        keys = _combine([pd.util.hash_array(part) for part in parts])
    return (keys >> np.uint64(1)).astype(np.int64)


def _keys(x: Mapping[str, Any]) -> np.ndarray:
    """One integer key column per history (rows × HISTORIES). An imputed location has no cell."""
    hour = np.asarray(x["crash_hour"], dtype="float64")
    hour_bin = np.where(np.isnan(hour), -1, np.digitize(np.nan_to_num(hour, nan=-1), HOUR_BIN_EDGES))
    lat = np.floor(np.asarray(x["latitude"], dtype="float64") * 100)
    lng = np.floor(np.asarray(x["longitude"], dtype="float64") * 100)
    imputed = np.asarray(x["is_location_imputed"], dtype=bool)
    street = [x["street_direction"], x["street_name"]]
    keys = {
        "beat_x_crash_type": _hash(x["beat_of_occurrence"], x["first_crash_type"]),
        "cell_x_crash_type": np.where(imputed | np.isnan(lat), MISSING_KEY, _hash(lat, lng, x["first_crash_type"])),
        "street_x_crash_type": _hash(*street, x["first_crash_type"]),
        "street": _hash(*street),
        "beat_x_hour_bin": _hash(x["beat_of_occurrence"], hour_bin.astype(np.int64)),
        "hour_x_weekday": _hash(hour, np.asarray(x["crash_day_of_week"], dtype="float64")),
    }
    return np.column_stack([keys[h.name] for h in HISTORIES])


def history_keys(x: pd.DataFrame) -> pd.DataFrame:
    """One integer key column per history, for conformed rows."""
    columns = {c: x[c].array if x[c].dtype == "string" else x[c].to_numpy() for c in x.columns}
    return pd.DataFrame(_keys(columns), columns=[h.name for h in HISTORIES], index=x.index)


def _interactions(x: Mapping[str, Any]) -> dict[str, pa.Array]:
    units = pa.array(np.minimum(np.asarray(x["num_units"], dtype="float64"), 4), from_pandas=True)
    units = pc.cast(pc.cast(units, pa.int64()), pa.string()).fill_null("?")
    crash_type = pa.array(x["first_crash_type"], type=pa.string()).fill_null("?")
    return {"crash_type_x_units": pc.binary_join_element_wise(crash_type, units, " × ")}


class SceneFeatures(TransformerMixin, BaseEstimator):
    """Mart rows → the model's frame: typed raw inputs (native categoricals with the training
    rows' levels), out-of-fold target statistics and crash counts per place/time key, and the
    crash-type × units interaction. Fitted on training rows only."""

    def __init__(self, smooth: float | str = 20.0, folds: int = 5, random_state: int = 0):
        self.smooth = smooth
        self.folds = folds
        self.random_state = random_state

    def fit(self, X: pd.DataFrame, y: np.ndarray) -> SceneFeatures:
        self.fit_transform(X, y)
        return self

    def fit_transform(self, X: pd.DataFrame, y: np.ndarray | None = None, **_: object) -> pd.DataFrame:
        if y is None:
            raise ValueError("SceneFeatures needs the label to fit its target statistics")
        x = _arrays(X)
        y = np.asarray(y).astype(int)
        inter = _interactions(x)
        self.levels_ = {c: sorted(pd.Series(x[c]).dropna().unique()) for c in CATEGORICAL}
        self.levels_ |= {c: sorted(pc.unique(inter[c]).to_pylist()) for c in INTERACTIONS}
        keys = _keys(x)
        cv = StratifiedKFold(self.folds, shuffle=True, random_state=self.random_state)
        self.encoder_ = TargetEncoder(target_type="binary", smooth=self.smooth, cv=cv)
        encoded = self.encoder_.fit_transform(keys, y)
        self.key_index_ = [pd.Index(categories) for categories in self.encoder_.categories_]
        # Crash counts carry no label, so every row may count the whole training period.
        self.key_counts_ = [
            np.bincount(index.get_indexer(keys[:, i]), minlength=len(index)) for i, index in enumerate(self.key_index_)
        ]
        self.feature_names_out_ = model_features()
        return self._frame(self._columns(x, inter, encoded, self._lookup(keys)[1]), X.index)

    def transform(self, X: pd.DataFrame) -> pd.DataFrame:
        return self._frame(self.columns(X), X.index)

    def columns(self, X: pd.DataFrame) -> dict[str, np.ndarray]:
        """The model's columns in model_features() order, as arrays: numbers as float64,
        categories as their codes in `levels_` (-1 = missing or unseen). What the booster reads,
        without a frame: a scoring request is a few rows, where building frames is the cost."""
        x = _arrays(X)
        encoded, counts = self._lookup(_keys(x))
        return self._columns(x, _interactions(x), encoded, counts)

    def get_feature_names_out(self, input_features: object = None) -> np.ndarray:
        return np.asarray(self.feature_names_out_, dtype=object)

    def _lookup(self, keys: Any) -> tuple[np.ndarray, np.ndarray]:
        """Each key's fitted statistic (the encoder's; unseen keys get the training share) and
        log crash count, by hash lookup: what TargetEncoder.transform computes, 7x faster."""
        keys = np.asarray(keys)
        encoded, counts = [], []
        for i, index in enumerate(self.key_index_):
            at = index.get_indexer(keys[:, i])
            seen = at >= 0
            encoded.append(np.where(seen, self.encoder_.encodings_[i][at], self.encoder_.target_mean_))
            counts.append(np.where(seen, self.key_counts_[i][at], 0))
        return np.column_stack(encoded), np.log1p(np.column_stack(counts))

    def _columns(
        self, x: Mapping[str, Any], inter: Mapping[str, pa.Array], encoded: np.ndarray, counts: np.ndarray
    ) -> dict[str, np.ndarray]:
        out: dict[str, np.ndarray] = {col: np.asarray(x[col], dtype="float64") for col in NUMERIC}
        # Where the mart imputed a location (from all years' beat medians) the model sees "unknown".
        imputed = x["is_location_imputed"]
        for col in ("latitude", "longitude"):
            out[col] = np.where(imputed, np.nan, out[col])
        for col in FLAGS:
            out[col] = x[col].astype("float64")
        for col in CATEGORICAL:
            out[col] = _codes(x[col], self.levels_[col])
        for i, h in enumerate(HISTORIES):
            out[f"hist_{h.name}"] = encoded[:, i]
        for i, h in enumerate(HISTORIES):
            out[f"n_{h.name}"] = counts[:, i]
        for col in INTERACTIONS:
            out[col] = _codes(inter[col], self.levels_[col])
        return out

    def _frame(self, columns: dict[str, np.ndarray], index: pd.Index) -> pd.DataFrame:
        """The columns as the frame the pipeline hands XGBoost (categories as pd.Categorical)."""
        categorical = {*CATEGORICAL, *INTERACTIONS}
        return pd.DataFrame(
            {
                c: pd.Categorical.from_codes(v, categories=self.levels_[c]) if c in categorical else v
                for c, v in columns.items()
            },
            index=index,
        )


# --------------------------------------------------------------------------- human names
_HISTORY_LABELS = {
    "beat_x_crash_type": "beat's past {what} for this crash type",
    "cell_x_crash_type": "this ~1 km cell's past {what} for this crash type",
    "street_x_crash_type": "street's past {what} for this crash type",
    "street": "street's past {what}",
    "beat_x_hour_bin": "beat's past {what} at this time of day",
    "hour_x_weekday": "past {what} at this hour and weekday",
}
FEATURE_LABELS: dict[str, str] = {
    "crash_hour": "hour of day",
    "crash_day_of_week": "day of week",
    "crash_month": "month",
    "latitude": "latitude (north–south position)",
    "longitude": "longitude (east–west position)",
    "posted_speed_limit": "posted speed limit (mph)",
    "num_units": "units involved",
    "is_location_imputed": "location missing in the report",
    "is_intersection_related": "intersection related",
    "is_private_property": "on private property",
    "is_work_zone": "in a work zone",
    "traffic_control_device": "traffic control device",
    "device_condition": "traffic control condition",
    "weather_condition": "weather",
    "lighting_condition": "lighting",
    "first_crash_type": "first crash type",
    "trafficway_type": "trafficway type",
    "alignment": "road alignment",
    "roadway_surface_cond": "road surface",
    "road_defect": "road defect",
    "street_direction": "street direction",
    "crash_type_x_units": "crash type with number of units",
    **{f"hist_{k}": v.format(what="hit-and-run share") for k, v in _HISTORY_LABELS.items()},
    **{f"n_{k}": v.format(what="crash count") for k, v in _HISTORY_LABELS.items()},
}
WEEKDAYS = {1: "Sunday", 2: "Monday", 3: "Tuesday", 4: "Wednesday", 5: "Thursday", 6: "Friday", 7: "Saturday"}


def feature_label(feature: str) -> str:
    """What a model feature means, in words a safety analyst uses (the name itself if unknown)."""
    return FEATURE_LABELS.get(feature, feature.replace("_", " "))


def shown_value(feature: str, value: object) -> str:
    """A feature's value as a person reads it: shares as percentages, counts back from their log,
    flags as yes/no, days by name."""
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA:
        return "unknown"
    if feature.startswith("hist_"):
        return f"{float(value):.0%}"
    if feature.startswith("n_"):
        return f"{math.expm1(float(value)):,.0f} crashes"
    if feature in FLAGS:
        return "yes" if float(value) else "no"
    if feature == "crash_day_of_week":
        return WEEKDAYS.get(int(value), str(value))
    if feature in ("latitude", "longitude"):
        return f"{float(value):.4f}"
    if isinstance(value, float | np.floating) and float(value).is_integer():
        return str(int(value))
    return str(value)
