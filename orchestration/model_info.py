"""The ml registry's current model, read from its files (`models/CURRENT` naming a version,
`<version>/metadata.json` as `ml.train` writes it; see ml/registry.py).

Read without importing `ml` (xgboost, scikit-learn): status, the metrics scrape and the dashboard
must stay cheap, and must answer "no model" rather than fail on an empty or half-written registry.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from crashes.config import get_settings

POINTER = "CURRENT"  # ml.registry.POINTER
METADATA_FILE = "metadata.json"  # ml.registry.METADATA_FILE
# Shown first when describing a model, in this order.
_HEADLINE = ("roc_auc", "pr_auc", "f1", "brier")


@dataclass(frozen=True)
class ModelInfo:
    version: str
    path: Path
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def test_metrics(self) -> dict[str, float]:
        """The numeric test-year metrics (roc_auc, pr_auc, ...) of `metadata["metrics"]["test"]`."""
        test = (self.metadata.get("metrics") or {}).get("test")
        return _numbers(test) if isinstance(test, dict) else {}

    def describe(self) -> str:
        ranked = sorted(
            self.test_metrics.items(),
            key=lambda kv: (_HEADLINE.index(kv[0]) if kv[0] in _HEADLINE else len(_HEADLINE), kv[0]),
        )
        metrics = ", ".join(f"{k} {v:.3f}" for k, v in ranked[:4])
        trained = self.metadata.get("created_at")
        parts = [self.version] + ([f"trained {trained}"] if trained else []) + ([metrics] if metrics else [])
        return " · ".join(parts)


def _numbers(block: dict[str, Any]) -> dict[str, float]:
    return {str(k): float(v) for k, v in block.items() if isinstance(v, int | float) and not isinstance(v, bool)}


def current_model(models: Path | None = None) -> ModelInfo | None:
    """The current model, or None when there is none (or the pointer leads nowhere)."""
    models = models or get_settings().models_dir
    try:
        pointer = models / POINTER
        version = pointer.read_text().strip() if pointer.is_file() else ""
        if not version:
            return None
        folder = models / version
        if not folder.is_dir():
            return None
        meta_file = folder / METADATA_FILE
        metadata = json.loads(meta_file.read_text()) if meta_file.is_file() else {}
        if not isinstance(metadata, dict):
            metadata = {}
        return ModelInfo(version=version, path=folder, metadata=metadata)
    except (OSError, ValueError):
        return None
