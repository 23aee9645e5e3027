"""The registry reader answers for every pointer shape and never raises on a half-written registry."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from orchestration.model_info import current_model


def _model(models: Path, version: str, metadata: object) -> None:
    (models / version).mkdir(parents=True)
    (models / version / "metadata.json").write_text(json.dumps(metadata))


@pytest.mark.parametrize("pointer", ["symlink", "current", "current.txt", "current.json"])
def test_pointer_shapes(crashes_home: Path, pointer: str) -> None:
    models = crashes_home / "models"
    _model(models, "v1", {"metrics": {"test": {"roc_auc": 0.7, "n": 10, "ok": True}}, "trained_at": "2024-04-01"})
    _model(models, "v2", {"test_metrics": {"roc_auc": 0.73, "pr_auc": 0.5}})
    if pointer == "symlink":
        (models / "current").symlink_to(models / "v2", target_is_directory=True)
    elif pointer == "current.json":
        (models / pointer).write_text(json.dumps({"version": "v2"}))
    else:
        (models / pointer).write_text("v2\n")
    model = current_model()
    assert model is not None and model.version == "v2"
    assert model.test_metrics == {"roc_auc": 0.73, "pr_auc": 0.5}
    assert model.describe() == "v2 · roc_auc 0.730, pr_auc 0.500"


def test_nested_metrics_skip_non_numbers(crashes_home: Path) -> None:
    models = crashes_home / "models"
    _model(models, "v1", {"metrics": {"test": {"roc_auc": 0.7, "n": 10, "ok": True, "name": "x"}}})
    (models / "current").write_text("v1")
    model = current_model()
    assert model is not None and model.test_metrics == {"roc_auc": 0.7, "n": 10.0}


@pytest.mark.parametrize(
    "state", ["empty", "dangling pointer", "blank pointer", "broken json", "metadata not an object"]
)
def test_no_or_broken_registry_is_no_model_not_an_error(crashes_home: Path, state: str) -> None:
    models = crashes_home / "models"
    models.mkdir()
    if state == "dangling pointer":
        (models / "current").write_text("v9")
    elif state == "blank pointer":
        (models / "current").write_text("  \n")
    elif state == "broken json":
        (models / "v1").mkdir()
        (models / "v1" / "metadata.json").write_text("{not json")
        (models / "current").write_text("v1")
    elif state == "metadata not an object":
        _model(models, "v1", [1, 2])
        (models / "current").write_text("v1")
    model = current_model()
    if state == "metadata not an object":
        assert model is not None and model.metadata == {} and model.test_metrics == {}
    else:
        assert model is None
