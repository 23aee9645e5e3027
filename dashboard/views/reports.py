"""Reports: a PDF for a chosen period and area (headline counts against the previous period,
weekly chart, map and ranked districts and beats, causes, data quality, the model's risk bands),
and CSV downloads of the marts behind it."""

from __future__ import annotations

from collections.abc import Callable

import pandas as pd
import streamlit as st

from dashboard import queries
from dashboard.filters import CrashFilter, crash_filter
from dashboard.ui import page_title, people_gap, require_gold, size

page_title("Reports")
require_gold()
f = crash_filter("reports", default_days=91)
if f is None:
    st.stop()

st.subheader("PDF report")
st.caption(
    "Headline counts against the previous period of the same length, crashes per week (partial weeks "
    "marked), a map of districts and beats with their ranking, primary causes, data quality in plain "
    "words, and the model's risk bands: about four pages."
)
if st.button("Build the PDF report", type="primary"):
    from dashboard.report_pdf import build_report

    with st.spinner("Drawing charts and laying out pages…"):
        pdf = build_report(f)
    st.session_state["report_pdf"] = (f, pdf)

built = st.session_state.get("report_pdf")
if built is not None:
    built_for, pdf = built
    name = f"chicago-crashes_{built_for.start:%Y%m%d}-{built_for.end:%Y%m%d}.pdf"
    st.download_button(
        f"Download {name} ({size(len(pdf))})",
        pdf,
        file_name=name,
        mime="application/pdf",
        icon=":material/download:",
        key="download_pdf",
    )
    if built_for != f:
        st.caption(f"Built for {built_for.describe()}; build again for the period chosen now.")
    else:
        st.caption(f"Built for {built_for.describe()}.")

st.subheader("CSV downloads")
st.caption(
    "The gold marts behind the report, for the chosen period (daily counts and causes cover all of "
    "Chicago; beat × month follows the area filter)."
)


def _csv(load: Callable[[CrashFilter], pd.DataFrame], chosen: CrashFilter) -> Callable[[], bytes]:
    """Computed only when the button is clicked."""
    return lambda: load(chosen).to_csv(index=False).encode()


downloads = {
    "agg_crashes_daily": ("Crashes per day", queries.daily),
    "agg_beat_monthly": ("Beat × month", queries.beat_monthly),
    "agg_contributory_causes": ("Contributory causes per year", queries.causes),
    "agg_injuries_by_road_user": ("Injuries by road user per year", queries.injuries_by_year),
}
# Counts of people are only as complete as the person records: say so, and offer none when partial.
PERSON_LEVEL = {"agg_injuries_by_road_user"}
if gap := people_gap(f):
    st.info(gap)
cols = st.columns(len(downloads) + 1)
for col, (mart, (label, load)) in zip(cols, downloads.items(), strict=False):
    col.download_button(
        label,
        _csv(load, f),
        file_name=f"{mart}_{f.start:%Y%m%d}-{f.end:%Y%m%d}.csv",
        mime="text/csv",
        key=f"csv_{mart}",
        disabled=bool(gap) and mart in PERSON_LEVEL,
        help=gap if mart in PERSON_LEVEL else None,
    )
cols[-1].download_button(
    "Data-quality expectations",
    lambda: queries.dq_expectations().to_csv(index=False).encode(),
    file_name="dq_expectations.csv",
    mime="text/csv",
    key="csv_dq_expectations",
)

daily = queries.daily(f)
st.markdown(f"**Crashes per day in the period** — {len(daily):,} days, {int(daily['crash_count'].sum()):,} crashes")
st.dataframe(daily, hide_index=True, height=260)
