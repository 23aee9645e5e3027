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
from collections.abc import Mapping, Sequence
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
from ml.inputs import KNOWN, TEXT, convert_frame, convert_values
from ml.registry import LoadedModel
from ml.risk import REST, calibrate, calibrated_margin
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


# --------------------------------------------------------------------------- given crashes
@dataclass(frozen=True)
class Problem:
    """One invalid field of one given crash: `message` is the sentence `crashes predict` prints."""

    row: int
    field: str
    message: str
    value: Any = None


class InvalidCrashes(CrashesError):
    """Every invalid field of the given crashes (row, field, sentence); the message is the first."""

    def __init__(self, problems: list[Problem], rows: int):
        self.problems = problems
        first = problems[0]
        more = f" ({len(problems) - 1} more invalid value(s))" if len(problems) > 1 else ""
        super().__init__((first.message if rows == 1 else f"row {first.row}: {first.message}") + more)


def _kind(name: str) -> str:
    return "a number" if name in NUMERIC else "text" if name in TEXT else "true/false (or Y/N)"


def _refused(name: str, value: Any) -> bool:
    """A value must be a plain JSON value of the right kind; what a valid one is, is ml.inputs'."""
    return isinstance(value, dict | list) or (isinstance(value, bool) and name not in FLAGS)


def _fields_problems(records: Sequence[Mapping[str, Any]]) -> list[Problem]:
    allowed = {*KNOWN, KEY}
    if set().union(*records) <= allowed:  # the usual case: one set union, no loop over rows
        return []
    problems = []
    for row, record in enumerate(records):
        for name in sorted(set(record) - allowed, key=lambda n: (n not in EXCLUDED_FROM_MART, n)):
            if name in EXCLUDED_FROM_MART:
                message = f"{name} is not a model input ({EXCLUDED_FROM_MART[name]}); leave it out"
            else:
                message = (
                    f"unknown field {name}: the model reads only scene facts from the feature mart "
                    f"({', '.join(sorted(KNOWN))})"
                )
            problems.append(Problem(row, name, message, record[name]))
    return problems


def records_frame(records: Sequence[Mapping[str, Any]]) -> pd.DataFrame:
    """Given crashes (JSON-like records) as mart rows, every value checked by ml.inputs, one column
    at a time; unknown and left-out fields are refused. Fields not given are missing (flags:
    false), as in the mart; is_location_imputed only when given. Raises InvalidCrashes naming
    every invalid (row, field)."""
    problems = _fields_problems(records)
    refused: list[Problem] = []
    invalid: list[Problem] = []
    rows = len(records)
    columns: dict[str, Any] = {}
    for name in KNOWN:
        values = [r.get(name) for r in records]
        kinds = set(map(type, values))
        if kinds == {type(None)}:
            columns[name] = _missing(name, rows)  # given by no crash: missing for all
            continue
        if any(issubclass(k, dict | list) for k in kinds) or (bool in kinds and name not in FLAGS):
            for row, value in enumerate(values):
                if _refused(name, value):
                    refused.append(Problem(row, name, f"{name} must be {_kind(name)}, got {value!r}", value))
                    values[row] = None
        if float in kinds:  # NaN given is no value anyone means: refused like ±inf, not read as missing
            values = [math.inf if isinstance(v, float) and math.isnan(v) else v for v in values]
        columns[name], bad = convert_values(name, values)
        for row, (_, must) in bad:
            value = records[row].get(name)
            invalid.append(Problem(row, name, f"{name} {must}, got {value!r}", value))
    problems += refused + invalid
    if problems:
        problems.sort(key=lambda p: p.row)  # stable: within a row, fields before types before values
        raise InvalidCrashes(problems, rows)
    # Missing coordinates stay missing: is_location_imputed means "the police record had no valid
    # location" (a hit-and-run share of 18 % against 30 %), not "the caller left them out".
    return pd.DataFrame(columns, index=pd.RangeIndex(rows))


def _missing(column: str, rows: int) -> Any:
    """A column no crash gave, as ml.inputs.convert_values makes an all-missing one."""
    if column in NUMERIC:
        return np.full(rows, np.nan)
    if column in FLAGS:
        return np.zeros(rows, dtype=bool)
    return pd.array([pd.NA] * rows, dtype="string")


def record_frame(record: dict[str, Any]) -> pd.DataFrame:
    """One crash as a one-row mart frame (see `records_frame`)."""
    return records_frame([record])


# --------------------------------------------------------------------------- explaining scores
def explain(model: LoadedModel, frame: pd.DataFrame, top: int | None = None, exact: bool = True) -> list[Prediction]:
    """Calibrated probability, risk band and the `top` largest feature contributions (all when
    None) of every row of a mart frame: one transform and one pass of each booster call for the
    whole frame, however many rows. Contributions are exact SHAP values (TreeSHAP, ≈ 1 ms of CPU
    per crash for the real model's 93 trees), or with `exact=False` XGBoost's path attributions
    (Saabas: ≈ 50× cheaper, also adding up to the margin, but not SHAP values)."""
    import xgboost as xgb

    features = model.pipeline.named_steps["features"]
    classifier = model.pipeline.named_steps["model"]
    x = features.columns(frame)
    booster = classifier.get_booster()
    trees = (0, classifier.best_iteration + 1)
    # One float matrix, categories as their codes: what a frame of pd.Categorical gives the
    # booster (the same predictions, bit for bit), without pandas' cost per column on few rows.
    levels = features.levels_
    names = list(x)
    data = np.column_stack([np.where(x[n] < 0, np.nan, x[n]) if n in levels else x[n] for n in names])
    kinds = ["c" if n in levels else "float" for n in names]
    matrix = xgb.DMatrix(data, feature_names=names, feature_types=kinds, enable_categorical=True)
    # The calibration is a straight line on the log-odds: scaling every contribution by its slope
    # (and moving the bias by its intercept) keeps them exact for the calibrated score.
    calibrator = model.metadata["calibrator"]
    k = len(names) if top is None else max(0, min(top, len(names)))
    # TreeSHAP is most of the cost of a batch; with no contributions asked for, one row still
    # gives the bias (the model's expected log-odds, the same for every row).
    explained = matrix if k else matrix.slice([0])
    contribs = booster.predict(explained, pred_contribs=True, approx_contribs=not exact, iteration_range=trees)
    contribs = contribs * calibrator["slope"]
    bias = float(contribs[0, -1] + calibrator["intercept"])
    margins = calibrated_margin(calibrator, booster.predict(matrix, output_margin=True, iteration_range=trees))
    # The booster's probabilities from the same matrix: bit for bit LoadedModel.probabilities(frame).
    probabilities = calibrate(calibrator, booster.predict(matrix, iteration_range=trees))
    bands = model.bands(probabilities)
    risk = model.metadata["risk"]
    summaries = {b["band"]: risk_summary(risk["bands"], risk["year"], b["band"]) for b in risk["bands"]}
    labels = [feature_label(n) for n in names]
    rows = len(probabilities)
    order = np.argsort(-np.abs(contribs[:, :-1]), axis=1, kind="stable")[:, :k]
    top_features = order.tolist() if k else [[]] * rows
    top_contribs = np.take_along_axis(contribs, order, axis=1).tolist() if k else [[]] * rows
    # Only the columns some row shows, as plain Python values (a category's name, None = missing).
    columns = {i: _values(x[names[i]], levels.get(names[i])) for i in np.unique(order).tolist()} if k else {}
    shown: dict[tuple[int, Any], str] = {}  # a batch repeats values: format each one once
    threshold, version = model.threshold, model.version

    predictions = []
    scores = zip(probabilities.tolist(), margins.tolist(), bands.tolist(), strict=True)
    for row, (probability, margin, band) in enumerate(scores):
        contributions = []
        for i, contribution in zip(top_features[row], top_contribs[row], strict=True):
            value = columns[i][row]
            text = shown.get((i, value))
            if text is None:
                text = shown[(i, value)] = shown_value(names[i], value)
            contributions.append(
                {"feature": names[i], "label": labels[i], "contribution": contribution, "value": value, "shown": text}
            )
        predictions.append(
            Prediction(
                probability=probability,
                predicted=probability >= threshold,
                threshold=threshold,
                model_version=version,
                bias=bias,
                margin=margin,
                contributions=contributions,
                band=band,
                band_summary=summaries.get(band, band),
            )
        )
    return predictions


def predict_one(record: dict[str, Any], model: LoadedModel | None = None) -> Prediction:
    """Score one hypothetical crash; its exact feature contributions explain the probability."""
    frame = record_frame(record)
    return explain(model or registry.load_current(), frame)[0]


def _values(column: np.ndarray, levels: list[str] | None) -> list[Any]:
    """A model column's values as a person reads them: a category's name, None when missing."""
    if levels is None:
        return [None if v != v else v for v in column.tolist()]  # v != v: NaN
    return [levels[code] if code >= 0 else None for code in column.tolist()]
