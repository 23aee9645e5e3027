"""Plotly figures for the Explore page, built from the frames `queries` returns.

Maps use OpenStreetMap raster tiles, which need internet in the viewer's browser. The style is
built locally (unlike "carto-positron", whose style file is fetched and blanks the whole map
when it cannot be), so offline the hexagons and points still draw, on a plain background.
CRASHES_MAP_STYLE (crashes.config) picks another Plotly map style. The area maps (beats,
districts, community areas) are `dashboard.area_maps`: SVG outlines that need neither tiles nor WebGL.
"""

from __future__ import annotations

import math

import pandas as pd
import plotly.graph_objects as go
from plotly.colors import sample_colorscale
from plotly.subplots import make_subplots

from crashes.config import get_settings
from dashboard.queries import HIT_AND_RUN_DIMENSIONS

CHICAGO = {"lat": 41.84, "lon": -87.68}
WEEKDAYS = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"]  # the portal's 1 = Sunday
# Hexagon circumradius for the map's hexbins: 0.006° of latitude ≈ 670 m.
HEX_RADIUS_DEG = 0.006
# Fewer crashes than this behind a share and the share is noise (±18 points at n = 30, p = 0.3).
SMALL_N = 30
# Above the plot area, right-aligned (titles sit left): a legend never covers an axis or data.
LEGEND_ABOVE = {"orientation": "h", "yanchor": "bottom", "y": 1.02, "xanchor": "right", "x": 1}


def _map_layout(fig: go.Figure, zoom: float = 9.3) -> go.Figure:
    fig.update_layout(
        map={"style": get_settings().map_style, "center": CHICAGO, "zoom": zoom},
        margin={"l": 0, "r": 0, "t": 30, "b": 0},
        height=560,
    )
    return fig


def over_time(df: pd.DataFrame, grain: str) -> go.Figure:
    fig = make_subplots(specs=[[{"secondary_y": True}]])
    fig.add_bar(x=df["period"], y=df["crashes"], name="crashes", marker_color="#4c78a8")
    share = df["hit_and_run"] / df["crashes"].where(df["crashes"] > 0)
    fig.add_scatter(
        x=df["period"], y=share, name="hit-and-run share", mode="lines", line_color="#e45756", secondary_y=True
    )
    fig.update_yaxes(title_text=f"crashes per {grain}", secondary_y=False)
    fig.update_yaxes(title_text="hit-and-run share", tickformat=".0%", secondary_y=True, rangemode="tozero")
    fig.update_layout(title=f"Crashes per {grain}", legend=LEGEND_ABOVE, height=380, bargap=0.05)
    return fig


def hour_weekday(df: pd.DataFrame) -> go.Figure:
    grid = (
        df.pivot_table(index="day_of_week", columns="hour", values="crashes", aggfunc="sum")
        .reindex(index=range(1, 8), columns=range(24))
        .fillna(0)
    )
    fig = go.Figure(
        go.Heatmap(
            z=grid.values,
            x=list(range(24)),
            y=WEEKDAYS,
            colorscale="Blues",
            hovertemplate="%{y} %{x}:00 — %{z:,} crashes<extra></extra>",
        )
    )
    fig.update_layout(title="Crashes by hour and weekday", xaxis_title="hour", height=330)
    fig.update_yaxes(autorange="reversed")
    return fig


def hexagon(lng: float, lat: float, radius_deg: float) -> list[list[float]]:
    """A pointy-top hexagon around a center, in lng/lat (x was scaled by cos(latitude))."""
    scale = math.cos(math.radians(CHICAGO["lat"]))
    ring = [
        [lng + radius_deg * math.cos(math.radians(a)) / scale, lat + radius_deg * math.sin(math.radians(a))]
        for a in range(90, 450, 60)
    ]
    return [*ring, ring[0]]


# Colour classes of the hexbin map (quantiles of crashes per hexagon), light to dark.
HEX_CLASSES = 6


def lonlat_layout(fig: go.Figure, height: int = 620) -> go.Figure:
    """Plain SVG axes in lon/lat for outlines drawn as polygons: no WebGL, no tiles. Axes hidden;
    a degree of longitude is cos(latitude) of a degree of latitude, so shapes keep their form."""
    hidden = {"visible": False, "showgrid": False, "zeroline": False}
    fig.update_layout(
        xaxis={**hidden, "constrain": "domain"},
        yaxis={**hidden, "scaleanchor": "x", "scaleratio": 1 / math.cos(math.radians(CHICAGO["lat"]))},
        plot_bgcolor="white",
        hovermode="closest",
        margin={"l": 0, "r": 0, "t": 40, "b": 0},
        height=height,
    )
    return fig


def hexbin_map(df: pd.DataFrame, radius_deg: float = HEX_RADIUS_DEG) -> go.Figure:
    """Hexagons as SVG polygons (a map trace needs WebGL, which many browsers lack): one filled
    trace per colour class, its legend entry the class's range, and markers at the centres that
    carry each hexagon's hover."""
    fig = go.Figure()
    if df.empty:
        return lonlat_layout(fig, 560)
    edges = sorted({int(round(q)) for q in df["crashes"].quantile([k / HEX_CLASSES for k in range(HEX_CLASSES + 1)])})
    edges[0], edges[-1] = int(df["crashes"].min()), int(df["crashes"].max())
    classes = pd.cut(df["crashes"], bins=[edges[0] - 1, *edges[1:]], labels=False, include_lowest=True)
    colours = sample_colorscale("YlOrRd", [0.1 + 0.9 * k / max(len(edges) - 2, 1) for k in range(len(edges) - 1)])
    for k, colour in enumerate(colours):
        part = df[classes == k]
        if part.empty:
            continue
        xs: list[float | None] = []
        ys: list[float | None] = []
        for x, y in zip(part["center_lng"], part["center_lat"], strict=True):
            for lng, lat in hexagon(x, y, radius_deg):
                xs.append(round(lng, 5))
                ys.append(round(lat, 5))
            xs.append(None)
            ys.append(None)
        low = edges[k] if k == 0 else edges[k] + 1
        fig.add_scatter(
            x=xs, y=ys, mode="lines", fill="toself", fillcolor=colour, line={"width": 0.3, "color": "#ffffff"},
            name=f"{low:,}–{edges[k + 1]:,}" if low < edges[k + 1] else f"{edges[k + 1]:,}", hoverinfo="skip",
        )  # fmt: skip
    fig.add_scatter(
        x=df["center_lng"].round(5),
        y=df["center_lat"].round(5),
        mode="markers",
        marker={"size": 6, "opacity": 0},
        customdata=df[["crashes", "hit_and_run_share"]],
        hovertemplate="%{customdata[0]:,} crashes<br>hit-and-run %{customdata[1]:.0%}<extra></extra>",
        showlegend=False,
        name="hexagon figures",
    )
    across_km = math.sqrt(3) * radius_deg * 111.2  # flat to flat; a degree of latitude is ≈111.2 km
    fig.update_layout(
        title=f"Crashes per hexagon (≈{across_km:.1f} km across)",
        legend={"title": {"text": "crashes per hexagon"}, "x": 1, "y": 1},
    )
    return lonlat_layout(fig, 560)


def points_map(df: pd.DataFrame) -> go.Figure:
    fig = go.Figure()
    for flag, name, color in ((False, "other", "#4c78a8"), (True, "hit-and-run", "#e45756")):
        part = df[df["is_hit_and_run"] == flag]
        fig.add_scattermap(
            lat=part["latitude"],
            lon=part["longitude"],
            mode="markers",
            name=name,
            marker={"size": 5, "color": color, "opacity": 0.6},
            text=part["first_crash_type"] + " · beat " + part["beat_of_occurrence"].fillna("?"),
        )
    fig.update_layout(title="Crash locations (sample)", legend=LEGEND_ABOVE)
    return _map_layout(fig, zoom=9.5).update_layout(margin={"t": 60})


def hit_and_run_shares(df: pd.DataFrame, top: int = 8) -> go.Figure:
    names = list(HIT_AND_RUN_DIMENSIONS)
    fig = make_subplots(
        rows=2,
        cols=2,
        subplot_titles=[HIT_AND_RUN_DIMENSIONS[n] for n in names],
        horizontal_spacing=0.28,
        vertical_spacing=0.12,
    )
    for k, name in enumerate(names):
        part = df[df["dimension"] == name].nlargest(top, "crashes").sort_values("hit_and_run_share")
        small = part["crashes"] < SMALL_N
        fig.add_bar(
            x=part["hit_and_run_share"],
            y=part["value"].str.slice(0, 28),
            orientation="h",
            showlegend=False,
            text=[f"n={n:,}" if few else f"{n:,}" for n, few in zip(part["crashes"], small, strict=True)],
            textposition="auto",
            marker={
                "color": ["#bdbdbd" if few else "#e45756" for few in small],
                "pattern": {"shape": ["/" if few else "" for few in small]},
            },
            customdata=part["crashes"],
            hovertemplate="%{y}: %{x:.1%} of %{customdata:,} crashes<extra></extra>",
            row=k // 2 + 1,
            col=k % 2 + 1,
        )
    fig.update_xaxes(tickformat=".0%", rangemode="tozero")
    fig.update_layout(
        title={
            "text": "Hit-and-run share (bar text: crashes)"
            f"<br><sup>grey hatched: fewer than {SMALL_N} crashes, too few for a share to mean much</sup>"
        },
        height=660,
        margin={"l": 10, "r": 10, "t": 100},
    )
    return fig


def injuries_by_road_user(df: pd.DataFrame) -> go.Figure:
    rate = df["injured"] / df["people"].where(df["people"] > 0)
    fig = make_subplots(rows=1, cols=2, subplot_titles=["People injured (person records)", "Share of people injured"])
    fig.add_bar(x=df["road_user"], y=df["injured"], name="injured", marker_color="#f58518", row=1, col=1)
    fig.add_bar(x=df["road_user"], y=df["killed"], name="killed", marker_color="#54278f", row=1, col=1)
    fig.add_bar(
        x=df["road_user"],
        y=rate,
        name="injury rate",
        marker_color="#72b7b2",
        showlegend=False,
        text=rate.map("{:.0%}".format),
        row=1,
        col=2,
    )
    fig.update_yaxes(tickformat=".0%", row=1, col=2)
    fig.update_layout(
        title="Injuries by road user (person records)",
        barmode="group",
        height=380,
        legend=LEGEND_ABOVE,
        margin={"t": 90},
    )
    return fig


def precision_recall(pr: pd.DataFrame, label: str) -> go.Figure:
    fig = go.Figure(go.Scatter(x=pr["recall"], y=pr["precision"], mode="lines", name="model"))
    prevalence = float(pr["prevalence"].iloc[0])
    fig.add_hline(y=prevalence, line_dash="dot", annotation_text=f"prevalence {prevalence:.1%} (no skill)")
    fig.update_layout(
        title=f"Precision–recall, {label}",
        xaxis_title="recall",
        yaxis_title="precision",
        height=380,
        yaxis_range=[0, 1],
        showlegend=False,
    )
    return fig


def calibration(predicted: pd.Series, observed: pd.Series, label: str) -> go.Figure:
    fig = go.Figure(go.Scatter(x=predicted, y=observed, mode="lines+markers", name="model"))
    fig.add_scatter(x=[0, 1], y=[0, 1], mode="lines", line_dash="dot", name="perfectly calibrated")
    fig.update_layout(
        title=f"Calibration, {label}",
        xaxis_title="mean predicted probability (bin)",
        yaxis_title="observed hit-and-run share",
        height=380,
        legend=LEGEND_ABOVE,
    )
    return fig


def precision_recall_at(pr: pd.DataFrame, label: str, recall: float, precision: float, point: str) -> go.Figure:
    """The precision–recall curve with the operating point a user picked marked on it."""
    fig = precision_recall(pr, label)
    fig.add_scatter(
        x=[recall],
        y=[precision],
        mode="markers+text",
        marker={"size": 12, "color": "#e45756"},
        text=[point],
        textposition="top right",
        name="operating point",
    )
    return fig


def monitoring(monthly: pd.DataFrame, train_years: tuple[int, int] | None) -> go.Figure:
    """The model month by month: score PSI (0.2: a shift), calibration error (against twice the
    test year's), ROC-AUC and PR-AUC; the training window shaded (its scores are in-sample)."""
    month = pd.to_datetime(monthly["month_start"])
    fig = make_subplots(
        rows=3,
        cols=1,
        shared_xaxes=True,
        vertical_spacing=0.06,
        subplot_titles=("Score PSI against the training window", "Calibration error (score deciles)", "Ranking"),
    )
    fig.add_scatter(x=month, y=monthly["score_psi"], name="score PSI", mode="lines+markers", row=1, col=1)
    fig.add_hline(y=0.2, line_dash="dot", annotation_text="0.2: shifted", row=1, col=1)
    fig.add_scatter(
        x=month, y=monthly["calibration_error"], name="calibration error", mode="lines+markers", row=2, col=1
    )
    reference = monthly["reference_calibration_error"].dropna()
    if len(reference):
        limit = 2 * float(reference.iloc[0])
        fig.add_hline(y=limit, line_dash="dot", annotation_text="2× the test year's", row=2, col=1)
    fig.add_scatter(x=month, y=monthly["roc_auc"], name="ROC-AUC", mode="lines+markers", row=3, col=1)
    fig.add_scatter(x=month, y=monthly["pr_auc"], name="PR-AUC", mode="lines+markers", row=3, col=1)
    if train_years is not None:
        start, end = (
            pd.Timestamp(year=train_years[0], month=1, day=1),
            pd.Timestamp(year=train_years[1] + 1, month=1, day=1),
        )
        for row in (1, 2, 3):
            fig.add_vrect(
                x0=start,
                x1=end,
                fillcolor="#bbbbbb",
                opacity=0.25,
                line_width=0,
                annotation_text="training window" if row == 1 else None,
                row=row,
                col=1,
            )
    fig.update_layout(title="Model monitoring by month of crash date", height=720, legend={"orientation": "h"})
    return fig
