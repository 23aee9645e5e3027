"""How a set of probabilities is judged: the same figures for the model, its baselines, every split.

Threshold-free figures (ROC-AUC, PR-AUC, Brier, lift) say how well crashes are ranked and how
honest the probabilities are; F1/precision/recall are read at one threshold, chosen on the
validation year and then applied unchanged to the test year.
"""

from __future__ import annotations

import numpy as np
from sklearn.metrics import (
    average_precision_score,
    brier_score_loss,
    precision_recall_curve,
    precision_recall_fscore_support,
    roc_auc_score,
)


def best_f1_threshold(y: np.ndarray, p: np.ndarray) -> float:
    """The probability cut that maximises F1 on these rows (the validation year)."""
    precision, recall, thresholds = precision_recall_curve(y, p)
    f1 = np.divide(
        2 * precision * recall, precision + recall, out=np.zeros_like(precision), where=precision + recall > 0
    )
    return float(thresholds[int(np.argmax(f1[:-1]))]) if len(thresholds) else 0.5


def lift_top_decile(y: np.ndarray, p: np.ndarray) -> float:
    """Hit-and-run share among the 10 % highest-scored crashes over the share among all. Crashes
    tied at the cut count pro rata, so a constant score has a lift of exactly 1."""
    prevalence = float(np.mean(y))
    if prevalence == 0 or len(p) == 0:
        return float("nan")
    k = int(np.ceil(0.1 * len(p)))
    cut = np.sort(p)[::-1][k - 1]
    above, tied = p > cut, p == cut
    hits = y[above].sum() + (k - above.sum()) * y[tied].mean()
    return float(hits / k / prevalence)


def calibration_table(y: np.ndarray, p: np.ndarray, bins: int = 10) -> list[dict[str, float | int]]:
    """Equal-count bins of predicted probability: mean prediction beside the observed share."""
    order = np.argsort(p, kind="stable")
    rows = []
    for i, idx in enumerate(np.array_split(order, bins), start=1):
        if len(idx) == 0:
            continue
        rows.append(
            {
                "bin": i,
                "rows": len(idx),
                "p_min": round(float(p[idx].min()), 4),
                "p_max": round(float(p[idx].max()), 4),
                "predicted": round(float(p[idx].mean()), 4),
                "observed": round(float(np.mean(y[idx])), 4),
            }
        )
    return rows


def metrics(y: np.ndarray, p: np.ndarray, threshold: float) -> dict[str, float]:
    """The headline figures for one split at a given decision threshold."""
    y = np.asarray(y).astype(int)
    p = np.asarray(p, dtype="float64")
    both = len(np.unique(y)) == 2
    precision, recall, f1, _ = precision_recall_fscore_support(
        y, (p >= threshold).astype(int), average="binary", zero_division=0
    )
    return {
        "roc_auc": float(roc_auc_score(y, p)) if both else float("nan"),
        "pr_auc": float(average_precision_score(y, p)) if both else float("nan"),
        "f1": float(f1),
        "precision": float(precision),
        "recall": float(recall),
        "brier": float(brier_score_loss(y, p)),
        "lift_top_decile": lift_top_decile(y, p),
        "prevalence": float(np.mean(y)),
        "rows": int(len(y)),
    }
