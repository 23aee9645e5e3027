"""The Explore page's area maps: real outlines from gold as a tile-free choropleth, a ranked table
beside each, and figures that match gold."""

from __future__ import annotations

import base64
import json

import numpy as np
import pytest
from plotly.colors import sample_colorscale

from tests.dashboard.conftest import Demo

LEVELS = {"beats": 275, "districts": 23, "community areas": 77}


def _values(encoded) -> list:  # noqa: ANN001 - a list, or Plotly's {"dtype", "bdata"} typed array
    """Plotly ≥ 6 writes numeric arrays to JSON as base64 typed arrays."""
    if isinstance(encoded, dict) and "bdata" in encoded:
        values = np.frombuffer(base64.b64decode(encoded["bdata"]), dtype=encoded["dtype"])
        return [None if np.isnan(v) else float(v) for v in values.astype("float64")]
    return list(encoded)


WEBGL = {"scattergl", "scattermap", "choroplethmap", "densitymap", "scattermapbox", "choroplethmapbox"}


def _figure(at) -> dict:  # noqa: ANN001 - AppTest
    """The area map: the one figure of SVG polygons (fill="toself"), one trace per area."""
    maps = [json.loads(chart.proto.spec) for chart in at.get("plotly_chart")]
    found = [m for m in maps if m["data"] and m["data"][0].get("fill") == "toself"]
    assert len(found) == 1, [m["data"][0]["type"] for m in maps if m["data"]]
    return found[0]


def _areas(figure: dict) -> list[dict]:
    return [t for t in figure["data"] if t.get("fill") == "toself"]


@pytest.mark.parametrize("level", list(LEVELS))
def test_explore_draws_real_outlines_without_webgl_with_a_ranked_table(demo: Demo, app, level: str) -> None:  # noqa: ANN001
    at = app.switch_page("views/explore.py").run()
    at.get("segmented_control")[1].set_value(level).run()
    assert not at.exception

    figure = _figure(at)
    # Nothing that needs WebGL (a browser without it draws an empty canvas) and no geo subplot.
    assert {t["type"] for t in figure["data"]} == {"scatter"}, {t["type"] for t in figure["data"]} & WEBGL
    assert not {"map", "mapbox", "geo"} & set(figure["layout"])
    areas = _areas(figure)
    table, key, _ = {
        "beats": ("geo_police_beats", "beat_of_occurrence", None),
        "districts": ("geo_police_districts", "district", None),
        "community areas": ("geo_community_areas", "community_area", None),
    }[level]
    ids = {str(r[0]) for r in demo.sql(f"select {key} from marts.{table}")}  # noqa: S608
    assert len(areas) == LEVELS[level] == len(ids)
    assert {t["meta"] for t in areas} == ids  # every area of gold, once
    for trace in areas:
        xs = [x for x in _values(trace["x"]) if x is not None]
        ys = [y for y in _values(trace["y"]) if y is not None]
        assert len(xs) >= 4 and -88.0 < min(xs) < max(xs) < -87.5 and 41.6 < min(ys) < max(ys) < 42.1
        assert trace["line"]["width"] > 0 and trace["hoveron"] == "fills" and trace["name"] in trace["text"]
    # Shapes kept true: lat stretched by 1/cos(latitude) against lon, no axes drawn.
    assert figure["layout"]["yaxis"]["scaleanchor"] == "x"
    assert figure["layout"]["yaxis"]["scaleratio"] == pytest.approx(1.34, abs=0.01)
    assert figure["layout"]["xaxis"]["visible"] is False
    # A colour bar saying what the colour means.
    scale = [t for t in figure["data"] if t.get("marker", {}).get("showscale")]
    assert len(scale) == 1 and "crashes" in scale[0]["marker"]["colorbar"]["title"]["text"]
    # Small payload: rounded coordinates (the beats' outlines are ~0.25 MB at 6 decimals in gold).
    coordinates = [x for t in areas for x in _values(t["x"]) if x is not None]
    assert all(round(x, 4) == x for x in coordinates)
    assert len(json.dumps(figure)) < {"beats": 400_000, "districts": 200_000, "community areas": 300_000}[level]

    # The ranked table beside it: every name is one of the map's, ordered by crashes, totals match gold.
    table_shown = at.dataframe[0].value
    names = {t["name"] for t in areas}
    assert set(table_shown.iloc[:, 0]) <= names
    assert list(table_shown["crashes"]) == sorted(table_shown["crashes"], reverse=True)
    total_on_map = sum(
        int(t["text"].split("<br>")[1].split()[0].replace(",", "")) for t in areas if "no crashes" not in t["text"]
    )
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
    for metric, scale_name, read in (
        ("hit-and-run share", "RdYlBu_r", lambda lines: float(lines[2].split()[-1].rstrip("%"))),
        ("crashes per km²", "YlOrRd", lambda lines: float(lines[3].split()[0].replace(",", ""))),
    ):
        at.get("segmented_control")[2].set_value(metric).run()
        assert not at.exception
        figure = _figure(at)
        scale = next(t for t in figure["data"] if t.get("marker", {}).get("showscale"))
        assert metric in scale["marker"]["colorbar"]["title"]["text"]
        # The fill follows the figure each hover names: the highest area has the scale's top colour.
        shown = {t["fillcolor"]: read(t["text"].split("<br>")) for t in _areas(figure) if "no crashes" not in t["text"]}
        assert len(shown) > 10
        top, bottom = sample_colorscale(scale_name, [1.0, 0.0])
        assert shown[top] == max(shown.values()) and shown[bottom] == min(shown.values())


def _period(at) -> list:  # noqa: ANN001 - AppTest
    start, end = at.date_input[0].value
    return [start, end]


def test_the_default_hexbin_map_draws_without_webgl(demo: Demo, app) -> None:  # noqa: ANN001
    at = app.switch_page("views/explore.py").run()
    assert not at.exception
    maps = [json.loads(c.proto.spec) for c in at.get("plotly_chart")]
    hexes = [m for m in maps if m["layout"].get("title", {}).get("text", "").startswith("Crashes per hexagon")]
    assert len(hexes) == 1
    traces = hexes[0]["data"]
    assert {t["type"] for t in traces} == {"scatter"} and not {"map", "geo"} & set(hexes[0]["layout"])
    fills = [t for t in traces if t.get("fill") == "toself"]
    hover = [t for t in traces if t.get("mode") == "markers"]
    assert 2 <= len(fills) <= 6 and len(hover) == 1  # colour classes, each named by its range in the legend
    assert all(t["name"][0].isdigit() for t in fills)
    # Every hexagon drawn (7 points and a gap each) and hovered; their counts are the located crashes.
    drawn = sum(len(_values(t["x"])) for t in fills) // 8
    custom = hover[0]["customdata"]  # rows of (crashes, share); Plotly may send them as one typed array
    counts = _values(custom)[::2] if isinstance(custom, dict) else [row[0] for row in custom]
    located = demo.one(
        "select count(*) from marts.fct_crashes where latitude is not null and longitude is not null"
        " and crash_date between ? and ?",
        _period(at),
    )
    assert drawn == len(counts) and sum(counts) == located > 0
