"""One real build per session: the 2021-12 linked sample and one real year of crashes, replayed
through the real `ingest()` into raw, then `transform.build()` (gate, dbt build, publish).

Later steps (the incremental scenario) change that home, so tests of the first build read
`gold_copy`, a copy of the snapshot taken right after it, and the facts recorded then.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pytest

from tests.dbt.samples import LINKED, YEAR, SampleFacts, read_samples


@dataclass
class RealBuild:
    home: Path
    result: object  # transform.BuildResult
    gold_copy: Path
    samples: SampleFacts
    run_results: Path

    @property
    def warehouse(self) -> Path:
        return self.home / "warehouse.duckdb"

    def gold(self) -> duckdb.DuckDBPyConnection:
        return duckdb.connect(str(self.gold_copy), read_only=True)


def replay_folder(shared: Path, folder: Path) -> Path:
    """The linked sample's three files and one real year, side by side, for one replay."""
    folder.mkdir(parents=True)
    for name in ("traffic_crashes.csv", "traffic_crash_vehicle.csv", "traffic_crash_people.csv"):
        os.symlink(shared / LINKED / name, folder / name)
    os.symlink(shared / "crashes_real" / f"crashes_{YEAR}.jsonl.gz", folder / f"crashes_{YEAR}.jsonl.gz")
    return folder


@pytest.fixture(scope="session")
def real_build(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RealBuild]:
    base = tmp_path_factory.mktemp("dbt-real")
    home = base / "home"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("CRASHES_HOME", str(home))
        mp.delenv("CRASHES_BRONZE_URL", raising=False)
        from ingestion.pipeline import ingest
        from transform import build

        ingest(source="replay", path=replay_folder(shared_data, base / "replay"))
        result = build()
    assert result.ok, result.summary()
    gold_copy = base / "gold-after-first-build.duckdb"
    shutil.copyfile(home / "gold.duckdb", gold_copy)
    run_results = base / "run_results-first-build.json"
    shutil.copyfile(home / "dbt" / "target" / "run_results.json", run_results)
    yield RealBuild(home, result, gold_copy, read_samples(shared_data), run_results)


@pytest.fixture
def at_real_home(real_build: RealBuild, monkeypatch: pytest.MonkeyPatch) -> RealBuild:
    """Point CRASHES_HOME at the real build for this test."""
    monkeypatch.setenv("CRASHES_HOME", str(real_build.home))
    monkeypatch.delenv("CRASHES_BRONZE_URL", raising=False)
    return real_build
