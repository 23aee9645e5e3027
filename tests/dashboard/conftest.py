"""One demo warehouse for the whole dashboard test session, built the way `crashes demo` builds
it: generated crashes/vehicles/people served on the project's local Socrata server, then the
real pipeline (ingest → quality → dbt build → publish → train → score) into a CRASHES_HOME of
its own. It takes a minute or two, so it is built once; the pages only read it.
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import duckdb
import pytest

APP = Path(__file__).resolve().parents[2] / "dashboard" / "app.py"
# Three full years and a quarter: the model's default out-of-time split (train ≤ T-2, validate
# T-1, test T = the last full year) has data in every part.
DEMO = {"start": date(2021, 1, 1), "end": date(2024, 4, 1), "crashes_per_day": 12, "seed": 11}
ISOLATED = ("CRASHES_BRONZE_URL", "SOCRATA_BASE_URL", "SOCRATA_APP_TOKEN", "CRASHES_METRICS_URL")


@dataclass(frozen=True)
class Demo:
    home: Path
    socrata_url: str
    run_ok: bool
    run_error: str | None

    @property
    def gold(self) -> Path:
        return self.home / "gold.duckdb"

    def sql(self, statement: str, params: list | dict | None = None) -> list[tuple]:
        """Read gold directly (not through the dashboard's code) for expected figures."""
        con = duckdb.connect(str(self.gold), read_only=True)
        try:
            return con.execute(statement, params or []).fetchall()
        finally:
            con.close()

    def one(self, statement: str, params: list | dict | None = None):  # noqa: ANN201 - any scalar
        return self.sql(statement, params)[0][0]


def require_model(demo: Demo) -> None:
    if not demo.run_ok:
        pytest.fail(f"the demo pipeline run failed, so there is no model to show: {demo.run_error}")


@pytest.fixture(scope="session")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    from ingestion.devserver.generator import generate_tables
    from ingestion.devserver.server import SocrataServer
    from orchestration.flow import run_pipeline

    home = tmp_path_factory.mktemp("dashboard-demo")
    saved = {k: os.environ.get(k) for k in ("CRASHES_HOME", *ISOLATED)}
    os.environ["CRASHES_HOME"] = str(home)
    for key in ISOLATED:
        os.environ.pop(key, None)
    tables = generate_tables(DEMO["start"], DEMO["end"], DEMO["crashes_per_day"], DEMO["seed"])
    try:
        with SocrataServer(tables=tables, port=0) as server:
            started = time.perf_counter()
            result = run_pipeline(base_url=server.url, log_format="plain", trigger="cli")
            print(f"\ndashboard demo warehouse built in {time.perf_counter() - started:.0f} s: run ok={result.ok}")
            assert (home / "gold.duckdb").exists(), f"the demo run published no gold: {result.error}"
            yield Demo(home=home, socrata_url=server.url, run_ok=result.ok, run_error=result.error)
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@pytest.fixture
def app(demo: Demo):  # noqa: ANN201 - AppTest
    """The dashboard app over the demo warehouse, already run once (the Overview page)."""
    from streamlit.testing.v1 import AppTest

    from dashboard.snapshot import clear

    clear()
    return AppTest.from_file(str(APP), default_timeout=60).run()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
