"""Fixtures shared by every test package: an isolated CRASHES_HOME and the real shared data."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

# Offline and quiet before any tool is imported.
os.environ.setdefault("DO_NOT_TRACK", "1")
os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
os.environ.setdefault("RUNTIME__DLTHUB_TELEMETRY", "false")
os.environ.setdefault("DBT_SEND_ANONYMOUS_USAGE_STATS", "false")
os.environ.setdefault("STREAMLIT_BROWSER_GATHER_USAGE_STATS", "false")

PROJECT_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("CRASHES_SHARED_DATA", PROJECT_ROOT.parent / "shared" / "data" / "chicago"))


@pytest.fixture
def crashes_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh CRASHES_HOME per test, so tests never see each other's (or the user's) data."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("CRASHES_HOME", str(home))
    monkeypatch.delenv("CRASHES_BRONZE_URL", raising=False)
    monkeypatch.delenv("SOCRATA_BASE_URL", raising=False)
    monkeypatch.delenv("SOCRATA_APP_TOKEN", raising=False)
    return home


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The real Chicago samples; tests that need them skip, saying why, when they are absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real Chicago samples not found at {SHARED_DATA} (set CRASHES_SHARED_DATA)")
    return SHARED_DATA
