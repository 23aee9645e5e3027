"""Explore: crashes over time, by hour × weekday, on a map (hexbins, points, or choropleths of
beats, districts and community areas), the hit-and-run share by conditions, and injuries by road
user, for a chosen period and area."""

from __future__ import annotations

import streamlit as st

from dashboard import explore_charts as charts
from dashboard import figures, queries
from dashboard.area_maps import area_map
from dashboard.filters import CrashFilter, crash_filter
from dashboard.ui import (
    CRASH_RECORD_DEATHS,
    CRASH_RECORD_HELP,
    CRASH_RECORD_INJURIES,
    count,
    page_title,
    people_gap,
    require_gold,
    share,
)

POINT_SAMPLE = 5000

page_title("Explore")
require_gold()
f = crash_filter("explore")
if f is None:
    st.stop()

h = queries.headline(f)
cols = st.columns(5)
cols[0].metric("Crashes", count(h["crashes"]))
cols[1].metric(
    "Hit-and-run", count(h["hit_and_run"]), share(h["hit_and_run"], h["crashes"]), delta_color="off", delta_arrow="off"
)
cols[2].metric("Crashes with injuries", count(h["injury_crashes"]))
cols[3].metric(CRASH_RECORD_INJURIES, count(h["injured"]), help=CRASH_RECORD_HELP)
cols[4].metric(CRASH_RECORD_DEATHS, count(h["killed"]), help=CRASH_RECORD_HELP)
st.caption(f"Filter: {f.describe()}")
if not h["crashes"]:
    st.info("No crashes match this period and area.")
    st.stop()


@st.fragment
def crashes_over_time(f: CrashFilter) -> None:
    """A fragment: changing the grain redraws this chart only, not the rest of the page."""
    grain = st.segmented_control("Group by", queries.GRAINS, default="week", key="explore_grain") or "week"
    st.plotly_chart(charts.over_time(f, grain))


MAPS = ["hexbins", "points", *queries.AREA_LEVELS]  # beats, districts, community areas: real outlines


@st.fragment
def crash_map(f: CrashFilter) -> None:
    """A fragment: switching the layer (or what colours it) redraws the map only."""
    mode = st.segmented_control("Map", MAPS, default="hexbins", key="explore_map") or "hexbins"
    if mode == "hexbins":
        st.plotly_chart(charts.hexbin_map(f))
    elif mode == "points":
        sample, total = queries.points(f, POINT_SAMPLE)
        st.caption(f"Showing {len(sample):,} of {total:,} located crashes (a fixed pseudo-random sample).")
        st.plotly_chart(figures.points_map(sample))
    else:
        area_map(f, mode)


crashes_over_time(f)
st.plotly_chart(charts.hour_weekday(f))
crash_map(f)

st.plotly_chart(charts.hit_and_run_shares(f))
if gap := people_gap(f):
    st.info(gap)
else:
    injuries = queries.injuries_by_road_user(f)
    st.plotly_chart(charts.injuries_by_road_user(f))
    st.dataframe(injuries, hide_index=True)
