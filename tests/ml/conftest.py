"""Gold built the real way for the end-to-end ml tests: generated crashes (whose hit-and-run
depends on the scene, like the real ones) → raw → `transform.build()` (dbt + publish). Built
once per session in a CRASHES_HOME of its own, and one model trained on it."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import pytest

# Four years: train 2020–21, validate 2022, test 2023 (the last full year), ≈ 22 k crashes a year.
GENERATED = {"start": date(2020, 1, 1), "end": date(2024, 1, 1), "crashes_per_day": 60, "seed": 9}


@contextmanager
def crashes_home_env(home: Path) -> Iterator[None]:
    saved = os.environ.get("CRASHES_HOME")
    os.environ["CRASHES_HOME"] = str(home)
    try:
        yield
    finally:
        if saved is None:
            os.environ.pop("CRASHES_HOME", None)
        else:
            os.environ["CRASHES_HOME"] = saved


@dataclass(frozen=True)
class Built:
    home: Path
    gold: Path


@dataclass(frozen=True)
class Trained:
    home: Path
    gold: Path
    result: object  # ml.train.TrainResult


@pytest.fixture(scope="session")
def built_gold(tmp_path_factory: pytest.TempPathFactory) -> Built:
    from ingestion.devserver.generator import generate_crashes, generate_units
    from tests.dbt.raw_fixture import RawWarehouse
    from transform import build

    home = tmp_path_factory.mktemp("ml-gold")
    crashes = generate_crashes(GENERATED["start"], GENERATED["end"], GENERATED["crashes_per_day"], GENERATED["seed"])
    vehicles, people = generate_units(crashes, GENERATED["seed"])
    with crashes_home_env(home):
        RawWarehouse(home / "warehouse.duckdb").load(crashes=crashes, vehicles=vehicles, people=people)
        result = build()
    if not result.ok:
        pytest.fail(f"dbt build of the generated crashes failed:\n{result.summary()}")
    return Built(home=home, gold=home / "gold.duckdb")


@pytest.fixture(scope="session")
def trained(built_gold: Built) -> Trained:
    from ml.train import train

    with crashes_home_env(built_gold.home):
        result = train()
    return Trained(home=built_gold.home, gold=built_gold.gold, result=result)


@pytest.fixture
def in_trained_home(trained: Trained, monkeypatch: pytest.MonkeyPatch) -> Trained:
    """Point CRASHES_HOME at the session's trained home for one test."""
    monkeypatch.setenv("CRASHES_HOME", str(trained.home))
    return trained
