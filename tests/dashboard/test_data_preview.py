"""The Data page's preview: newest rows first (by the mart's time), and a DATE column as dates, not
timestamps at 00:00:00. Expected figures are read straight from gold."""

from __future__ import annotations

from datetime import date

import pandas as pd

from tests.dashboard.conftest import Demo


def test_preview_is_newest_first_and_dates_are_dates(demo: Demo, app) -> None:  # noqa: ANN001
    at = app.switch_page("views/data.py").run()
    assert not at.exception
    preview = at.dataframe[2].value  # the mart list, the columns (in an expander), then the preview
    assert {"crash_record_id", "crash_ts", "crash_date"} <= set(preview.columns)
    newest = demo.sql("select crash_ts, crash_date from marts.fct_crashes order by crash_ts desc limit 100")
    assert list(pd.to_datetime(preview["crash_ts"])) == [pd.Timestamp(ts) for ts, _ in newest]
    assert not pd.api.types.is_datetime64_any_dtype(preview["crash_date"])
    assert all(type(d) is date for d in preview["crash_date"])
    assert list(preview["crash_date"]) == [d for _, d in newest]

    # A mart whose only time is a DATE: ordered by it, shown as dates.
    at.selectbox[0].set_value("agg_crashes_daily").run()
    daily = at.dataframe[2].value
    days = [d for (d,) in demo.sql("select crash_date from marts.agg_crashes_daily order by crash_date desc limit 100")]
    assert list(daily["crash_date"]) == days and type(days[0]) is date
