"""One real build per session: the 2021-12 linked sample and one real year of crashes, replayed
through the real `ingest()` into raw, then `transform.build()` (gate, dbt build, publish).

Later steps (the incremental scenario) change that home, so tests of the first build read
`gold_copy`, a copy of the snapshot taken right after it, and the facts recorded then.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pytest

from tests.conftest import PROJECT_ROOT
from tests.dbt.samples import LINKED, YEAR, SampleFacts, read_samples

DBT_DIR = PROJECT_ROOT / "dbt_project"


@dataclass
class RealBuild:
    home: Path
    result: object  # transform.BuildResult
    gold_copy: Path
    samples: SampleFacts
    lint: subprocess.Popen[str]

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


def start_lint(home: Path) -> subprocess.Popen[str]:
    """sqlfluff's dbt templater compiles every model against a real warehouse (so incremental
    branches render too) and takes most of a minute: start it on a copy of the built home now,
    while the other tests run, and let the lint test collect the result."""
    copy = home.parent / "lint-home"
    copy.mkdir()
    for name in ("warehouse.duckdb", "gold_build.duckdb"):
        shutil.copyfile(home / name, copy / name)
    env = {k: v for k, v in os.environ.items() if k != "CRASHES_BRONZE_URL"} | {"CRASHES_HOME": str(copy)}
    return subprocess.Popen(
        [str(Path(sys.executable).parent / "sqlfluff"), "lint", "models", "tests", "macros",
         "--format", "json", "--nocolor", "--disable-progress-bar"],
        cwd=DBT_DIR, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


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
    lint = start_lint(home)
    try:
        yield RealBuild(home, result, gold_copy, read_samples(shared_data), lint)
    finally:
        if lint.poll() is None:
            lint.kill()
            lint.communicate()


@pytest.fixture
def at_real_home(real_build: RealBuild, monkeypatch: pytest.MonkeyPatch) -> RealBuild:
    """Point CRASHES_HOME at the real build for this test."""
    monkeypatch.setenv("CRASHES_HOME", str(real_build.home))
    monkeypatch.delenv("CRASHES_BRONZE_URL", raising=False)
    return real_build
