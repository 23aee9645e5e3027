"""The model registry as the dashboard shows it: the current model's metrics beside its
baselines, calibration, feature importances, and every registered version.

Read from the registry's files (`<version>/metadata.json` as `ml.train` writes it, via
`orchestration.model_info`) so the pages never import xgboost just to draw a table.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pandas as pd

from crashes.config import get_settings
from ml.features import feature_label
from orchestration.model_info import ModelInfo, current_model

SPLITS = ("validation", "test")
HEADLINE = ("roc_auc", "pr_auc", "f1", "precision", "recall", "brier", "lift_top_decile", "prevalence")


@dataclass(frozen=True)
class ModelView(ModelInfo):
    """A registered model with what its pages show (orchestration's ModelInfo reads the files)."""

    @property
    def created(self) -> str | None:
        value = self.metadata.get("created_at")
        return str(value)[:19] if value else None

    @property
    def threshold(self) -> float | None:
        value = self.metadata.get("threshold")
        return float(value) if isinstance(value, int | float) else None

    @property
    def test_year(self) -> int | None:
        value = self.metadata.get("test_year")
        return int(value) if isinstance(value, int) else None

    @property
    def train_years(self) -> tuple[int, int] | None:
        """The training window (first and last year), as the monitoring marts take it."""
        value = (self.metadata.get("split") or {}).get("train_years")
        return (int(value[0]), int(value[1])) if isinstance(value, list) and len(value) == 2 else None

    def metrics_table(self) -> pd.DataFrame:
        """One row per split and model: the model (`metrics`) and each baseline (`baselines`)."""
        models = {"model": self.metadata.get("metrics") or {}, **(self.metadata.get("baselines") or {})}
        rows = [
            {"split": split, "model": name, **blocks[split]}
            for split in SPLITS
            for name, blocks in models.items()
            if isinstance(blocks.get(split), dict)
        ]
        if not rows:
            return pd.DataFrame()
        table = pd.DataFrame(rows)
        return table[["split", "model", *(c for c in HEADLINE if c in table.columns)]]

    def calibration(self, split: str = "test") -> pd.DataFrame:
        """The registry's calibration table (equal-count bins: predicted vs observed) for a split."""
        table = pd.DataFrame(self.metadata.get("calibration") or [])
        if "split" not in table.columns:
            return pd.DataFrame()
        return table[table["split"] == split].drop(columns="split").reset_index(drop=True)

    @property
    def risk_year(self) -> int | None:
        value = (self.metadata.get("risk") or {}).get("year")
        return int(value) if isinstance(value, int) else None

    def bands(self) -> pd.DataFrame:
        """The risk bands (highest first) with their test-year figures, as `ml.risk` recorded them."""
        return pd.DataFrame((self.metadata.get("risk") or {}).get("bands") or [])

    def precision_at_k(self) -> pd.DataFrame:
        return pd.DataFrame(
            (self.metadata.get("risk") or {}).get("precision_at_k") or [], columns=["k", "precision", "lift"]
        )

    @property
    def selection(self) -> dict[str, Any]:
        """The validation comparison with the best baseline (`model_is_best`, `note`)."""
        value = self.metadata.get("selection")
        return value if isinstance(value, dict) else {}

    def importances(self) -> pd.DataFrame:
        table = pd.DataFrame(self.metadata.get("feature_importances") or [], columns=["feature", "importance"])
        table.insert(1, "meaning", table["feature"].map(feature_label))
        return table.sort_values("importance", ascending=False).reset_index(drop=True)


def _view(info: ModelInfo) -> ModelView:
    return ModelView(version=info.version, path=info.path, metadata=info.metadata)


def current_view() -> ModelView | None:
    info = current_model()
    return _view(info) if info else None


def versions() -> pd.DataFrame:
    """Every registered model folder, newest first, with its headline test metrics."""
    models = get_settings().models_dir
    current = current_model()
    rows = []
    for meta_file in sorted(models.glob("*/metadata.json")):
        if meta_file.parent.is_symlink() or meta_file.parent.name.startswith("."):
            continue  # a `current` pointer, or a version still being written
        try:
            meta = json.loads(meta_file.read_text())
        except (OSError, ValueError):
            continue
        view = ModelView(version=meta_file.parent.name, path=meta_file.parent, metadata=meta)
        table = view.metrics_table()
        test = table[(table["split"] == "test") & (table["model"] == "model")] if not table.empty else table
        figures = test.iloc[0].to_dict() if len(test) else {}
        rows.append(
            {
                "version": view.version,
                "current": bool(current and current.version == view.version),
                "created": view.created,
                "threshold": view.threshold,
                **{k: figures.get(k) for k in ("roc_auc", "pr_auc", "f1")},
            }
        )
    frame = pd.DataFrame(rows, columns=["version", "current", "created", "threshold", "roc_auc", "pr_auc", "f1"])
    return frame.sort_values("created", ascending=False, na_position="last").reset_index(drop=True)
