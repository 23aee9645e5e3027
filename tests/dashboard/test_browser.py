"""The real server in a real browser: `streamlit run` on a free port, headless Chromium on the
overview, and the figures it renders are the marts' figures; the Explore page's area maps draw
in a browser without WebGL."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest
import requests

from tests.dashboard.browser import chromium, open_page, stop
from tests.dashboard.conftest import Demo, free_port


@pytest.fixture(scope="module")
def served(demo: Demo) -> Iterator[str]:
    """`crashes dashboard` as a user starts it (the CLI execs the Streamlit server); its URL."""
    if chromium() is None:
        pytest.skip("Debian chromium is not installed (.ci/run installs it)")
    port = free_port()
    env = {**os.environ, "CRASHES_HOME": str(demo.home)}
    server = subprocess.Popen(
        [sys.executable, "-m", "orchestration.cli", "dashboard", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if requests.get(f"http://127.0.0.1:{port}/_stcore/health", timeout=2).text == "ok":
                    break
            except requests.ConnectionError:
                pass
            assert server.poll() is None, server.stdout.read().decode() if server.stdout else "server exited"
            assert time.monotonic() < deadline, "streamlit did not answer /_stcore/health within 60 s"
            time.sleep(0.5)
        yield f"http://127.0.0.1:{port}"
    finally:
        stop(server)


def test_overview_renders_real_numbers_in_chromium(demo: Demo, served: str, tmp_path) -> None:  # noqa: ANN001
    crashes, hit_and_run, killed = demo.sql(
        "select sum(crash_count), sum(hit_and_run_count), sum(injuries_fatal) from marts.agg_crashes_daily"
    )[0]
    marts = demo.one("select count(*) from duckdb_tables() where schema_name = 'marts'")
    with open_page(f"{served}/") as page:
        text = page.wait_for(lambda t: "Deaths on crash records" in t and "Current model" in t, timeout=90)
        page.screenshot(tmp_path / "overview.png")
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


# Per plot on the page: its trace names (Streamlit draws the title outside the plot), SVG fill
# paths, filled traces, whether it drew into a WebGL canvas.
PLOTS = """[...document.querySelectorAll('.js-plotly-plot')].map(p => ({
    names: (p.data || []).map(t => t.name || ''),
    fills: p.querySelectorAll('path.js-fill').length,
    areas: (p.data || []).filter(t => t.fill === 'toself').length,
    canvas: p.querySelector('canvas') !== null}))"""


def _drawn(page, trace: str, timeout: float = 90) -> list[dict]:  # noqa: ANN001 - browser.Page
    """The plots with a trace named `trace`, once each has drawn a fill path per filled trace (or at
    the timeout)."""
    deadline, plots = time.monotonic() + timeout, []
    while time.monotonic() < deadline:
        try:  # on a loaded host the renderer may answer late; a late reply is skipped by its id
            value = page.call("Runtime.evaluate", expression=PLOTS, returnByValue=True)["result"]["value"]
        except TimeoutError:
            continue
        plots = [p for p in value if trace in p["names"]]
        if plots and all(p["areas"] and p["fills"] >= p["areas"] for p in plots):
            break
        time.sleep(0.5)
    return plots


def test_the_maps_draw_without_webgl(demo: Demo, served: str) -> None:
    areas = demo.one("select count(*) from marts.geo_community_areas")
    with open_page(f"{served}/explore", height=2600, flags=("--disable-3d-apis",)) as page:
        page.wait_for(lambda t: "community areas" in t and "Map" in t, timeout=90)
        hexbins = _drawn(page, "hexagon figures")  # the default map
        click = "[...document.querySelectorAll('button')].find(b => b.innerText.trim() === 'community areas').click()"
        page.call("Runtime.evaluate", expression=click)
        community = _drawn(page, "ROGERS PARK")
    # Filled SVG paths (a WebGL map draws nothing here but an empty canvas): one per colour class of
    # the hexbins, one per community area.
    assert len(hexbins) == 1 and hexbins[0]["fills"] >= hexbins[0]["areas"] >= 2, hexbins
    assert len(community) == 1, json.dumps(community)
    drawn = community[0]
    assert drawn["areas"] == areas and drawn["fills"] >= areas and not drawn["canvas"], drawn
