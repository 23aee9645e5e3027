"""The model registry: `CRASHES_HOME/models/<version>/` (model + metadata.json) and `models/CURRENT`.

A version folder is written under a temporary name and renamed into place, and the pointer is
replaced atomically, so a reader (scoring, status, the dashboard) sees either the old model or
the new one, never half of one. Loading checks the model's input columns against the mart.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pandas as pd
from sklearn.pipeline import Pipeline

from crashes import __version__
from crashes.config import get_settings
from crashes.errors import CrashesError
from ml.data import check_columns
from ml.features import FEATURE_FORMAT
from ml.risk import band_of, calibrate

MODEL_FILE = "model.joblib"
METADATA_FILE = "metadata.json"
POINTER = "CURRENT"
PROJECT_ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class RegisteredModel:
    """A version's folder and metadata, without loading the model (cheap, no xgboost)."""

    version: str
    path: Path
    metadata: dict[str, Any]

    @property
    def threshold(self) -> float:
        return float(self.metadata["threshold"])


@dataclass(frozen=True)
class LoadedModel(RegisteredModel):
    pipeline: Pipeline

    def raw_probabilities(self, frame: pd.DataFrame) -> np.ndarray:
        """The booster's own probabilities (ranked well, level not calibrated)."""
        return self.pipeline.predict_proba(frame)[:, 1]

    def probabilities(self, frame: pd.DataFrame) -> np.ndarray:
        """Calibrated probabilities: what every stored and shown score is."""
        return calibrate(self.metadata["calibrator"], self.raw_probabilities(frame))

    def bands(self, p: np.ndarray) -> np.ndarray:
        return band_of(self.metadata["risk"]["bands"], p)


def code_version() -> str:
    """`git describe` of the checkout the model was trained from, else the package version."""
    try:
        out = subprocess.run(
            ["git", "describe", "--always", "--dirty", "--tags"],  # noqa: S607 - git from PATH
            cwd=PROJECT_ROOT,
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        )
        return f"{__version__}+g{out.stdout.strip()}"
    except (OSError, subprocess.SubprocessError):
        return __version__


def _models_dir() -> Path:
    return get_settings().models_dir


def _new_version(models: Path, now: datetime) -> str:
    base = f"{now:%Y%m%dT%H%M%SZ}"
    version, n = base, 1
    while (models / version).exists():
        n += 1
        version = f"{base}-{n}"
    return version


def save(pipeline: Pipeline, metadata: dict[str, Any], make_current: bool = True) -> RegisteredModel:
    """Write a new version (model + metadata with its version and creation time) and point to it."""
    models = _models_dir()
    models.mkdir(parents=True, exist_ok=True)
    now = datetime.now(UTC)
    version = _new_version(models, now)
    meta = {"version": version, "created_at": now.isoformat(timespec="seconds"), **metadata}
    staging = models / f".{version}.partial"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir()
    joblib.dump(pipeline, staging / MODEL_FILE)
    (staging / METADATA_FILE).write_text(json.dumps(meta, indent=2, default=_json_default))
    staging.rename(models / version)
    if make_current:
        set_current(version)
    return RegisteredModel(version=version, path=models / version, metadata=meta)


def _json_default(value: object) -> object:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, datetime | pd.Timestamp):
        return value.isoformat()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def set_current(version: str) -> None:
    models = _models_dir()
    if not (models / version / METADATA_FILE).is_file():
        raise CrashesError(f"no model version {version!r} in {models}")
    tmp = models / f".{POINTER}.tmp"
    tmp.write_text(version + "\n")
    os.replace(tmp, models / POINTER)


def registered(version: str, models: Path | None = None) -> RegisteredModel:
    folder = (models or _models_dir()) / version
    try:
        metadata = json.loads((folder / METADATA_FILE).read_text())
    except (OSError, ValueError) as exc:
        raise CrashesError(f"model {version} in {folder.parent} is unreadable ({exc})") from None
    return RegisteredModel(version=version, path=folder, metadata=metadata)


def current_model() -> RegisteredModel | None:
    """The current model's version and metadata, or None when none has been trained yet."""
    pointer = _models_dir() / POINTER
    if not pointer.is_file():
        return None
    version = pointer.read_text().strip()
    return registered(version) if version else None


def load(
    version: str,
    mart_columns: list[str] | tuple[str, ...] | None = None,
    where: str = "gold",
    models: Path | None = None,
) -> LoadedModel:
    """A version's fitted pipeline; with `mart_columns` (of the mart in `where`), refuse a mart
    that lacks its inputs."""
    info = registered(version, models)
    if info.metadata.get("feature_format") != FEATURE_FORMAT:
        raise CrashesError(
            f"model {version} was trained by an older ml package (feature format "
            f"{info.metadata.get('feature_format')}, now {FEATURE_FORMAT}); retrain with `crashes train`"
        )
    if mart_columns is not None:
        check_columns(mart_columns, info.metadata.get("input_columns", []), where, model=version)
    pipeline = joblib.load(info.path / MODEL_FILE)
    return LoadedModel(version=info.version, path=info.path, metadata=info.metadata, pipeline=pipeline)


def load_current(mart_columns: list[str] | tuple[str, ...] | None = None, where: str = "gold") -> LoadedModel:
    info = current_model()
    if info is None:
        raise CrashesError(f"no current model in {_models_dir()}: run `crashes train` first")
    return load(info.version, mart_columns, where)


class CurrentModel:
    """The current model for a long-running reader (the scoring API): loaded once, and again
    only when `models/CURRENT` is replaced. `set_current` renames a new file over the pointer, so
    one `stat` per call (a new inode or mtime) tells, without reading or unpickling anything."""

    def __init__(self, models: Path | None = None):
        self.models = models or _models_dir()
        self._stamp: tuple[int, int] | None = None
        self._model: LoadedModel | None = None
        self._lock = threading.Lock()
        self.reloads = 0
        self.error: str | None = None  # why the last (re)load failed; the previous model stays

    def _pointer_stamp(self) -> tuple[int, int] | None:
        try:
            st = os.stat(self.models / POINTER)
        except FileNotFoundError:
            return None
        return st.st_ino, st.st_mtime_ns

    def get(self) -> LoadedModel:
        """The current model; a pointer that cannot be followed keeps the one loaded before."""
        stamp = self._pointer_stamp()
        model = self._model
        if model is not None and stamp == self._stamp:
            return model
        with self._lock:  # one loader; the other requests wait for it, then share its model
            if self._model is None or stamp != self._stamp:
                self._follow(stamp)
            if self._model is None:
                raise CrashesError(self.error or f"no current model in {self.models}: run `crashes train` first")
            return self._model

    def _follow(self, stamp: tuple[int, int] | None) -> None:
        self._stamp = stamp
        try:
            version = (self.models / POINTER).read_text().strip() if stamp else ""
            if not version:
                raise CrashesError(f"no current model in {self.models}: run `crashes train` first")
            if self._model is None or self._model.version != version:
                self._model = load(version, models=self.models)
                self.reloads += 1
            self.error = None
        except Exception as exc:  # a broken version must not take down a service already serving one
            self.error = f"{exc}" + (f" (still serving model {self._model.version})" if self._model else "")
