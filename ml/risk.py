"""What a score means to someone ranking crashes for follow-up: a calibrated probability, its risk
band, and how well each band and each top-k list did on the test year.

The booster ranks crashes well, but the level of its raw probability follows the training years'
share of hit-and-runs. A Platt map (logistic regression on the raw log-odds) fitted on the
validation year makes the stored score a calibrated probability and keeps the order exactly, so
ROC-AUC, PR-AUC and every top-k figure stay the booster's; isotonic regression would calibrate as
well but puts whole steps of crashes on one score, blurring the ranking the score is for. It is
two numbers, kept in the version's metadata (`calibrator`), applied wherever a score is made.

Bands cut the test year's calibrated scores at quantiles (top 1 %, 5 %, 10 %, rest): a crash is in
the highest band whose cut it reaches. Each band carries its figures when it is the operating
point, i.e. every crash at or above its cut is followed up: precision, recall, lift and the
confusion matrix; plus the precision within the band alone.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from sklearn.linear_model import LogisticRegression

BAND_SHARES: tuple[float, ...] = (0.01, 0.05, 0.10)
REST = "rest"
TOP_K: tuple[int, ...] = (100, 500, 1000, 5000)
_EPS = 1e-6


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(np.asarray(p, dtype="float64"), _EPS, 1 - _EPS)
    return np.log(p / (1 - p))


def fit_calibrator(y: np.ndarray, raw: np.ndarray, fitted_on: int | str) -> dict[str, Any]:
    """Platt scaling of raw probabilities on held-out rows (the validation year): slope and
    intercept on the log-odds, unpenalised."""
    model = LogisticRegression(C=1e6, max_iter=1000).fit(_logit(raw)[:, None], np.asarray(y).astype(int))
    return {
        "method": "platt",
        "slope": float(model.coef_[0, 0]),
        "intercept": float(model.intercept_[0]),
        "fitted_on": fitted_on,
    }


def calibrated_margin(calibrator: dict[str, Any], margin: np.ndarray | float) -> np.ndarray:
    """Raw log-odds → calibrated log-odds (a straight line, so exact contributions scale with it)."""
    return calibrator["slope"] * np.asarray(margin, dtype="float64") + calibrator["intercept"]


def calibrate(calibrator: dict[str, Any], raw: np.ndarray) -> np.ndarray:
    return 1 / (1 + np.exp(-calibrated_margin(calibrator, _logit(raw))))


def band_label(share: float) -> str:
    return f"top {share * 100:g} %"


def risk_bands(y: np.ndarray, p: np.ndarray, shares: tuple[float, ...] = BAND_SHARES) -> list[dict[str, Any]]:
    """One row per band, highest first, then `rest`: its score cut (`min_score`), its own crashes
    and precision, and the figures of following up every crash at or above the cut."""
    y = np.asarray(y).astype(int)
    p = np.asarray(p, dtype="float64")
    n, positives = len(y), int(y.sum())
    prevalence = positives / n if n else float("nan")
    ranked = np.sort(p)[::-1]
    rows: list[dict[str, Any]] = []
    above_prev = np.zeros(n, dtype=bool)
    cuts = [float(ranked[max(0, math.ceil(s * n) - 1)]) for s in shares] if n else []
    for label, share, cut in [*zip(map(band_label, shares), shares, cuts, strict=True), (REST, 1.0, 0.0)]:
        at_or_above = p >= cut if label != REST else np.ones(n, dtype=bool)
        in_band = at_or_above & ~above_prev
        above_prev = at_or_above
        tp = int(y[at_or_above].sum())
        flagged = int(at_or_above.sum())
        precision = tp / flagged if flagged else float("nan")
        rows.append(
            {
                "band": label,
                "share": share,
                "min_score": cut,
                "band_rows": int(in_band.sum()),
                "band_precision": float(y[in_band].mean()) if in_band.any() else float("nan"),
                "flagged": flagged,
                "precision": precision,
                "recall": tp / positives if positives else float("nan"),
                "lift": precision / prevalence if prevalence else float("nan"),
                "tp": tp,
                "fp": flagged - tp,
                "fn": positives - tp,
                "tn": n - flagged - (positives - tp),
            }
        )
    return rows


def band_of(bands: list[dict[str, Any]], p: np.ndarray) -> np.ndarray:
    """Each score's band label: the first (highest) band whose cut it reaches, else `rest`."""
    p = np.asarray(p, dtype="float64")
    labels = np.full(len(p), REST, dtype=object)
    for band in reversed([b for b in bands if b["band"] != REST]):
        labels[p >= band["min_score"]] = band["band"]
    return labels


def precision_at_k(y: np.ndarray, p: np.ndarray, ks: tuple[int, ...] = TOP_K) -> list[dict[str, Any]]:
    """Precision and lift of the k highest scores, for each k the year has rows for."""
    y = np.asarray(y).astype(int)
    order = np.argsort(-np.asarray(p, dtype="float64"), kind="stable")
    prevalence = float(y.mean()) if len(y) else float("nan")
    out = []
    for k in (k for k in ks if k <= len(y)):
        precision = float(y[order[:k]].mean())
        out.append({"k": k, "precision": precision, "lift": precision / prevalence if prevalence else float("nan")})
    return out


def summary(bands: list[dict[str, Any]], year: int | str, label: str) -> str:
    """'top 5 % (precision 0.71, lift 2.3× on 2024)' for one band."""
    band = next((b for b in bands if b["band"] == label), None)
    if band is None:
        return label
    if label == REST:
        return f"{REST} (hit-and-run share {band['band_precision']:.2f} in this band on {year})"
    return f"{label} (precision {band['precision']:.2f}, lift {band['lift']:.1f}× on {year})"
