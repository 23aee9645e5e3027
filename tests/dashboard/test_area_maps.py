"""The Explore page's area maps: real outlines from gold as a tile-free choropleth, a ranked table
beside each, and figures that match gold."""

from __future__ import annotations

import base64
import json

import numpy as np
import pytest

from tests.dashboard.conftest import Demo

LEVELS = {"beats": 275, "districts": 23, "community areas": 77}


def _values(encoded) -> list:  # noqa: ANN001 - a list, or Plotly's {"dtype", "bdata"} typed array
    """Plotly ≥ 6 writes numeric arrays to JSON as base64 typed arrays."""
    if isinstance(encoded, dict) and "bdata" in encoded:
        values = np.frombuffer(base64.b64decode(encoded["bdata"]), dtype=encoded["dtype"])
        return [None if np.isnan(v) else float(v) for v in values.astype("float64")]
    return list(encoded)


def _figure(at) -> dict:  # noqa: ANN001 - AppTest
    maps = [json.loads(chart.proto.spec) for chart in at.get("plotly_chart")]
    found = [m for m in maps if m["data"] and m["data"][0]["type"] == "choroplethmap"]
    assert len(found) == 1, [m["data"][0]["type"] for m in maps if m["data"]]
    return found[0]


@pytest.mark.parametrize("level", list(LEVELS))
def test_explore_draws_a_choropleth_of_real_outlines_with_a_ranked_table(demo: Demo, app, level: str) -> None:  # noqa: ANN001
    at = app.switch_page("views/explore.py").run()
    at.get("segmented_control")[1].set_value(level).run()
    assert not at.exception

    figure = _figure(at)
    trace = figure["data"][0]
    features = trace["geojson"]["features"]
    assert len(features) == LEVELS[level] == len(trace["locations"])
    assert {f["id"] for f in features} == set(trace["locations"])
    assert all(f["geometry"]["type"] in ("Polygon", "MultiPolygon") for f in features)
    assert trace["marker"]["line"]["width"] > 0  # outlines drawn
    # No tiles and nothing fetched: the blank MapLibre style (Plotly's geo subplot needs its CDN).
    assert figure["layout"]["map"]["style"] == "white-bg" and "geo" not in figure["layout"]

    # The ranked table beside it: every name is one of the map's, ordered by crashes, totals match gold.
    table = at.dataframe[0].value
    names = {row[0] for row in trace["customdata"]}
    assert set(table.iloc[:, 0]) <= names
    assert list(table["crashes"]) == sorted(table["crashes"], reverse=True)
    total_on_map = sum(_values(trace["z"]))
    joins = {
        "beats": "join marts.geo_police_beats as a using (beat_of_occurrence)",
        "districts": "join marts.geo_police_districts as a"
        " on try_cast(c.beat_of_occurrence as integer) // 100 = a.district",
        "community areas": "join marts.geo_community_areas as a using (community_area)",
    }
    expected = demo.one(
        f"select count(*) from marts.fct_crashes as c {joins[level]} where crash_date between ? and ?",  # noqa: S608
        _period(at),
    )
    assert total_on_map == expected > 0


def test_area_map_colours_by_hit_and_run_share_and_rate(demo: Demo, app) -> None:  # noqa: ANN001
    at = app.switch_page("views/explore.py").run()
    at.get("segmented_control")[1].set_value("community areas").run()
    for metric, column in (("hit-and-run share", 2), ("crashes per km²", 3)):
        at.get("segmented_control")[2].set_value(metric).run()
        assert not at.exception
        trace = _figure(at)["data"][0]
        shown = [z for z in _values(trace["z"]) if z is not None]
        from_hover = [row[column] for row in trace["customdata"] if row[column] is not None]
        assert shown == pytest.approx(from_hover) and len(shown) > 10


def _period(at) -> list:  # noqa: ANN001 - AppTest
    start, end = at.date_input[0].value
    return [start, end]
