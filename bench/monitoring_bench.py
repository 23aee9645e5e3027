"""Model monitoring at real scale: train on the real crashes up to 2022 (validate 2023, test 2024),
score every crash, rebuild the scores and the monitoring marts as a run's publish does, and report
every month of 2023–2024 from `marts.ml_monitoring_monthly` (crashes scored, observed share, mean
score, calibration error, ROC-AUC, PR-AUC, score PSI, the most drifted input), with the training
window's months summarised (their scores are in-sample).

Gold is built the real way (bench/real_data.py: real crashes → raw → `transform.build()`); two
months are recomputed with numpy/scikit-learn as a check. `python -m bench monitoring`, or
`python -m bench.monitoring_bench --markdown` for the table.
"""

# ruff: noqa: S608 - table names are constants
from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
import time
from pathlib import Path

import duckdb
import numpy as np

from bench.real_data import REAL_CRASHES, build_real_gold

REPORTED = (2023, 2024)
COLUMNS = (
    "month_start",
    "crashes_scored",
    "observed_share",
    "mean_score",
    "calibration_error",
    "roc_auc",
    "pr_auc",
    "score_psi",
    "max_feature_psi",
    "most_drifted_feature",
)


def _check(gold: Path, month: str) -> dict[str, float]:
    """One month's ROC-AUC, PR-AUC and calibration error recomputed outside SQL."""
    from sklearn.metrics import average_precision_score, roc_auc_score

    con = duckdb.connect(str(gold), read_only=True)
    try:
        rows = con.execute(
            "select s.probability, f.is_hit_and_run, f.crash_record_id from marts.ml_hit_and_run_scores s"
            " join marts.ml_hit_and_run_features f using (crash_record_id)"
            " where date_trunc('month', f.crash_ts) = cast(? as date)",
            [month],
        ).fetchall()
    finally:
        con.close()
    p = np.array([r[0] for r in rows])
    y = np.array([r[1] for r in rows], dtype=int)
    ids = np.array([r[2] for r in rows])
    deciles = np.array_split(np.lexsort((ids, p)), 10)
    ece = sum(len(b) * abs(y[b].mean() - p[b].mean()) for b in deciles) / len(y)
    return {"roc_auc": roc_auc_score(y, p), "pr_auc": average_precision_score(y, p), "calibration_error": ece}


def run(keep: Path | None = None) -> dict:
    """`keep`: a folder to build in and leave behind; when it already holds the real gold and a
    model (from an earlier run), only scoring and the publish are repeated."""
    if not REAL_CRASHES.is_dir():
        return {"skipped": f"real crashes not found at {REAL_CRASHES}"}
    with tempfile.TemporaryDirectory(prefix="crashes-monitoring-bench-") as tmp:
        home = keep or Path(tmp)
        home.mkdir(parents=True, exist_ok=True)
        os.environ["CRASHES_HOME"] = str(home)
        from ml.registry import current_model
        from ml.score import score_all
        from ml.train import train
        from orchestration.stages import SCORES_MART
        from transform import build

        gold_file = home / "gold.duckdb"
        started = time.perf_counter()
        if not gold_file.exists():
            build_real_gold(home)
        prepare_seconds = time.perf_counter() - started
        train_started = time.perf_counter()
        model = current_model()
        if model is None or model.metadata["split"]["test_year"] != 2024:
            train(test_year=2024, gold=gold_file)
            model = current_model()
        assert model is not None
        train_seconds = time.perf_counter() - train_started
        scored = score_all(gold=gold_file)
        published = time.perf_counter()
        rebuilt = build(select=SCORES_MART)
        publish_seconds = time.perf_counter() - published
        if not rebuilt.ok:
            raise SystemExit(f"the scores' publish failed:\n{rebuilt.summary()}")
        snapshot = home / "snapshot.duckdb"
        shutil.copy(gold_file.resolve(), snapshot)
        con = duckdb.connect(str(snapshot), read_only=True)
        try:
            monthly = con.execute(
                f"select {', '.join(COLUMNS)}, is_training_window, reference_calibration_error"
                " from marts.ml_monitoring_monthly order by month_start"
            ).df()
            (drift_rows,) = con.execute("select count(*) from marts.ml_monitoring_drift").fetchone()
            top_drift = con.execute(
                "select variable_name, round(avg(psi), 4) as mean_psi, round(max(psi), 4) as max_psi"
                " from marts.ml_monitoring_drift where year(month_start) in (2023, 2024)"
                " group by variable_name order by mean_psi desc limit 8"
            ).fetchall()
        finally:
            con.close()
        checked = {m: _check(snapshot, m) for m in ("2023-01-01", "2024-12-01")}
        split = model.metadata["split"]
        version = model.version

    monthly["month"] = monthly["month_start"].astype(str).str[:7]
    reported = monthly[monthly["month_start"].astype(str).str[:4].astype(int).isin(REPORTED)]
    training = monthly[monthly["is_training_window"]]
    table = [
        {k: (round(float(v), 4) if isinstance(v, float | np.floating) else v) for k, v in row.items()}
        for row in reported[["month", *COLUMNS[1:]]].to_dict("records")
    ]
    by_month = monthly.set_index("month")
    agreement = {
        m[:7]: {k: abs(float(by_month.loc[m[:7], k]) - v) for k, v in figures.items()} for m, figures in checked.items()
    }
    return {
        "split": split,
        "model": version,
        "scored": scored.rows,
        "prepare_seconds": round(prepare_seconds, 1),
        "train_seconds": round(train_seconds, 1),
        "score_seconds": round(scored.seconds, 1),
        "publish_with_monitoring_seconds": round(publish_seconds, 1),
        "publish_dbt_seconds": round(rebuilt.dbt_seconds, 1),
        "drift_rows": int(drift_rows),
        "reference_calibration_error": round(float(monthly["reference_calibration_error"].iloc[0]), 4),
        "training_window_score_psi": {
            "median": round(float(training["score_psi"].median()), 4),
            "max": round(float(training["score_psi"].max()), 4),
        },
        "months": table,
        "most_drifted_inputs_2023_2024": [{"variable_name": v, "mean_psi": a, "max_psi": b} for v, a, b in top_drift],
        "numpy_sklearn_abs_differences": agreement,
        "cores": os.cpu_count(),
        "load_average_1m": round(os.getloadavg()[0], 1),
    }


def markdown(result: dict) -> str:
    head = "| month | scored | observed | mean score | calib. error | ROC-AUC | PR-AUC | score PSI | top input (PSI) |"
    lines = [head, "|" + "---|" * 9]
    for r in result["months"]:
        lines.append(
            f"| {r['month']} | {r['crashes_scored']:,} | {r['observed_share']:.3f} | {r['mean_score']:.3f} | "
            f"{r['calibration_error']:.3f} | {r['roc_auc']:.3f} | {r['pr_auc']:.3f} | {r['score_psi']:.3f} | "
            f"{r['most_drifted_feature']} ({r['max_feature_psi']:.3f}) |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--markdown", action="store_true", help="print the months as a Markdown table first")
    parser.add_argument("--keep", type=Path, help="build in this folder and keep it (reused when run again)")
    args = parser.parse_args()
    result = run(args.keep.resolve() if args.keep else None)
    if args.markdown and "months" in result:
        print(markdown(result))
    print(json.dumps(result))
