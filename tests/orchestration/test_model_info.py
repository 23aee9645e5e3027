"""The light registry reader follows ml's layout and never raises on a half-written registry."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from orchestration import model_info
from orchestration.model_info import current_model


def _model(models: Path, version: str, metadata: object) -> None:
    (models / version).mkdir(parents=True)
    (models / version / "metadata.json").write_text(json.dumps(metadata))


def test_reads_the_registry_layout_ml_writes(crashes_home: Path) -> None:
    from ml import registry

    assert (model_info.POINTER, model_info.METADATA_FILE) == (registry.POINTER, registry.METADATA_FILE)
    models = crashes_home / "models"
    _model(models, "v1", {"metrics": {"test": {"roc_auc": 0.7}}, "created_at": "2024-04-01T00:00:00"})
    _model(models, "v2", {"metrics": {"validation": {"roc_auc": 0.9}, "test": {"roc_auc": 0.73, "pr_auc": 0.5}}})
    (models / "CURRENT").write_text("v2\n")
    model = current_model()
    assert model is not None and model.version == "v2"
    assert model.test_metrics == {"roc_auc": 0.73, "pr_auc": 0.5}
    assert model.describe() == "v2 · roc_auc 0.730, pr_auc 0.500"


def test_nested_metrics_skip_non_numbers(crashes_home: Path) -> None:
    models = crashes_home / "models"
    _model(models, "v1", {"metrics": {"test": {"roc_auc": 0.7, "n": 10, "ok": True, "name": "x"}}})
    (models / "CURRENT").write_text("v1")
    model = current_model()
    assert model is not None and model.test_metrics == {"roc_auc": 0.7, "n": 10.0}


@pytest.mark.parametrize(
    "state", ["empty", "dangling pointer", "blank pointer", "broken json", "metadata not an object"]
)
def test_no_or_broken_registry_is_no_model_not_an_error(crashes_home: Path, state: str) -> None:
    models = crashes_home / "models"
    models.mkdir()
    if state == "dangling pointer":
        (models / "CURRENT").write_text("v9")
    elif state == "blank pointer":
        (models / "CURRENT").write_text("  \n")
    elif state == "broken json":
        (models / "v1").mkdir()
        (models / "v1" / "metadata.json").write_text("{not json")
        (models / "CURRENT").write_text("v1")
    elif state == "metadata not an object":
        _model(models, "v1", [1, 2])
        (models / "CURRENT").write_text("v1")
    model = current_model()
    if state == "metadata not an object":
        assert model is not None and model.metadata == {} and model.test_metrics == {}
    else:
        assert model is None
