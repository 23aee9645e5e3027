"""bench/ml_bench.py judges training by the whole `train()` call (what `crashes train` takes:
read the mart, fit, baselines, predict, save), not by the fit alone."""

from __future__ import annotations

from bench.ml_bench import SECONDS, checks

TEST = {"f1": 0.6, "pr_auc": 0.6, "roc_auc": 0.75, "brier": 0.17}
GAPS = {"roc_auc": 0.01, "pr_auc": 0.01, "f1": 0.01, "brier": 0.01}


def test_training_time_is_the_whole_train_call() -> None:
    key = f"train<={SECONDS['train']}s"
    assert checks(TEST, GAPS, train_wall=SECONDS["train"] - 1, score_1m_seconds=5.0)[key]
    assert not checks(TEST, GAPS, train_wall=SECONDS["train"] + 1, score_1m_seconds=5.0)[key]
    assert all(checks(TEST, GAPS, train_wall=30.0, score_1m_seconds=5.0).values())
