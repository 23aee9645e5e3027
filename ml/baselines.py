"""What the model has to beat, fitted on the same training rows and judged on the same years.

- prevalence: every crash gets the training share of hit-and-runs (so all are flagged): its F1 is
  the all-positive F1 and its PR-AUC is the split's prevalence.
- logistic regression: the raw scene inputs (one-hot categoricals, scaled numbers with training
  medians), unweighted so its Brier score is comparable, threshold chosen on validation like the
  model's (which is how both handle the 30/70 class balance at decision time).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from ml.evaluate import best_f1_threshold, metrics
from ml.features import CATEGORICAL, FLAGS, NUMERIC, conform


@dataclass(frozen=True)
class Split:
    """One split's inputs and labels, as train() prepares them."""

    name: str
    frame: pd.DataFrame
    y: np.ndarray


def _logistic() -> Pipeline:
    numeric = make_pipeline(SimpleImputer(strategy="median", add_indicator=True), StandardScaler())
    categorical = make_pipeline(
        SimpleImputer(strategy="constant", fill_value="MISSING"),
        OneHotEncoder(handle_unknown="infrequent_if_exist", min_frequency=50, sparse_output=True),
    )
    columns = ColumnTransformer(
        [
            ("numeric", numeric, list(NUMERIC)),
            ("flags", "passthrough", list(FLAGS)),
            ("categorical", categorical, list(CATEGORICAL)),
        ]
    )
    model = LogisticRegression(max_iter=300, tol=1e-3)
    return Pipeline([("columns", columns), ("model", model)])


def _typed(frame: pd.DataFrame) -> pd.DataFrame:
    x = conform(frame)
    x[list(FLAGS)] = x[list(FLAGS)].astype("float64")
    x[list(CATEGORICAL)] = x[list(CATEGORICAL)].astype(object).where(x[list(CATEGORICAL)].notna(), None)
    return x


def baselines(train: Split, validation: Split, others: list[Split]) -> dict[str, dict[str, dict[str, float]]]:
    """Metrics per baseline and split (validation + others), thresholds chosen on validation."""
    prior = float(np.mean(train.y))
    splits = [validation, *others]
    out: dict[str, dict[str, dict[str, float]]] = {
        "prevalence": {s.name: metrics(s.y, np.full(len(s.y), prior), threshold=prior) for s in splits}
    }
    logistic = _logistic().fit(_typed(train.frame), train.y)
    scored = {s.name: logistic.predict_proba(_typed(s.frame))[:, 1] for s in splits}
    threshold = best_f1_threshold(validation.y, scored[validation.name])
    out["logistic_regression"] = {s.name: metrics(s.y, scored[s.name], threshold) for s in splits}
    return out
