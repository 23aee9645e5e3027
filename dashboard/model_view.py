"""The model registry as the dashboard shows it: the current model's metrics beside its
baselines, calibration, feature importances, and every registered version.

Read from the registry's files (`models/current` + `<version>/metadata.json`, via
`orchestration.model_info`) so the pages never import xgboost just to draw a table. Metric blocks
are found by shape (a dict of numbers under a path naming the split and the model), so a
reasonable change in how ml nests them does not blank the page.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pandas as pd

from crashes.config import get_settings
from orchestration.model_info import ModelInfo, current_model

SPLITS = {
    "train": "train",
    "training": "train",
    "validation": "validation",
    "valid": "validation",
    "val": "validation",
    "test": "test",
}
HEADLINE = ("roc_auc", "pr_auc", "f1", "precision", "recall", "brier", "lift_top_decile", "prevalence")


def _is_metrics(block: Any) -> bool:
    if not isinstance(block, dict) or not block:
        return False
    numbers = [v for v in block.values() if isinstance(v, int | float) and not isinstance(v, bool)]
    return len(numbers) >= 2 and len(numbers) >= len(block) / 2


def metric_rows(metrics: Any, path: tuple[str, ...] = ()) -> list[dict[str, Any]]:
    """Every metric block under `metrics` as a row: split, model (the rest of its path), values."""
    rows: list[dict[str, Any]] = []
    if _is_metrics(metrics):
        split = next((SPLITS[p.lower()] for p in path if p.lower() in SPLITS), "")
        model = " ".join(p for p in path if p.lower() not in SPLITS and p not in ("metrics", "baselines")) or "model"
        numbers = {k: float(v) for k, v in metrics.items() if isinstance(v, int | float) and not isinstance(v, bool)}
        rows.append({"split": split, "model": model, **numbers})
    elif isinstance(metrics, dict):
        for key, value in metrics.items():
            if isinstance(value, dict):
                rows += metric_rows(value, (*path, str(key)))
    return rows


def _frame(block: Any, names: tuple[str, str]) -> pd.DataFrame:
    """A table from a list of records, a dict of columns, or a {name: value} mapping."""
    if isinstance(block, list) and block and isinstance(block[0], dict):
        return pd.DataFrame(block)
    if isinstance(block, dict) and block:
        values = list(block.values())
        if all(isinstance(v, list) for v in values):
            return pd.DataFrame(block)
        if all(isinstance(v, int | float) for v in values):
            return pd.DataFrame({names[0]: list(block), names[1]: values})
    return pd.DataFrame()


def _first(meta: dict[str, Any], *keys: str) -> Any:
    for key in keys:
        node: Any = meta
        for part in key.split("."):
            node = node.get(part) if isinstance(node, dict) else None
        if node is not None:
            return node
    return None


@dataclass(frozen=True)
class ModelView(ModelInfo):
    """A registered model with what its pages show (orchestration's ModelInfo reads the files)."""

    @property
    def created(self) -> str | None:
        value = _first(self.metadata, "created_at", "created", "trained_at")
        return str(value)[:19] if value else None

    @property
    def threshold(self) -> float | None:
        value = _first(self.metadata, "threshold", "decision_threshold", "metrics.threshold")
        return float(value) if isinstance(value, int | float) else None

    @property
    def test_year(self) -> int | None:
        value = _first(
            self.metadata,
            "test_year",
            "split.test_year",
            "splits.test.year",
            "data.test.year",
            "training_data.test.year",
            "snapshot.test.year",
        )
        return int(value) if isinstance(value, int | float | str) and str(value).isdigit() else None

    def metrics_table(self) -> pd.DataFrame:
        rows = metric_rows(_first(self.metadata, "metrics") or {}, ("metrics",))
        rows += metric_rows(_first(self.metadata, "baselines") or {}, ("baselines",))
        if not rows:
            return pd.DataFrame()
        table = pd.DataFrame(rows)
        wanted = [c for c in HEADLINE if c in table.columns]
        order = {"validation": 0, "test": 1, "train": 2, "": 3}
        table = table.assign(_o=table["split"].map(order).fillna(4)).sort_values(["_o", "model"])
        return table[["split", "model", *wanted]].reset_index(drop=True)

    def calibration(self, split: str = "test") -> pd.DataFrame:
        """The registry's calibration table (equal-count bins: predicted vs observed) for a split."""
        table = _frame(_first(self.metadata, "calibration", "metrics.calibration"), ("bin", "observed"))
        if "split" in table.columns:
            table = table[table["split"] == split].drop(columns="split").reset_index(drop=True)
        return table

    def importances(self) -> pd.DataFrame:
        table = _frame(
            _first(self.metadata, "feature_importances", "importances", "feature_importance"), ("feature", "importance")
        )
        if table.empty:
            return table
        value = next((c for c in table.columns if c != "feature" and pd.api.types.is_numeric_dtype(table[c])), None)
        return table.sort_values(value, ascending=False).reset_index(drop=True) if value else table

    def features(self) -> list[str]:
        value = _first(self.metadata, "features", "feature_list", "feature_columns")
        if isinstance(value, dict):
            return [str(k) for k in value]
        return [str(v if not isinstance(v, dict) else v.get("name")) for v in value or []]


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
