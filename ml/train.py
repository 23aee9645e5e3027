"""`train()`: fit the hit-and-run model out-of-time on the gold feature mart and register it.

Split by time: train on the years up to T−2, pick the number of trees (early stopping) and the
decision threshold on T−1, report on T (T = the last full year in the mart unless given). Every
fitted thing — category levels, target statistics, crash counts, the baselines — sees training
rows only, so the validation and test figures are what a model trained at the end of T−2 would
have scored on the next two years.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import sklearn
import xgboost as xgb
from sklearn.pipeline import Pipeline

from crashes.errors import CrashesError
from ml import registry
from ml.baselines import Split, baselines
from ml.data import TRAINING_COLUMNS, read_mart
from ml.evaluate import best_f1_threshold, calibration_table, metrics
from ml.features import (
    EXCLUDED_FROM_MART,
    FEATURE_FORMAT,
    INPUT_COLUMNS,
    LABEL,
    TIMESTAMP,
    YEAR,
    SceneFeatures,
    engineered_sources,
    model_features,
)
from ml.risk import calibrate, fit_calibrator, precision_at_k, risk_bands

# Hit-and-run share rose from ~26 % (2015–19) to ~33 % (2020–24): the model learns from the most
# recent years only, so its base rate and patterns are the post-2020 ones it will be used on.
TRAIN_YEARS = 5
XGB_PARAMS: dict[str, Any] = {
    "n_estimators": 2000,
    "learning_rate": 0.2,
    "max_depth": 6,
    "min_child_weight": 5,
    "subsample": 0.8,
    "colsample_bytree": 0.8,
    "max_bin": 64,
    "tree_method": "hist",
    "enable_categorical": True,
    "max_cat_to_onehot": 1,
    "eval_metric": "logloss",
    "early_stopping_rounds": 20,
    "n_jobs": 2,
    "random_state": 0,
}
FEATURE_PARAMS: dict[str, Any] = {"smooth": 20.0, "folds": 5, "random_state": 0}


@dataclass(frozen=True)
class YearSplit:
    """Which years play which part."""

    train: tuple[int, int]
    validation: int
    test: int

    @classmethod
    def for_test_year(cls, years: pd.Series, timestamps: pd.Series, test_year: int | None) -> YearSplit:
        if years.empty:
            raise CrashesError("the feature mart is empty: nothing to train on")
        first, last = int(years.min()), int(years.max())
        if test_year is None:
            end = timestamps.max()
            test_year = end.year if (end.month, end.day) == (12, 31) else end.year - 1
        present = set(years.unique().tolist())
        if test_year not in present or test_year - 1 not in present or first > test_year - 2:
            raise CrashesError(
                f"cannot test on {test_year}: the mart has crashes in {first}–{last}, and the split needs "
                f"the test year, the year before it (validation) and at least one earlier year (training)"
            )
        return cls(
            train=(max(first, test_year - 1 - TRAIN_YEARS), test_year - 2), validation=test_year - 1, test=test_year
        )

    def masks(self, years: pd.Series) -> dict[str, np.ndarray]:
        return {
            "train": years.between(*self.train).to_numpy(),
            "validation": (years == self.validation).to_numpy(),
            "test": (years == self.test).to_numpy(),
        }


@dataclass
class TrainResult:
    version: str
    path: Path
    split: YearSplit
    snapshot: dict[str, dict[str, Any]]
    metrics: dict[str, dict[str, float]]
    baselines: dict[str, dict[str, dict[str, float]]]
    threshold: float
    best_iteration: int
    train_seconds: float
    importances: list[dict[str, float | str]] = field(default_factory=list)

    def summary(self) -> str:
        s = self.snapshot
        lines = [
            f"hit-and-run model {self.version}: train {self.split.train[0]}–{self.split.train[1]} "
            f"({s['train']['rows']:,} crashes), validate {self.split.validation} ({s['validation']['rows']:,}), "
            f"test {self.split.test} ({s['test']['rows']:,})",
            f"{'':<17}{'':<22}" + "".join(f"{label:>11}" for label in _COLUMNS.values()),
        ]
        for split in ("validation", "test"):
            rows = [("model (xgboost)", self.metrics[split])]
            rows += [(name.replace("_", " "), figures[split]) for name, figures in self.baselines.items()]
            for i, (name, figures) in enumerate(rows):
                label = f"{split} {getattr(self.split, split)}" if i == 0 else ""
                lines.append(f"{label:<17}{name:<22}" + "".join(f"{figures[k]:>11.3f}" for k in _COLUMNS))
        lines.append(
            f"threshold {self.threshold:.3f} (best F1 on {self.split.validation}) · {self.best_iteration + 1} trees "
            f"(early stopping on {self.split.validation}) · trained in {self.train_seconds:.1f} s"
        )
        top = ", ".join(f"{r['feature']} {float(r['importance']):.2f}" for r in self.importances[:5])
        lines.append(f"top features (share of gain): {top}")
        lines.append(f"saved to {self.path} (current)")
        return "\n".join(lines)


_COLUMNS = {
    "roc_auc": "ROC-AUC",
    "pr_auc": "PR-AUC",
    "f1": "F1",
    "precision": "precision",
    "recall": "recall",
    "brier": "Brier",
    "lift_top_decile": "lift@10%",
    "prevalence": "prevalence",
}


def _snapshot(frame: pd.DataFrame, mask: np.ndarray) -> dict[str, Any]:
    part = frame.loc[mask]
    return {
        "rows": int(len(part)),
        "hit_and_runs": int(part[LABEL].sum()),
        "prevalence": round(float(part[LABEL].mean()), 4),
        "from": part[TIMESTAMP].min().isoformat(),
        "to": part[TIMESTAMP].max().isoformat(),
        "years": sorted(int(y) for y in part[YEAR].unique()),
    }


def _importances(model: xgb.XGBClassifier) -> list[dict[str, float | str]]:
    gain = model.get_booster().get_score(importance_type="total_gain")
    total = sum(gain.values()) or 1.0
    ranked = sorted(gain.items(), key=lambda kv: -kv[1])
    return [{"feature": name, "importance": round(value / total, 4)} for name, value in ranked]


SELECTION_METRIC = "pr_auc"


def selection(
    scores: dict[str, dict[str, float]], against: dict[str, dict[str, dict[str, float]]], year: int
) -> dict[str, Any]:
    """Whether the model beats every baseline on the validation year's PR-AUC (the ranking figure
    the score is used for), and what the page should say when it does not."""
    metric = SELECTION_METRIC
    mine = scores["validation"][metric]
    best_name, best = max(((n, b["validation"][metric]) for n, b in against.items()), key=lambda nb: nb[1])
    model_is_best = bool(mine >= best)
    note = (
        f"the model beats every baseline on {year} ({metric} {mine:.3f} vs {best_name.replace('_', ' ')} {best:.3f})"
        if model_is_best
        else f"the {best_name.replace('_', ' ')} baseline beats the model on the validation year {year} "
        f"({metric} {best:.3f} vs {mine:.3f}). The model stays current because scoring, the risk bands and the "
        "per-crash explanations are built on it; until a retrain on more data beats the baseline, read its "
        "ranking as no better than the baseline's"
    )
    return {
        "metric": metric,
        "split": "validation",
        "year": year,
        "model": mine,
        "best_baseline": best_name,
        "baseline": best,
        "model_is_best": model_is_best,
        "note": note,
    }


class _StopWhenAsked(xgb.callback.TrainingCallback):
    """Ends boosting at the next round once a stop was asked for (a run's SIGTERM)."""

    def __init__(self, stop_requested: Callable[[], bool]):
        super().__init__()
        self.stop_requested = stop_requested

    def after_iteration(self, model: Any, epoch: int, evals_log: Any) -> bool:
        return self.stop_requested()


def fit(
    frame: pd.DataFrame, test_year: int | None = None, stop_requested: Callable[[], bool] | None = None
) -> tuple[Pipeline, dict[str, Any], YearSplit]:
    """Fit on a mart frame and evaluate; returns the pipeline, the metadata and the split.
    `stop_requested`: asked after each boosting round; when it says stop, training ends there and
    KeyboardInterrupt is raised (no half-trained model is returned)."""
    started = time.perf_counter()
    split = YearSplit.for_test_year(frame[YEAR], frame[TIMESTAMP], test_year)
    masks = split.masks(frame[YEAR])
    for name, mask in masks.items():
        positives = int(frame.loc[mask, LABEL].sum())
        # The training rows are cross-fitted in FEATURE_PARAMS["folds"] stratified folds.
        least = FEATURE_PARAMS["folds"] if name == "train" else 1
        if min(positives, int(mask.sum()) - positives) < least:
            raise CrashesError(
                f"the {name} rows ({mask.sum():,}, {positives:,} hit-and-runs) need at least {least} "
                "hit-and-run(s) and as many other crashes"
            )
    parts = {
        name: Split(name, frame.loc[mask, list(INPUT_COLUMNS)], frame.loc[mask, LABEL].to_numpy(int))
        for name, mask in masks.items()
    }
    tr, va, te = parts["train"], parts["validation"], parts["test"]

    features = SceneFeatures(**FEATURE_PARAMS)
    x_train = features.fit_transform(tr.frame, tr.y)
    x_val = features.transform(va.frame)
    callbacks = [_StopWhenAsked(stop_requested)] if stop_requested else None
    model = xgb.XGBClassifier(**XGB_PARAMS, callbacks=callbacks)
    model.fit(x_train, tr.y, eval_set=[(x_val, va.y)], verbose=False)
    model.set_params(callbacks=None)  # the saved model must not hold the caller's function
    if stop_requested is not None and stop_requested():
        raise KeyboardInterrupt("stop requested during training")
    pipeline = Pipeline([("features", features), ("model", model)])
    train_seconds = time.perf_counter() - started

    raw_val = pipeline.predict_proba(va.frame)[:, 1]
    raw_test = pipeline.predict_proba(te.frame)[:, 1]
    calibrator = fit_calibrator(va.y, raw_val, fitted_on=split.validation)
    p_val, p_test = calibrate(calibrator, raw_val), calibrate(calibrator, raw_test)
    threshold = best_f1_threshold(va.y, p_val)
    scores = {"validation": metrics(va.y, p_val, threshold), "test": metrics(te.y, p_test, threshold)}
    against = baselines(tr, va, [te])
    metadata = {
        "model": "xgboost",
        "code_version": registry.code_version(),
        "libraries": {"xgboost": xgb.__version__, "scikit-learn": sklearn.__version__, "pandas": pd.__version__},
        "test_year": split.test,
        "split": {"train_years": list(split.train), "validation_year": split.validation, "test_year": split.test},
        "training_data": {name: _snapshot(frame, mask) for name, mask in masks.items()},
        "feature_format": FEATURE_FORMAT,
        "input_columns": list(INPUT_COLUMNS),
        "features": model_features(),
        "engineered_features": {k: list(v) for k, v in engineered_sources().items()},
        "excluded_mart_columns": EXCLUDED_FROM_MART,
        "params": {"xgboost": XGB_PARAMS, "features": FEATURE_PARAMS, "train_years": TRAIN_YEARS},
        "best_iteration": int(model.best_iteration),
        "threshold": threshold,
        "threshold_rule": f"maximises F1 on the validation year {split.validation}",
        "metrics": scores,
        "baselines": against,
        "selection": selection(scores, against, split.validation),
        "calibrator": calibrator,
        "uncalibrated": {
            "test": {"brier": metrics(te.y, raw_test, threshold)["brier"], "mean": float(raw_test.mean())},
            "validation": {"brier": metrics(va.y, raw_val, threshold)["brier"], "mean": float(raw_val.mean())},
        },
        "risk": {
            "year": split.test,
            "bands": risk_bands(te.y, p_test),
            "precision_at_k": precision_at_k(te.y, p_test),
            "rule": f"score cuts at the top 1 / 5 / 10 % of {split.test}'s calibrated scores",
        },
        "calibration": [{"split": "test", **r} for r in calibration_table(te.y, p_test)]
        + [{"split": "validation", **r} for r in calibration_table(va.y, p_val)],
        "feature_importances": _importances(model),
        "train_seconds": round(train_seconds, 2),
    }
    return pipeline, metadata, split


def train(
    test_year: int | None = None, gold: Path | None = None, stop_requested: Callable[[], bool] | None = None
) -> TrainResult:
    """Train on gold's `marts.ml_hit_and_run_features` (or the mart in `gold`), register as current.
    `stop_requested`: see `fit`; a stopped training registers nothing."""
    frame = read_mart(TRAINING_COLUMNS, gold)
    pipeline, metadata, split = fit(frame, test_year, stop_requested)
    if stop_requested is not None and stop_requested():  # asked while evaluating: nothing becomes current
        raise KeyboardInterrupt("stop requested before the model was registered")
    saved = registry.save(pipeline, metadata)
    return TrainResult(
        version=saved.version,
        path=saved.path,
        split=split,
        snapshot=metadata["training_data"],
        metrics=metadata["metrics"],
        baselines=metadata["baselines"],
        threshold=metadata["threshold"],
        best_iteration=metadata["best_iteration"],
        train_seconds=metadata["train_seconds"],
        importances=metadata["feature_importances"],
    )
