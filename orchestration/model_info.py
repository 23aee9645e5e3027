"""The ml registry's current model, read from files (`models/current` + `<version>/metadata.json`).

Read defensively and without importing `ml`: status and metrics must answer even when the
registry is empty, half written or in an older shape, and must stay cheap at scrape time.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from crashes.config import get_settings

_METRIC_KEYS = ("test_metrics", "metrics_test", "test", "metrics")
# Shown first when describing a model, in this order.
_HEADLINE = ("roc_auc", "pr_auc", "f1", "brier")


@dataclass(frozen=True)
class ModelInfo:
    version: str
    path: Path
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def test_metrics(self) -> dict[str, float]:
        """Numeric test-set metrics (roc_auc, pr_auc, ...), wherever the metadata nests them."""
        for key in _METRIC_KEYS:
            block = self.metadata.get(key)
            if isinstance(block, dict):
                if isinstance(block.get("test"), dict):
                    block = block["test"]
                numbers = _numbers(block)
                if numbers:
                    return numbers
        return {}

    def describe(self) -> str:
        ranked = sorted(
            self.test_metrics.items(),
            key=lambda kv: (_HEADLINE.index(kv[0]) if kv[0] in _HEADLINE else len(_HEADLINE), kv[0]),
        )
        metrics = ", ".join(f"{k} {v:.3f}" for k, v in ranked[:4])
        trained = self.metadata.get("trained_at") or self.metadata.get("created_at")
        parts = [self.version] + ([f"trained {trained}"] if trained else []) + ([metrics] if metrics else [])
        return " · ".join(parts)


def _numbers(block: dict[str, Any]) -> dict[str, float]:
    return {str(k): float(v) for k, v in block.items() if isinstance(v, int | float) and not isinstance(v, bool)}


def _current_version(models: Path) -> str | None:
    pointer = models / "current"
    if pointer.is_symlink() or pointer.is_dir():
        return pointer.resolve().name
    for candidate in (pointer, models / "current.txt", models / "CURRENT"):
        if candidate.is_file():
            text = candidate.read_text().strip()
            return text or None
    as_json = models / "current.json"
    if as_json.is_file():
        data = json.loads(as_json.read_text())
        version = data.get("version") if isinstance(data, dict) else None
        return str(version) if version else None
    return None


def current_model(models: Path | None = None) -> ModelInfo | None:
    """The current model, or None when there is none (or the pointer leads nowhere)."""
    models = models or get_settings().models_dir
    try:
        version = _current_version(models)
        if not version:
            return None
        folder = models / version
        if not folder.is_dir():
            return None
        meta_file = folder / "metadata.json"
        metadata = json.loads(meta_file.read_text()) if meta_file.is_file() else {}
        if not isinstance(metadata, dict):
            metadata = {}
        return ModelInfo(version=version, path=folder, metadata=metadata)
    except (OSError, ValueError):
        return None
