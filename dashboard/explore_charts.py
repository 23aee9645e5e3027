"""The Explore page's charts for a filter, built once per gold snapshot and filter and then
reused as they are (`snapshot.kept_per_snapshot`): at real scale, building and validating the
Plotly figures took longer than the queries behind them, on every rerun."""

from __future__ import annotations

import plotly.graph_objects as go

from dashboard import figures, queries
from dashboard.filters import CrashFilter
from dashboard.snapshot import kept_per_snapshot


@kept_per_snapshot
def over_time(f: CrashFilter, grain: str) -> go.Figure:
    return figures.over_time(queries.over_time(f, grain), grain)


@kept_per_snapshot
def hour_weekday(f: CrashFilter) -> go.Figure:
    return figures.hour_weekday(queries.hour_weekday(f))


@kept_per_snapshot
def hexbin_map(f: CrashFilter) -> go.Figure:
    return figures.hexbin_map(queries.hexbins(f, figures.HEX_RADIUS_DEG))


@kept_per_snapshot
def hit_and_run_shares(f: CrashFilter) -> go.Figure:
    return figures.hit_and_run_shares(queries.hit_and_run_by(f))


@kept_per_snapshot
def injuries_by_road_user(f: CrashFilter) -> go.Figure:
    return figures.injuries_by_road_user(queries.injuries_by_road_user(f))
