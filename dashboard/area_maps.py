"""The Explore page's area maps: a choropleth of beats, districts or community areas drawn from
the real outlines in gold (`marts.geo_*`), with the areas ranked in a table beside it."""

from __future__ import annotations

import streamlit as st

from dashboard import explore_charts, figures, queries
from dashboard.filters import CrashFilter

TABLE_ROWS = 25


def area_map(f: CrashFilter, level: str) -> None:
    metric = (
        st.segmented_control("Colour by", list(figures.AREA_METRICS), default="crashes", key="explore_area_metric")
        or "crashes"
    )
    areas = queries.by_area(f, level)
    left, right = st.columns([3, 2])
    left.plotly_chart(explore_charts.area_choropleth(f, level, metric))  # built once per snapshot
    column = figures.AREA_METRICS[metric][0]
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
