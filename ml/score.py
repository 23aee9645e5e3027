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
from ml.features import EXCLUDED_FROM_MART, FLAGS, KEY, NUMERIC
from ml.inputs import KNOWN, TEXT, convert_frame

SCORES_SCHEMA = "ml"
SCORES_TABLE = "hit_and_run_scores"


@dataclass(frozen=True)
class ScoreResult:
    rows: int
    flagged: int
    model_version: str
    threshold: float
    scored_at: datetime
    seconds: float
    table: str = f"{SCORES_SCHEMA}.{SCORES_TABLE}"
    warehouse: Path | None = None

    def summary(self) -> str:
        share = self.flagged / self.rows if self.rows else 0.0
        return (
            f"scored {self.rows:,} crashes with model {self.model_version} in {self.seconds:.1f} s: "
            f"{self.flagged:,} ({share:.1%}) flagged as likely hit-and-run at threshold {self.threshold:.3f}\n"
            f"  written to {self.table} in {self.warehouse}; gold's marts.ml_hit_and_run_scores gets them "
            f"when the run (or `crashes score`) publishes"
        )


@dataclass(frozen=True)
class Prediction:
    probability: float
    predicted: bool
    threshold: float
    model_version: str
    bias: float
    margin: float
    contributions: list[dict[str, Any]] = field(default_factory=list)

    def summary(self, top: int = 8) -> str:
        verdict = "likely hit-and-run" if self.predicted else "not flagged"
        lines = [
            f"P(hit-and-run) = {self.probability:.3f} → {verdict} (threshold {self.threshold:.3f}, "
            f"model {self.model_version})",
            f"top contributions (log-odds; bias {self.bias:+.3f}, margin {self.margin:+.3f}):",
        ]
        for c in self.contributions[:top]:
            value = c["value"]
            shown = "missing" if value is None else (f"{value:.3f}" if isinstance(value, float) else str(value))
            lines.append(f"  {c['contribution']:+.3f}  {c['feature']} = {shown}")
        return "\n".join(lines)


# --------------------------------------------------------------------------- all crashes
def _write_scores(table: pa.Table, version: str, scored_at: datetime) -> Path:
    """Replace the scores in one transaction: readers see the old set or the new one."""
    with warehouse.connect() as con:
        con.register("new_scores", table)
        con.execute("begin transaction")
        con.execute(f"create schema if not exists {SCORES_SCHEMA}")
        con.execute(
            f"create or replace table {SCORES_SCHEMA}.{SCORES_TABLE} as "  # noqa: S608 - constants only
            "select crash_record_id::varchar as crash_record_id, probability::double as probability, "
            "predicted_hit_and_run::boolean as predicted_hit_and_run, ?::varchar as model_version, "
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
    scored_at = datetime.now(UTC).replace(tzinfo=None)
    table = pa.table(
        {
            "crash_record_id": mart.column(KEY),
            "probability": probability,
            "predicted_hit_and_run": flagged,
        }
    )
    path = _write_scores(table, model.version, scored_at)
    return ScoreResult(
        rows=len(frame),
        flagged=int(flagged.sum()),
        model_version=model.version,
        threshold=model.threshold,
        scored_at=scored_at,
        seconds=time.perf_counter() - started,
        warehouse=path,
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
        {"probability": probability, "predicted_hit_and_run": probability >= model.threshold}, index=frame.index
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
    contribs = booster.predict(matrix, pred_contribs=True, iteration_range=trees)[0]
    margin = float(booster.predict(matrix, output_margin=True, iteration_range=trees)[0])
    probability = float(model.probabilities(frame)[0])
    names = list(x.columns)
    order = np.argsort(-np.abs(contribs[:-1]), kind="stable")
    contributions = [
        {"feature": names[i], "contribution": float(contribs[i]), "value": _shown(x.iloc[0, i])} for i in order
    ]
    return Prediction(
        probability=probability,
        predicted=probability >= model.threshold,
        threshold=model.threshold,
        model_version=model.version,
        bias=float(contribs[-1]),
        margin=margin,
        contributions=contributions,
    )


def _shown(value: Any) -> Any:
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA:
        return None
    return value.item() if isinstance(value, np.generic) else value
