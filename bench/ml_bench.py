"""The hit-and-run model at real scale: train on the 904,716 distinct real crashes (train ≤ 2022,
validate 2023, test 2024), score every crash, then score a 1,000,000-row mart.

Gold is built the real way (raw in the contract's shape → `transform.build()`), as
bench/dbt_bench.py does, unless `--gold PATH` names an existing gold with the real mart. Targets
(issue 4): test F1 ≥ 0.56, PR-AUC ≥ 0.58, ROC-AUC ≥ 0.74, Brier ≤ 0.18, validation within 0.02 of
test; training ≤ 60 s; scoring 1 M rows ≤ 10 s.
"""

# ruff: noqa: S608 - table names are constants of ml.data; row counts are integers
from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

import duckdb

from bench.real_data import REAL_CRASHES, build_real_gold
from crashes.gold import STORAGE_COMPATIBILITY

QUALITY = {"f1": 0.56, "pr_auc": 0.58, "roc_auc": 0.74}
BRIER_MAX = 0.18
GAP_MAX = 0.02
SECONDS = {"train": 60.0, "score_1m": 10.0}
ONE_MILLION = 1_000_000


def million_row_gold(gold: Path, out: Path) -> int:
    """The real mart topped up to 1 M rows with re-keyed copies of real crashes."""
    from ml.data import MART, MART_SCHEMA

    con = duckdb.connect(str(out), config={"storage_compatibility_version": STORAGE_COMPATIBILITY})
    try:
        con.execute("attach ? as src (read_only)", [str(gold)])
        (rows,) = con.execute(f"select count(*) from src.{MART}").fetchone()
        extra = max(0, ONE_MILLION - rows)
        con.execute(f"create schema {MART_SCHEMA}")
        con.execute(
            f"create table {MART} as select * from src.{MART} union all "
            f"(select * replace ('copy-' || crash_record_id as crash_record_id) from src.{MART} "
            f"order by crash_record_id limit {int(extra)})"
        )
        (total,) = con.execute(f"select count(*) from {MART}").fetchone()
    finally:
        con.close()
    return int(total)


def _figures(block: dict) -> dict:
    return {k: round(v, 4) for k, v in block.items() if k != "rows"} | {"rows": block["rows"]}


def checks(test: dict, gaps: dict, train_wall: float, score_1m_seconds: float) -> dict[str, bool]:
    """The targets. Training is timed as `crashes train` takes it — reading the mart, the fit, the
    baselines, the predictions and saving (`train_wall`) — not the fit alone (`train_seconds`)."""
    out = {f"test_{k}>={v}": test[k] >= v for k, v in QUALITY.items()}
    return out | {
        f"test_brier<={BRIER_MAX}": test["brier"] <= BRIER_MAX,
        f"val_test_gaps<={GAP_MAX}": max(gaps.values()) <= GAP_MAX,
        f"train<={SECONDS['train']}s": train_wall <= SECONDS["train"],
        f"score_1m<={SECONDS['score_1m']}s": score_1m_seconds <= SECONDS["score_1m"],
    }


def run(gold: Path | None) -> dict:
    if gold is None and not REAL_CRASHES.is_dir():
        return {"skipped": f"real crashes not found at {REAL_CRASHES}"}
    with tempfile.TemporaryDirectory(prefix="crashes-ml-bench-") as tmp:
        home = Path(tmp)
        os.environ["CRASHES_HOME"] = str(home)
        from ml.score import score_all
        from ml.train import train

        prepared = time.perf_counter()
        source = str(gold) if gold else "built from crashes_real by dbt (bench/dbt_bench.py's raw)"
        if gold is None:
            build_real_gold(home)
            gold = home / "gold.duckdb"
        prepare_seconds = time.perf_counter() - prepared

        started, cpu = time.perf_counter(), time.process_time()
        trained = train(gold=gold)
        train_wall, train_cpu = time.perf_counter() - started, time.process_time() - cpu
        scored = score_all(gold=gold)
        big = home / "gold_1m.duckdb"
        rows_1m = million_row_gold(gold, big)
        cpu = time.process_time()
        scored_1m = score_all(gold=big)
        score_1m_cpu = time.process_time() - cpu

    val, test = trained.metrics["validation"], trained.metrics["test"]
    gaps = {k: round(abs(val[k] - test[k]), 4) for k in ("roc_auc", "pr_auc", "f1", "brier")}
    return {
        "gold": source,
        "prepare_seconds": round(prepare_seconds, 1),
        "split": {
            "train": list(trained.split.train),
            "validation": trained.split.validation,
            "test": trained.split.test,
        },
        "rows": {name: part["rows"] for name, part in trained.snapshot.items()},
        "prevalence": {name: part["prevalence"] for name, part in trained.snapshot.items()},
        "threshold": round(trained.threshold, 4),
        "trees": trained.best_iteration + 1,
        "validation": _figures(val),
        "test": _figures(test),
        "val_test_gaps": gaps,
        "baselines_test": {name: _figures(b["test"]) for name, b in trained.baselines.items()},
        "top_features": trained.importances[:10],
        "train_seconds": round(trained.train_seconds, 1),
        "train_wall_seconds": round(train_wall, 1),
        # CPU seconds over every thread: on 2 cores of its own a job needs at least half of them.
        "train_cpu_seconds": round(train_cpu, 1),
        "score_all": {"rows": scored.rows, "seconds": round(scored.seconds, 2)},
        "score_1m": {"rows": rows_1m, "seconds": round(scored_1m.seconds, 2), "cpu_seconds": round(score_1m_cpu, 2)},
        "checks": checks(test, gaps, train_wall, scored_1m.seconds),
        "cores": os.cpu_count(),
        "load_average_1m": round(os.getloadavg()[0], 1),
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gold", type=Path, help="an existing gold.duckdb with the real feature mart")
    args = parser.parse_args()
    print(json.dumps(run(args.gold.resolve() if args.gold else None), indent=2))
