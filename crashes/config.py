"""The one place configuration is read.

Every stage resolves paths and endpoints through :func:`get_settings`, so ``CRASHES_HOME`` and the
other variables mean the same thing to the CLI, dbt's profile, the dashboard and the tests.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

DEFAULT_SOCRATA_URL = "https://data.cityofchicago.org"


@dataclass(frozen=True)
class Settings:
    home: Path
    bronze_url: str
    socrata_base_url: str
    socrata_app_token: str | None
    page_size: int
    metrics_port: int
    dashboard_port: int
    docs_port: int
    api_port: int
    # Where other services answer, as seen from this process (docker-compose overrides them).
    metrics_url: str
    docs_url: str
    prometheus_url: str
    # Plotly map style for the dashboard's maps (tiles need internet; shapes draw without).
    map_style: str
    # Which of those URLs were set (CRASHES_METRICS_URL…): an optional service left at its default
    # and not answering is "not configured", not down.
    urls_set: frozenset[str] = frozenset()
    # How often a scheduler beats its heartbeat in ops.sqlite; it counts as dead after 3 missed.
    scheduler_beat_seconds: float = 10.0

    @property
    def warehouse_path(self) -> Path:
        """DuckDB file dlt loads raw into and dbt builds in: one writer at a time."""
        return self.home / "warehouse.duckdb"

    @property
    def gold_path(self) -> Path:
        """Read-only snapshot of the gold marts, atomically replaced after each good build."""
        return self.home / "gold.duckdb"

    @property
    def ops_path(self) -> Path:
        """SQLite run history and schedules: concurrent readers and writers are fine there."""
        return self.home / "ops.sqlite"

    @property
    def models_dir(self) -> Path:
        return self.home / "models"

    @property
    def quality_dir(self) -> Path:
        return self.home / "quality"

    @property
    def pipelines_dir(self) -> Path:
        """dlt's working folder (state, load packages), kept with the data it describes."""
        return self.home / "pipelines"

    @property
    def bronze_is_local(self) -> bool:
        return "://" not in self.bronze_url or self.bronze_url.startswith("file://")

    def ensure(self) -> Settings:
        self.home.mkdir(parents=True, exist_ok=True)
        if self.bronze_is_local:
            Path(self.bronze_url.removeprefix("file://")).mkdir(parents=True, exist_ok=True)
        return self


def _int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise ValueError(f"{name} must be a whole number, got {raw!r}") from exc


def _seconds(name: str, default: float) -> float:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        value = 0.0
    if not value > 0:
        raise ValueError(f"{name} must be a positive number of seconds, got {raw!r}")
    return value


def get_settings() -> Settings:
    """Read the environment now (not at import), so tests and subprocesses can point elsewhere."""
    home = Path(os.environ.get("CRASHES_HOME") or "data").expanduser().resolve()
    bronze = os.environ.get("CRASHES_BRONZE_URL") or str(home / "bronze")
    metrics_port = _int("CRASHES_METRICS_PORT", 8000)
    docs_port = _int("CRASHES_DOCS_PORT", 8080)
    return Settings(
        home=home,
        bronze_url=bronze,
        socrata_base_url=(os.environ.get("SOCRATA_BASE_URL") or DEFAULT_SOCRATA_URL).rstrip("/"),
        socrata_app_token=os.environ.get("SOCRATA_APP_TOKEN") or None,
        page_size=_int("CRASHES_PAGE_SIZE", 50_000),
        metrics_port=metrics_port,
        dashboard_port=_int("CRASHES_DASHBOARD_PORT", 8501),
        docs_port=docs_port,
        api_port=_int("CRASHES_API_PORT", 8100),
        metrics_url=os.environ.get("CRASHES_METRICS_URL") or f"http://127.0.0.1:{metrics_port}/metrics",
        docs_url=os.environ.get("CRASHES_DOCS_URL") or f"http://127.0.0.1:{docs_port}/",
        prometheus_url=os.environ.get("CRASHES_PROMETHEUS_URL") or "http://127.0.0.1:9090/",
        map_style=os.environ.get("CRASHES_MAP_STYLE") or "open-street-map",
        scheduler_beat_seconds=_seconds("CRASHES_SCHEDULER_BEAT_SECONDS", 10.0),
        urls_set=frozenset(k for k in ("metrics", "docs", "prometheus") if os.environ.get(f"CRASHES_{k.upper()}_URL")),
    )
