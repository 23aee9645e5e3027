"""Scoring with the current model: every crash in gold (into the warehouse), a frame, or one crash.

`score_all()` reads the feature mart from the gold snapshot (or, in a `crashes run`, from the
marts the run built and has not published yet), scores it in one vectorised pass and replaces
`ml.hit_and_run_scores` in the warehouse in one transaction (Arrow → DuckDB); the run's publish
stage rebuilds dbt's `marts.ml_hit_and_run_scores` from it and publishes marts and scores at once.
`predict_one()` explains a single hypothetical crash with XGBoost's exact per-feature
contributions (SHAP values in log-odds), which add up with the bias to the model's margin.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from crashes import warehouse
from crashes.config import get_settings
from crashes.errors import CrashesError
from crashes.gold import connect
from ml import registry
from ml.data import mart_columns, select_mart
from ml.features import EXCLUDED_FROM_MART, FLAGS, KEY, NUMERIC, feature_label, shown_value
from ml.inputs import KNOWN, TEXT, convert_frame
from ml.risk import REST, calibrated_margin
from ml.risk import summary as risk_summary

SCORES_SCHEMA = "ml"
SCORES_TABLE = "hit_and_run_scores"
# The model behind the scores, for dbt's monitoring marts: its training window (the reference of
# every drift figure), its test year (the calibration's reference) and the inputs it reads.
MODELS_TABLE = "scoring_models"


@dataclass(frozen=True)
class ScoreResult:
    rows: int
    flagged: int  # at the F1 threshold, kept for the scores' predicted_hit_and_run column
    model_version: str
    threshold: float
    scored_at: datetime
    seconds: float
    table: str = f"{SCORES_SCHEMA}.{SCORES_TABLE}"
    warehouse: Path | None = None
    bands: dict[str, int] = field(default_factory=dict)  # crashes per risk band

    def summary(self) -> str:
        counts = ", ".join(f"{band} {n:,}" for band, n in self.bands.items())
        return (
            f"scored {self.rows:,} crashes with model {self.model_version} in {self.seconds:.1f} s "
            f"(calibrated probabilities; crashes per risk band: {counts})\n"
            f"  written to {self.table} in {self.warehouse}; gold's marts.ml_hit_and_run_scores gets them "
            f"when the run (or `crashes score`) publishes"
        )


@dataclass(frozen=True)
class Prediction:
    """One crash's calibrated risk and band. The score ranks crashes for follow-up; it is no
    verdict on this one (`predicted` is the F1 threshold's decision, kept for scripts)."""

    probability: float
    predicted: bool
    threshold: float
    model_version: str
    bias: float
    margin: float
    contributions: list[dict[str, Any]] = field(default_factory=list)
    band: str = REST
    band_summary: str = ""

    def summary(self, top: int = 8) -> str:
        lines = [
            f"hit-and-run risk {self.probability:.1%} (calibrated probability, model {self.model_version})",
            f"risk band: {self.band_summary or self.band}",
            "the score is for ranking crashes and places for follow-up, not for judging one crash",
            f"what moved it (log-odds; base {self.bias:+.3f}, total {self.margin:+.3f}):",
        ]
        lines += [f"  {c['contribution']:+.3f}  {c['label']}: {c['shown']}" for c in self.contributions[:top]]
        return "\n".join(lines)


# --------------------------------------------------------------------------- all crashes
def _write_scores(table: pa.Table, version: str, scored_at: datetime, metadata: dict[str, Any]) -> Path:
    """Replace the scores and their model's row in one transaction: readers see the old set or
    the new one."""
    split = metadata["split"]
    with warehouse.connect() as con:
        con.register("new_scores", table)
        con.execute("begin transaction")
        con.execute(f"create schema if not exists {SCORES_SCHEMA}")
        con.execute(
            f"create or replace table {SCORES_SCHEMA}.{MODELS_TABLE} as "  # noqa: S608 - constants only
            "select ?::varchar as model_version, ?::integer as train_from_year, ?::integer as train_to_year, "
            "?::integer as validation_year, ?::integer as test_year, ?::varchar[] as input_columns",
            [
                version,
                split["train_years"][0],
                split["train_years"][1],
                split["validation_year"],
                split["test_year"],
                list(metadata["input_columns"]),
            ],
        )
        con.execute(
            f"create or replace table {SCORES_SCHEMA}.{SCORES_TABLE} as "  # noqa: S608 - constants only
            "select crash_record_id::varchar as crash_record_id, probability::double as probability, "
            "predicted_hit_and_run::boolean as predicted_hit_and_run, risk_band::varchar as risk_band, "
            "?::varchar as model_version, "
            "?::timestamp as scored_at from new_scores",
            [version, scored_at],
        )
        con.execute("commit")
        con.unregister("new_scores")
    return get_settings().warehouse_path


def score_all(gold: Path | None = None) -> ScoreResult:
    """Score every crash in the gold feature mart with the current model; write the scores."""
    started = time.perf_counter()
    with connect(gold) as con:  # one read of gold: its columns checked against the model's, then its rows
        model = registry.load_current(mart_columns(con), where=str(gold or "gold"))
        mart = select_mart(con, (KEY, *model.metadata["input_columns"]), ordered=False)
    frame = mart.to_pandas()
    probability = model.probabilities(frame)
    flagged = probability >= model.threshold
    band = model.bands(probability)
    scored_at = datetime.now(UTC).replace(tzinfo=None)
    table = pa.table(
        {
            "crash_record_id": mart.column(KEY),
            "probability": probability,
            "predicted_hit_and_run": flagged,
            "risk_band": pa.array(band, type=pa.string()),
        }
    )
    path = _write_scores(table, model.version, scored_at, model.metadata)
    return ScoreResult(
        rows=len(frame),
        flagged=int(flagged.sum()),
        model_version=model.version,
        threshold=model.threshold,
        scored_at=scored_at,
        seconds=time.perf_counter() - started,
        warehouse=path,
        bands={b["band"]: int((band == b["band"]).sum()) for b in model.metadata["risk"]["bands"]},
    )


def score_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """Probabilities and decisions for rows in the mart's column names (absent columns = missing),
    each value converted by the same rules as one crash's (`ml.inputs`): flags given as Y/N or
    true/false text mean what they say, text is matched the way the mart delivers it (trimmed,
    upper case). An invalid value is one error naming its row, column and value."""
    typed, problems = convert_frame(frame)
    if len(problems):
        first = problems.iloc[0]
        raise CrashesError(
            f"row {first['index']}: {first['column']} {first['must']}, got {first['value']!r}"
            + (f" ({len(problems) - 1} more invalid value(s))" if len(problems) > 1 else "")
        )
    model = registry.load_current()
    probability = model.probabilities(typed)
    return pd.DataFrame(
        {
            "probability": probability,
            "risk_band": model.bands(probability),
            "predicted_hit_and_run": probability >= model.threshold,
        },
        index=frame.index,
    )


# --------------------------------------------------------------------------- one crash
def _json_scalar(name: str, value: Any) -> Any:
    """A record's value must be a plain JSON value of the right kind; what a valid one is, is
    ml.inputs' (the same rules as a frame or an uploaded CSV)."""
    if isinstance(value, dict | list) or (isinstance(value, bool) and name not in FLAGS):
        kind = "a number" if name in NUMERIC else "text" if name in TEXT else "true/false (or Y/N)"
        raise CrashesError(f"{name} must be {kind}, got {value!r}")
    if isinstance(value, float) and math.isnan(value):
        return math.inf  # NaN given is no value anyone means: refused like ±inf, not read as missing
    return value


def record_frame(record: dict[str, Any]) -> pd.DataFrame:
    """One crash as a one-row mart frame, each value checked; unknown fields are refused. Fields
    left out are missing (flags: false), as in the mart; is_location_imputed only when given."""
    known = set(KNOWN)
    left_out = sorted(set(record) & set(EXCLUDED_FROM_MART))
    if left_out:
        name = left_out[0]
        raise CrashesError(f"{name} is not a model input ({EXCLUDED_FROM_MART[name]}); leave it out")
    unknown = sorted(set(record) - known - {KEY})
    if unknown:
        raise CrashesError(
            f"unknown field(s) {', '.join(unknown)}: the model reads only scene facts from the feature mart "
            f"({', '.join(sorted(known))})"
        )
    given = pd.DataFrame({c: pd.Series([_json_scalar(c, record.get(c))], dtype=object) for c in KNOWN})
    row, problems = convert_frame(given)
    if len(problems):
        first = problems.iloc[0]
        raise CrashesError(f"{first['column']} {first['must']}, got {record.get(first['column'])!r}")
    # Missing coordinates stay missing: is_location_imputed means "the police record had no valid
    # location" (a hit-and-run share of 18 % against 30 %), not "the caller left them out".
    return row


def predict_one(record: dict[str, Any]) -> Prediction:
    """Score one hypothetical crash; its exact feature contributions explain the probability."""
    import xgboost as xgb

    model = registry.load_current()
    frame = record_frame(record)
    features = model.pipeline.named_steps["features"]
    classifier = model.pipeline.named_steps["model"]
    x = features.transform(frame)
    matrix = xgb.DMatrix(x, enable_categorical=True)
    trees = (0, classifier.best_iteration + 1)
    booster = classifier.get_booster()
    # The calibration is a straight line on the log-odds: scaling every contribution by its slope
    # (and moving the bias by its intercept) keeps them exact for the calibrated score.
    calibrator = model.metadata["calibrator"]
    contribs = booster.predict(matrix, pred_contribs=True, iteration_range=trees)[0] * calibrator["slope"]
    raw_margin = booster.predict(matrix, output_margin=True, iteration_range=trees)[0]
    margin = float(calibrated_margin(calibrator, raw_margin))
    probability = float(model.probabilities(frame)[0])
    names = list(x.columns)
    order = np.argsort(-np.abs(contribs[:-1]), kind="stable")
    contributions = []
    for i in order:
        value = _shown(x.iloc[0, i])
        contributions.append(
            {
                "feature": names[i],
                "label": feature_label(names[i]),
                "contribution": float(contribs[i]),
                "value": value,
                "shown": shown_value(names[i], value),
            }
        )
    band = str(model.bands(np.array([probability]))[0])
    risk = model.metadata["risk"]
    return Prediction(
        probability=probability,
        predicted=probability >= model.threshold,
        threshold=model.threshold,
        model_version=model.version,
        bias=float(contribs[-1] + calibrator["intercept"]),
        margin=margin,
        contributions=contributions,
        band=band,
        band_summary=risk_summary(risk["bands"], risk["year"], band),
    )


def _shown(value: Any) -> Any:
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA:
        return None
    return value.item() if isinstance(value, np.generic) else value
