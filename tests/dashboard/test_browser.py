"""The real server in a real browser: `streamlit run` on a free port, headless Chromium on the
overview, and the figures it renders are the marts' figures."""

from __future__ import annotations

import os

import pytest

from bench.browser import chromium, dashboard_server, open_page
from tests.dashboard.conftest import Demo


def test_overview_renders_real_numbers_in_chromium(demo: Demo, tmp_path) -> None:  # noqa: ANN001
    if chromium() is None:
        pytest.skip("Debian chromium is not installed (.ci/run installs it)")
    crashes, hit_and_run, killed = demo.sql(
        "select sum(crash_count), sum(hit_and_run_count), sum(injuries_fatal) from marts.agg_crashes_daily"
    )[0]
    marts = demo.one("select count(*) from duckdb_tables() where schema_name = 'marts'")
    with dashboard_server({**os.environ, "CRASHES_HOME": str(demo.home)}) as url, open_page(url) as page:
        text = page.wait_for(lambda t: "People killed" in t and "Current model" in t, timeout=90)
        page.screenshot(tmp_path / "overview.png")
    lines = [line.strip() for line in text.splitlines() if line.strip()]

    def shown(label: str) -> str:
        assert label in lines, f"no {label!r} on the rendered overview:\n{text[:3000]}"
        return lines[lines.index(label) + 1]

    assert shown("Crashes") == f"{crashes:,}"
    assert shown("Hit-and-run") == f"{hit_and_run:,}"
    assert shown("People killed") == f"{killed:,}"
    assert f"OK · opened read-only: {marts} marts" in text
    assert (tmp_path / "overview.png").stat().st_size > 10_000
    assert "Deploy" not in lines, "the viewer toolbar has no Deploy button (client.toolbarMode)"
