"""Figure layout facts: legends sit outside the plot area (above it), never over an axis or the data,
and a hit-and-run share resting on a handful of crashes is marked as such, with its n."""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go

from dashboard import figures


def _legend_outside(fig: go.Figure) -> bool:
    if fig.layout.showlegend is False or sum(t.showlegend is not False for t in fig.data) < 2:
        return True
    legend = fig.layout.legend
    above = legend.y is not None and legend.y >= 1 and legend.yanchor == "bottom"
    beside = legend.x is not None and legend.x >= 1 and legend.xanchor == "left"
    return above or beside


def test_legends_do_not_cover_the_axes() -> None:
    periods = pd.date_range("2024-01-01", periods=6, freq="W")
    built = {
        "over_time": figures.over_time(pd.DataFrame({"period": periods, "crashes": 50, "hit_and_run": 15}), "week"),
        "points_map": figures.points_map(
            pd.DataFrame(
                {
                    "latitude": [41.8, 41.9],
                    "longitude": [-87.6, -87.7],
                    "is_hit_and_run": [True, False],
                    "first_crash_type": ["REAR END", "ANGLE"],
                    "beat_of_occurrence": ["1234", None],
                }
            )
        ),
        "injuries_by_road_user": figures.injuries_by_road_user(
            pd.DataFrame(
                {"road_user": ["DRIVER", "PEDESTRIAN"], "people": [900, 40], "injured": [90, 30], "killed": [1, 2]}
            )
        ),
        "calibration": figures.calibration(pd.Series([0.1, 0.5, 0.9]), pd.Series([0.12, 0.45, 0.85]), "test 2024"),
    }
    for name, fig in built.items():
        assert sum(t.showlegend is not False for t in fig.data) >= 2, f"{name} has no legend to place"
        assert _legend_outside(fig), f"{name}: legend at {fig.layout.legend.to_plotly_json()} covers the plot"


def test_hit_and_run_shares_mark_categories_with_few_crashes() -> None:
    rows = []
    for dimension in figures.HIT_AND_RUN_DIMENSIONS:
        rows += [
            {"dimension": dimension, "value": "COMMON", "crashes": 900, "hit_and_run": 270, "hit_and_run_share": 0.3},
            {"dimension": dimension, "value": "USUAL", "crashes": 30, "hit_and_run": 9, "hit_and_run_share": 0.3},
            {"dimension": dimension, "value": "RARE", "crashes": 4, "hit_and_run": 3, "hit_and_run_share": 0.75},
        ]
    fig = figures.hit_and_run_shares(pd.DataFrame(rows))
    assert len(fig.data) == len(figures.HIT_AND_RUN_DIMENSIONS)
    for bar in fig.data:
        by_value = dict(zip(bar.y, range(len(bar.y)), strict=True))
        rare, common = by_value["RARE"], by_value["COMMON"]
        assert bar.text[rare] == "n=4" and bar.text[common] == "900"
        colors, shapes = list(bar.marker.color), list(bar.marker.pattern.shape)
        assert colors[rare] != colors[common] and shapes[rare] and not shapes[common]
        assert not shapes[by_value["USUAL"]], "30 crashes is enough: not marked"
    assert f"fewer than {figures.SMALL_N} crashes" in fig.layout.title.text
