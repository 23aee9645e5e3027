"""Running dbt in-process against the project in `dbt_project/`.

dbt reads the warehouse path from `profiles.yml`, which takes `CRASHES_HOME` from the
environment: the runner sets it to the absolute home of `get_settings()`, so the CLI, the
scheduler and an analyst's `cd dbt_project && dbt build` all build the same file. dbt's
`target/` and `logs/` go under CRASHES_HOME, so runs never dirty the checkout and two homes
never share a partial-parse cache.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from crashes.config import Settings, get_settings

PROJECT_DIR = Path(__file__).resolve().parents[1] / "dbt_project"

# The marts' own file (attached as `gold_build` in profiles.yml); published as gold.duckdb.
GOLD_BUILD_FILE = "gold_build.duckdb"

# dbt resource types we count as "tests" in a build summary.
TEST_TYPES = ("test", "unit_test")


@dataclass(frozen=True)
class DbtPaths:
    target: Path
    logs: Path

    @classmethod
    def for_settings(cls, settings: Settings) -> DbtPaths:
        base = settings.home / "dbt"
        return cls(target=base / "target", logs=base / "logs")


@dataclass(frozen=True)
class NodeResult:
    """One dbt node's outcome, flattened so callers never touch dbt's classes."""

    name: str
    resource_type: str
    status: str
    message: str
    failures: int | None
    seconds: float


@dataclass
class DbtRun:
    success: bool
    nodes: list[NodeResult]
    error: str | None
    seconds: float


def _environment(settings: Settings) -> None:
    """dbt reads these from the process environment; set them before it is imported."""
    os.environ["CRASHES_HOME"] = str(settings.home)
    os.environ.setdefault("DO_NOT_TRACK", "1")
    os.environ.setdefault("DBT_SEND_ANONYMOUS_USAGE_STATS", "false")


def _one_line(text: Any) -> str:
    return " ".join(str(text or "").split())


def _node(result: Any) -> NodeResult:
    node = result.node
    return NodeResult(
        name=node.name,
        resource_type=str(getattr(node.resource_type, "value", node.resource_type)),
        status=str(getattr(result.status, "value", result.status)),
        message=_one_line(result.message),
        failures=result.failures,
        seconds=float(result.execution_time or 0.0),
    )


def release_duckdb() -> None:
    """dbt-duckdb keeps one DuckDB instance open across an invocation (profiles.yml keep_open),
    and still holds it, with both files locked, when dbtRunner returns. Close it, so publishing
    and other processes can open the files. (`_ENV` is the adapter's own handle; pinned 1.11.)"""
    from dbt.adapters.duckdb.connections import DuckDBConnectionManager

    env = DuckDBConnectionManager._ENV
    if env is not None:
        env.close()
    DuckDBConnectionManager.close_all_connections()


def run_dbt(command: list[str], settings: Settings | None = None) -> DbtRun:
    """Invoke one dbt command (e.g. `["build", "--select", "marts"]`) and flatten its results."""
    settings = settings or get_settings()
    _environment(settings)
    paths = DbtPaths.for_settings(settings)
    from dbt.cli.main import dbtRunner

    args = [
        *command,
        "--project-dir", str(PROJECT_DIR),
        "--profiles-dir", str(PROJECT_DIR),
        "--target-path", str(paths.target),
        "--log-path", str(paths.logs),
        "--log-level", "none",
        "--log-level-file", "info",
        "--no-use-colors",
    ]  # fmt: skip
    try:
        outcome = dbtRunner().invoke(args)
    finally:
        release_duckdb()
    results = getattr(outcome.result, "results", None) or []
    nodes = [_node(r) for r in results if getattr(r, "node", None) is not None]
    elapsed = float(getattr(outcome.result, "elapsed_time", 0.0) or 0.0)
    error = _one_line(outcome.exception) if outcome.exception is not None else None
    return DbtRun(success=bool(outcome.success), nodes=nodes, error=error, seconds=elapsed)


@dataclass(frozen=True)
class TableDocs:
    description: str
    columns: dict[str, str]


def model_docs(target: Path, schema: str) -> dict[str, TableDocs]:
    """Descriptions of the models built into `schema`, from the last run's manifest (rendered
    doc blocks included); empty when there is no manifest."""
    try:
        manifest = json.loads((target / "manifest.json").read_text())
    except (OSError, ValueError):
        return {}
    return {
        node["alias"]: TableDocs(
            description=node.get("description") or "",
            columns={c: (spec.get("description") or "") for c, spec in node.get("columns", {}).items()},
        )
        for node in manifest.get("nodes", {}).values()
        if node.get("resource_type") == "model" and node.get("schema") == schema
    }
