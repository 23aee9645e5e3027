"""Fixtures for tests that drive the real stages: generated data on the real local Socrata server,
and one uninterrupted `crashes run` over it that several tests compare against (it is the slow
part, so it runs once per session)."""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import shutil
import sqlite3
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import duckdb
import pytest

PROJECT = Path(__file__).resolve().parents[2]
# Three years at a low rate: the model's out-of-time split needs a training, a validation and a
# test year; ~17k rows in all is enough pages to interrupt and small enough for a fast test.
SMALL = {"start": date(2021, 1, 1), "end": date(2024, 1, 10), "crashes_per_day": 3, "seed": 7}
# About 500 crashes (with their vehicles and people) after SMALL's last day: what a run from a
# copy of the reference home adds.
GROWTH = {"start": date(2024, 1, 10), "end": date(2024, 1, 20), "crashes_per_day": 50, "seed": 8}
KEYS = {"crashes": "crash_record_id", "vehicles": "crash_unit_id", "people": "person_id"}
# Marts with a row per load (and per load x expectation): a history with interrupted runs has
# more loads by nature, so these describe the history, not the data, and are not compared.
PER_LOAD_MARTS = {"dq_loads", "dq_expectations"}
PIPELINE_MODULES = ("ingestion.pipeline", "ingestion.quality", "ingestion.devserver.server", "transform")


def require(*modules: str) -> None:
    """Skip, naming what is missing, while a stage another engineer owns has not landed yet."""
    missing = [m for m in modules if importlib.util.find_spec(m) is None]
    if missing:
        pytest.skip(f"stage package(s) not in the tree yet: {', '.join(missing)}")


def crashes_run(home: Path, url: str, *extra: str) -> subprocess.CompletedProcess[str]:
    """`crashes run` in its own process, as a user or cron would start it."""
    return subprocess.run(
        [str(PROJECT / ".venv/bin/crashes"), "run", "--base-url", url, "--log-format", "json", *extra],
        env=run_env(home),
        capture_output=True,
        text=True,
        timeout=900,
        cwd=PROJECT,
    )


def run_env(home: Path) -> dict[str, str]:
    # Small pages: ingest takes many requests, so there is a middle to kill it in.
    return {**os.environ, "CRASHES_HOME": str(home), "CRASHES_PAGE_SIZE": "500"}


def row_counts(home: Path) -> dict[str, tuple[int, int]]:
    """(rows, distinct keys) per raw table; (rows, rows) per gold mart (but the per-load ones)."""
    counts: dict[str, tuple[int, int]] = {}
    with duckdb.connect(str(home / "warehouse.duckdb"), read_only=True) as con:
        for table, key in KEYS.items():
            sql = f"SELECT count(*), count(DISTINCT {key}) FROM raw.{table}"  # noqa: S608 - test constants
            counts[f"raw.{table}"] = con.execute(sql).fetchone()
    with duckdb.connect(str(home / "gold.duckdb"), read_only=True) as con:
        sql = "SELECT table_name FROM information_schema.tables WHERE table_schema = 'marts'"
        for (mart,) in con.execute(sql).fetchall():
            if mart in PER_LOAD_MARTS:
                continue
            # A rerun re-delivers records (the lag window): each delivery is a version, and the
            # extra ones are repeats. What a rerun must not change is the versions that differ.
            where = " WHERE NOT is_repeat" if mart == "audit_record_versions" else ""
            (n,) = con.execute(f'SELECT count(*) FROM marts."{mart}"{where}').fetchone()  # noqa: S608 - from the catalog
            counts[f"marts.{mart}"] = (n, n)
    return counts


@dataclass(frozen=True)
class ReferenceRun:
    home: Path
    url: str
    process: subprocess.CompletedProcess[str]
    tables: dict[str, Any]

    def output(self) -> str:
        return self.process.stdout[-3000:] + self.process.stderr[-3000:]


@pytest.fixture(scope="session")
def small_tables() -> dict[str, Any]:
    require("ingestion.devserver.generator")
    from ingestion.devserver.generator import generate_tables

    return generate_tables(SMALL["start"], SMALL["end"], SMALL["crashes_per_day"], SMALL["seed"])


@pytest.fixture(scope="session")
def socrata_url(small_tables: dict[str, Any]) -> Iterator[str]:
    require("ingestion.devserver.server")
    from ingestion.devserver.server import SocrataServer

    with SocrataServer(tables=small_tables, port=0) as server:
        yield server.url


@pytest.fixture(scope="session")
def reference_run(
    tmp_path_factory: pytest.TempPathFactory, socrata_url: str, small_tables: dict[str, Any]
) -> ReferenceRun:
    require(*PIPELINE_MODULES)
    home = tmp_path_factory.mktemp("reference") / "home"
    return ReferenceRun(home, socrata_url, crashes_run(home, socrata_url), small_tables)


@dataclass(frozen=True)
class Grown:
    """The reference data plus GROWTH's crashes, served: a run from a reference home adds them."""

    url: str
    added: int


@pytest.fixture(scope="session")
def grown(small_tables: dict[str, Any]) -> Iterator[Grown]:
    require("ingestion.devserver.server")
    from ingestion.devserver.generator import generate_tables
    from ingestion.devserver.server import SocrataServer

    extra = generate_tables(GROWTH["start"], GROWTH["end"], GROWTH["crashes_per_day"], GROWTH["seed"])
    with SocrataServer(tables=small_tables, port=0) as server:
        for name, table in extra.items():
            server.upsert(name, table)  # stamped :updated_at = now: newer than the reference run's cursor
        yield Grown(server.url, extra["crashes"].num_rows)


def copy_home(reference: ReferenceRun, target: Path) -> Path:
    """A reference home (one good run: raw, gold with scores, a model) to run on without touching it."""
    assert (reference.home / "gold.duckdb").exists(), f"the reference run published no gold: {reference.output()}"
    shutil.copytree(reference.home, target, ignore=shutil.ignore_patterns("pipeline.lock"))
    return target


def file_digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def start_run(home: Path, url: str, *extra: str, stderr: Any = subprocess.DEVNULL) -> subprocess.Popen[str]:
    """A real `crashes run` in the background, its progress as JSON events on stdout."""
    return subprocess.Popen(
        [str(PROJECT / ".venv/bin/crashes"), "run", "--base-url", url, "--log-format", "json", *extra],
        env=run_env(home),
        stdout=subprocess.PIPE,
        stderr=stderr,
        text=True,
        cwd=PROJECT,
    )


def wait_into_stage(proc: subprocess.Popen[str], stage: str, after_s: float) -> None:
    """Read the run's events until `stage` starts, then wait `after_s`; the run must still be in it."""
    assert proc.stdout is not None
    for line in proc.stdout:
        event = json.loads(line)
        assert event["event"] != "run_finished", f"the run ended before reaching {stage}: {event}"
        if event["event"] == "stage_started" and event["stage"] == stage:
            time.sleep(after_s)
            break
    else:
        pytest.fail(f"the run exited before {stage} started")
    assert proc.poll() is None, f"the run finished within {after_s}s of starting {stage}"


def stage_status(home: Path, run_id: int, stage: str) -> str:
    con = sqlite3.connect(home / "ops.sqlite")
    try:
        (status,) = con.execute("SELECT status FROM stages WHERE run_id = ? AND name = ?", (run_id, stage)).fetchone()
    finally:
        con.close()
    return str(status)
