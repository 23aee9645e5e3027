"""The real server in a real browser: `streamlit run` on a free port, headless Chromium on the
overview, and the figures it renders are the marts' figures; then Explore, filtered to a district
and switched to the beat map, as a person clicks it, until every chart and map is drawn (the
benchmark's idle, bench/browser.py; timings belong to `make bench`, not here)."""

from __future__ import annotations

import os

import pytest

from bench.browser import chromium, dashboard_server, open_page
from bench.browser_bench import Session, text_has
from tests.dashboard.conftest import Demo


def test_overview_renders_real_numbers_in_chromium(demo: Demo, tmp_path) -> None:  # noqa: ANN001
    if chromium() is None:
        pytest.skip("Debian chromium is not installed (.ci/run installs it)")
    crashes, hit_and_run, killed = demo.sql(
        "select sum(crash_count), sum(hit_and_run_count), sum(injuries_fatal) from marts.agg_crashes_daily"
    )[0]
    marts = demo.one("select count(*) from duckdb_tables() where schema_name = 'marts'")
    district = demo.one(
        "select district from marts.agg_crashes_beat_daily group by 1 order by sum(crash_count) desc, 1 limit 1"
    )
    in_district = demo.one(
        "select count(*) from marts.fct_crashes where try_cast(beat_of_occurrence as integer) // 100 = ?", [district]
    )
    with dashboard_server({**os.environ, "CRASHES_HOME": str(demo.home)}) as url, open_page(url) as page:
        text = page.wait_for(lambda t: "People killed" in t and "Current model" in t, timeout=90)
        page.screenshot(tmp_path / "overview.png")
        s = Session(page, url, demo.home, shots=None)
        s.open("Explore")
        s.timed(lambda: s.district(str(district)), text_has(f"districts {district}"))
        explore = page.text()
        s.timed(lambda: s.segment("beats"), text_has(" beats by "))
        charts = page.evaluate(
            "[...document.querySelectorAll('[data-testid=\"stPlotlyChart\"]')]"
            ".filter(c => c.querySelector('.main-svg')).length"
        )
        maps = page.evaluate(
            "[...document.querySelectorAll('.js-plotly-plot')].filter(p => (p._fullLayout._subplots.map || []).length)"
            ".map(p => p.querySelector('.main-svg .gtitle')?.textContent || '')"
        )
        page.screenshot(tmp_path / "explore.png")
    on_explore = [line.strip() for line in explore.splitlines() if line.strip()]
    assert on_explore[on_explore.index("Crashes") + 1] == f"{in_district:,}", explore[:2000]
    assert charts >= 5 and len(maps) == 1 and " by beat" in maps[0], (charts, maps)
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
