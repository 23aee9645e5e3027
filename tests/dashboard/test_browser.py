"""The real server in a real browser: `streamlit run` on a free port, headless Chromium on the
overview, and the figures it renders are the marts' figures; then Explore, filtered to a district
and switched to the beat map, as a person clicks it, until every chart and map is drawn (the
benchmark's idle, bench/browser.py; timings belong to `make bench`, not here); and the maps draw
in a browser without WebGL."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator

import pytest

from bench.browser import Page, chromium, dashboard_server, open_page
from bench.browser_bench import Session, text_has
from tests.dashboard.conftest import Demo


@pytest.fixture(scope="module")
def served(demo: Demo) -> Iterator[str]:
    """`crashes dashboard` as a user starts it (the CLI execs the Streamlit server); its URL."""
    if chromium() is None:
        pytest.skip("Debian chromium is not installed (.ci/run installs it)")
    with dashboard_server({**os.environ, "CRASHES_HOME": str(demo.home)}) as url:
        yield url


# Per plot on the page: its trace names (Streamlit draws the title outside the plot), SVG fill
# paths, filled traces, whether it drew into a WebGL canvas.
PLOTS = """[...document.querySelectorAll('.js-plotly-plot')].map(p => ({
    names: (p.data || []).map(t => t.name || ''),
    fills: p.querySelectorAll('path.js-fill').length,
    areas: (p.data || []).filter(t => t.fill === 'toself').length,
    canvas: p.querySelector('canvas') !== null}))"""


def _drawn(page: Page, found: object, timeout: float = 90) -> list[dict]:
    """The plots `found(plot)` picks, once each has drawn a fill path per filled trace (or at the
    timeout)."""
    deadline, plots = time.monotonic() + timeout, []
    while time.monotonic() < deadline:
        try:  # on a loaded host the renderer may answer late
            value = page.evaluate(PLOTS)
        except TimeoutError:
            continue
        plots = [p for p in value if found(p)]  # type: ignore[operator]
        if plots and all(p["areas"] and p["fills"] >= p["areas"] for p in plots):
            break
        time.sleep(0.5)
    return plots


def test_overview_renders_real_numbers_in_chromium(demo: Demo, served: str, tmp_path) -> None:  # noqa: ANN001
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
    beats = demo.one("select count(*) from marts.geo_police_beats")
    url = served
    with open_page(url) as page:
        text = page.wait_for(lambda t: "Deaths on crash records" in t and "Current model" in t, timeout=90)
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
        beat_maps = _drawn(page, lambda p: p["areas"] == beats)
        page.screenshot(tmp_path / "explore.png")
    on_explore = [line.strip() for line in explore.splitlines() if line.strip()]
    assert on_explore[on_explore.index("Crashes") + 1] == f"{in_district:,}", explore[:2000]
    assert charts >= 5 and len(beat_maps) == 1 and beat_maps[0]["fills"] >= beats, (charts, beat_maps)
    lines = [line.strip() for line in text.splitlines() if line.strip()]

    def shown(label: str) -> str:
        assert label in lines, f"no {label!r} on the rendered overview:\n{text[:3000]}"
        return lines[lines.index(label) + 1]

    assert shown("Crashes") == f"{crashes:,}"
    assert shown("Hit-and-run") == f"{hit_and_run:,}"
    assert shown("Deaths on crash records") == f"{killed:,}"
    assert f"OK · opened read-only: {marts} marts" in text
    assert (tmp_path / "overview.png").stat().st_size > 10_000
    assert "Deploy" not in lines, "the viewer toolbar has no Deploy button (client.toolbarMode)"


def test_the_maps_draw_without_webgl(demo: Demo, served: str) -> None:
    areas = demo.one("select count(*) from marts.geo_community_areas")
    with open_page(f"{served}explore", height=2600, flags=("--disable-3d-apis",)) as page:
        page.wait_for(lambda t: "community areas" in t and "Map" in t, timeout=90)
        hexbins = _drawn(page, lambda p: "hexagon figures" in p["names"])  # the default map
        click = "[...document.querySelectorAll('button')].find(b => b.innerText.trim() === 'community areas').click()"
        page.call("Runtime.evaluate", expression=click)
        community = _drawn(page, lambda p: "ROGERS PARK" in p["names"])
    # Filled SVG paths (a WebGL map draws nothing here but an empty canvas): one per colour class of
    # the hexbins, one per community area.
    assert len(hexbins) == 1 and hexbins[0]["fills"] >= hexbins[0]["areas"] >= 2, hexbins
    assert len(community) == 1, json.dumps(community)
    drawn = community[0]
    assert drawn["areas"] == areas and drawn["fills"] >= areas and not drawn["canvas"], drawn
