"""The Explore page's area maps: beats, districts or community areas coloured by a figure, drawn
from the real outlines in gold (`marts.geo_*`), with the areas ranked in a table beside it.

Drawn as SVG (`go.Scatter` polygons on plain lon/lat axes), not Plotly's map traces: those need
WebGL, and a browser without it (locked-down city PCs, remote desktops, headless Chromium) draws
an empty canvas. Not Plotly's `geo` subplot either: it fetches its world topojson from
cdn.plot.ly and offline draws nothing. One trace per area, so hovering anywhere inside an area
names it and its figures."""

from __future__ import annotations

import math
from typing import Any

import pandas as pd
import plotly.graph_objects as go
import streamlit as st
from plotly.colors import sample_colorscale

from dashboard import figures, queries
from dashboard.filters import CrashFilter
from dashboard.snapshot import kept_per_snapshot, per_snapshot

TABLE_ROWS = 25
# 4 decimals ≈ 11 m north–south, 8 m east–west: finer than a pixel of the drawn map, and it
# halves the payload of the 6-decimal outlines gold carries.
DIGITS = 4
NO_DATA = "#eeeeee"
# What an area map can colour by: column, colour-bar title, number format, colour scale.
AREA_METRICS = {
    "crashes": ("crashes", "crashes in the period", ",.0f", "YlOrRd"),
    "hit-and-run share": ("hit_and_run_share", "hit-and-run share<br>of the crashes", ".0%", "RdYlBu_r"),
    "crashes per km²": ("crashes_per_km2", "crashes per km²", ",.0f", "YlOrRd"),
}


def _ring_xy(rings: list[list[list[float]]]) -> tuple[list[float | None], list[float | None]]:
    xs: list[float | None] = []
    ys: list[float | None] = []
    for ring in rings:
        last = None
        for lon, lat in ring:
            point = (round(lon, DIGITS), round(lat, DIGITS))
            if point != last:  # rounding merges neighbouring vertices: keep one
                xs.append(point[0])
                ys.append(point[1])
                last = point
        xs.append(None)
        ys.append(None)
    return xs[:-1], ys[:-1]


@per_snapshot
def outlines(level: str) -> dict[str, tuple[list[float | None], list[float | None]]]:
    """Per area id: its rings as lon and lat lists, rings (holes and parts) separated by None."""
    shapes = {}
    for feature in queries.area_boundaries(level)["features"]:
        geometry = feature["geometry"]
        polygons = [geometry["coordinates"]] if geometry["type"] == "Polygon" else geometry["coordinates"]
        shapes[feature["id"]] = _ring_xy([ring for polygon in polygons for ring in polygon])
    return shapes


def _hover(row: Any) -> str:
    if not row.crashes:
        return f"<b>{row.name}</b><br>no crashes in the period"
    return (
        f"<b>{row.name}</b><br>{row.crashes:,} crashes<br>hit-and-run {row.hit_and_run_share:.1%}"
        f"<br>{row.crashes_per_km2:,.0f} crashes per km²"
    )


def outline_map(shapes: dict[str, tuple[list, list]], df: pd.DataFrame, level: str, metric: str) -> go.Figure:
    """Every area of `df` (id, name, crashes, hit_and_run_share, crashes_per_km2) filled by its
    value of `metric`, with a colour bar saying what the colour means."""
    column, title, fmt, scale = AREA_METRICS[metric]
    values = df[column].astype("float64")
    low, high = (float(values.min()), float(values.max())) if values.notna().any() else (0.0, 1.0)
    span = high - low or 1.0
    fig = go.Figure()
    for row, value in zip(df.itertuples(index=False), values, strict=True):
        xs, ys = shapes.get(row.id, ([], []))
        fill = NO_DATA if math.isnan(value) else sample_colorscale(scale, [(value - low) / span])[0]
        fig.add_scatter(
            x=xs,
            y=ys,
            mode="lines",
            fill="toself",
            fillcolor=fill,
            line={"color": "#404040", "width": 0.6},
            name=row.name,
            meta=row.id,
            text=_hover(row),
            hoveron="fills",
            hoverinfo="text",
            showlegend=False,
        )
    # The colour bar: one invisible marker carrying the scale, its range and the legend title.
    fig.add_scatter(
        x=[None],
        y=[None],
        mode="markers",
        marker={
            "color": [low],
            "colorscale": scale,
            "cmin": low,
            "cmax": high,
            "showscale": True,
            "colorbar": {"title": {"text": title}, "tickformat": fmt, "thickness": 14},
        },
        hoverinfo="skip",
        showlegend=False,
        name="colour scale",
    )
    fig.update_layout(title=f"{metric.capitalize()} by {level.removesuffix('s')} (grey: no crashes)")
    return figures.lonlat_layout(fig)


@kept_per_snapshot
def area_figure(f: CrashFilter, level: str, metric: str) -> go.Figure:
    return outline_map(outlines(level), queries.by_area(f, level), level, metric)


def area_map(f: CrashFilter, level: str) -> None:
    metric = (
        st.segmented_control("Colour by", list(AREA_METRICS), default="crashes", key="explore_area_metric") or "crashes"
    )
    areas = queries.by_area(f, level)
    left, right = st.columns([3, 2])
    left.plotly_chart(area_figure(f, level, metric))  # built once per snapshot and filter
    column = AREA_METRICS[metric][0]
    ranked = areas.sort_values([column, "crashes"], ascending=False, na_position="last").head(TABLE_ROWS)
    right.caption(f"Top {len(ranked)} of {len(areas)} {level} by {metric}")
    right.dataframe(
        ranked[["name", "crashes", "hit_and_run_share", "crashes_per_km2"]],
        hide_index=True,
        column_config={
            "name": st.column_config.TextColumn(level.removesuffix("s").capitalize()),
            "crashes": st.column_config.NumberColumn("Crashes", format="localized"),
            "hit_and_run_share": st.column_config.NumberColumn("Hit-and-run", format="percent"),
            "crashes_per_km2": st.column_config.NumberColumn("Per km²", format="%.0f"),
        },
        height=560,
    )
