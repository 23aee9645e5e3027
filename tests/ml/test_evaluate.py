"""The figures the model is judged by, checked against their definitions by brute force."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import f1_score

from ml.evaluate import best_f1_threshold, calibration_table, lift_top_decile, metrics


def _scores(n: int = 2000, seed: int = 1) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    p = rng.random(n)
    y = (rng.random(n) < p).astype(int)
    return y, p


def test_threshold_maximises_f1() -> None:
    y, p = _scores()
    chosen = best_f1_threshold(y, p)
    flagged = p[None, :] >= np.unique(p)[:, None]  # every possible cut at once
    tp = (flagged & (y == 1)).sum(axis=1)
    best = (2 * tp / (flagged.sum(axis=1) + y.sum())).max()
    assert f1_score(y, p >= chosen) == pytest.approx(best, abs=1e-12)


def test_lift_counts_ties_pro_rata() -> None:
    y, p = _scores()
    assert lift_top_decile(y, np.full(len(y), 0.3)) == 1.0
    perfect = lift_top_decile(y, y.astype(float))
    assert perfect == min(1.0, 0.1 / y.mean()) / 0.1
    top = np.argsort(-p)[: len(p) // 10]
    assert abs(lift_top_decile(y, p) - y[top].mean() / y.mean()) < 1e-9


def test_calibration_table_covers_every_row_in_order() -> None:
    y, p = _scores()
    table = calibration_table(y, p, bins=10)
    assert sum(r["rows"] for r in table) == len(y)
    predicted = [r["predicted"] for r in table]
    assert predicted == sorted(predicted)
    # These probabilities are calibrated by construction: each bin's observed share is near its mean.
    assert all(abs(r["observed"] - r["predicted"]) < 0.1 for r in table)


def test_prevalence_baseline_figures() -> None:
    y, _ = _scores()
    prior = y.mean()
    m = metrics(y, np.full(len(y), prior), threshold=prior)
    assert m["recall"] == 1.0 and abs(m["precision"] - prior) < 1e-12
    assert abs(m["f1"] - 2 * prior / (1 + prior)) < 1e-12
    assert abs(m["pr_auc"] - prior) < 1e-12 and m["roc_auc"] == 0.5
    assert abs(m["brier"] - prior * (1 - prior)) < 1e-12
