"""Train on gold built by dbt from generated crashes: the model beats its baselines, is
registered completely, reloads to the same scores, and refuses a mart that lost its inputs."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from crashes.errors import CrashesError
from ml import registry
from ml.data import TRAINING_COLUMNS, read_mart
from ml.evaluate import metrics
from ml.features import INPUT_COLUMNS, LABEL, YEAR, model_features
from ml.risk import calibrate
from ml.train import fit
from tests.ml.conftest import Trained
from tests.ml.synthetic import mart_frame, write_gold

METADATA_KEYS = {
    "version",
    "created_at",
    "code_version",
    "test_year",
    "training_data",
    "input_columns",
    "features",
    "params",
    "metrics",
    "baselines",
    "threshold",
    "calibration",
    "feature_importances",
    "calibrator",
    "risk",
    "selection",
}


def test_model_beats_both_baselines_on_data_with_a_known_signal(in_trained_home: Trained) -> None:
    result = in_trained_home.result
    print("\n" + result.summary())
    for split in ("validation", "test"):
        model = result.metrics[split]
        for name, baseline in result.baselines.items():
            for metric in ("roc_auc", "pr_auc", "f1"):
                assert model[metric] > baseline[split][metric], f"{split} {metric}: model ≤ {name}"
        assert model["brier"] < result.baselines["prevalence"][split]["brier"]


def test_metadata_is_complete(in_trained_home: Trained) -> None:
    result = in_trained_home.result
    meta = json.loads((result.path / registry.METADATA_FILE).read_text())
    assert set(meta) >= METADATA_KEYS
    assert meta["version"] == result.version == result.path.name
    assert meta["input_columns"] == list(INPUT_COLUMNS) and meta["features"] == model_features()
    assert meta["code_version"].startswith("0.1.0")
    assert set(meta["training_data"]) == {"train", "validation", "test"}
    for part in meta["training_data"].values():
        assert part["rows"] > 0 and part["from"] <= part["to"]
    assert meta["test_year"] == 2023 and meta["split"]["train_years"] == [2020, 2021]
    assert 0 < meta["threshold"] < 1
    for split in ("validation", "test"):
        assert {"roc_auc", "pr_auc", "f1", "precision", "recall", "brier", "lift_top_decile", "prevalence"} <= set(
            meta["metrics"][split]
        )
    assert {r["split"] for r in meta["calibration"]} == {"validation", "test"}
    assert {r["feature"] for r in meta["feature_importances"]} <= set(model_features())
    assert (in_trained_home.home / "models" / registry.POINTER).read_text().strip() == result.version


def test_other_packages_read_the_registry(in_trained_home: Trained) -> None:
    from orchestration.model_info import current_model

    info = current_model()
    assert info is not None and info.version == in_trained_home.result.version
    assert info.test_metrics["roc_auc"] == pytest.approx(in_trained_home.result.metrics["test"]["roc_auc"])


def test_a_saved_model_reloads_and_scores_identically(crashes_home: Path) -> None:
    frame = mart_frame(per_year=500)
    pipeline, metadata, _ = fit(frame)
    saved = registry.save(pipeline, metadata)
    loaded = registry.load_current(list(INPUT_COLUMNS))
    assert loaded.version == saved.version
    raw = pipeline.predict_proba(frame)[:, 1]
    assert np.array_equal(loaded.raw_probabilities(frame), raw)
    assert np.array_equal(loaded.probabilities(frame), calibrate(metadata["calibrator"], raw))


def test_the_registered_model_reproduces_its_test_figures(in_trained_home: Trained) -> None:
    frame = read_mart(TRAINING_COLUMNS, in_trained_home.gold)
    test = frame[frame[YEAR] == in_trained_home.result.split.test]
    model = registry.load_current()
    figures = metrics(test[LABEL].to_numpy(int), model.probabilities(test), model.threshold)
    assert figures == pytest.approx(model.metadata["metrics"]["test"], rel=1e-12)


def test_loading_checks_the_feature_list_against_the_mart(in_trained_home: Trained) -> None:
    with pytest.raises(CrashesError, match="no longer has: first_crash_type"):
        registry.load_current([c for c in INPUT_COLUMNS if c != "first_crash_type"])
    assert registry.load_current(list(INPUT_COLUMNS)).version == in_trained_home.result.version


def test_a_model_from_an_older_feature_format_is_refused(crashes_home: Path) -> None:
    pipeline, metadata, _ = fit(mart_frame(per_year=300))
    saved = registry.save(pipeline, metadata | {"feature_format": 1})
    with pytest.raises(CrashesError, match=f"model {saved.version} was trained by an older ml package.*retrain"):
        registry.load_current()


def test_training_on_a_mart_without_a_needed_column_is_one_clear_error(crashes_home: Path) -> None:
    from ml.train import train

    gold = write_gold(mart_frame(per_year=50), crashes_home / "gold.duckdb", drop=("first_crash_type",))
    with pytest.raises(CrashesError, match=r"lacks column\(s\) the model needs: first_crash_type"):
        train(gold=gold)
    assert not (crashes_home / "models").exists()


def test_no_model_yet_is_one_clear_error(crashes_home: Path) -> None:
    assert registry.current_model() is None
    with pytest.raises(CrashesError, match="no current model .* run `crashes train` first"):
        registry.load_current()


def test_the_pointer_moves_only_to_a_complete_version(trained: Trained, crashes_home: Path) -> None:
    models = crashes_home / "models"
    shutil.copytree(trained.result.path, models / trained.result.version)
    registry.set_current(trained.result.version)
    (models / "half-written").mkdir()
    (models / "half-written" / registry.MODEL_FILE).write_bytes(b"")
    with pytest.raises(CrashesError, match="no model version 'half-written'"):
        registry.set_current("half-written")
    assert registry.current_model().version == trained.result.version


def test_training_asked_to_stop_ends_at_the_next_round_and_registers_nothing(built_gold, crashes_home) -> None:  # noqa: ANN001
    """A run's SIGTERM during training (via `stop_requested`) stops boosting at the next round;
    no half-trained model becomes current."""
    from ml.registry import current_model
    from ml.train import train

    rounds = []

    def stop_after_three() -> bool:
        rounds.append(1)
        return len(rounds) >= 3

    with pytest.raises(KeyboardInterrupt, match="stop requested"):
        train(gold=built_gold.gold, stop_requested=stop_after_three)
    # Asked after rounds 1, 2 and 3 (stop), then once after boosting: no round ran on.
    assert len(rounds) == 4, f"asked {len(rounds)} times: boosting ran on after it was asked to stop"
    assert current_model() is None
