"""The Streamlit app: seven pages over the gold snapshot and ops.sqlite (`crashes dashboard`).

Run with `streamlit run dashboard/app.py`. Each page is one file in pages/; the app records a
`page_view` event in ops.sqlite when a session opens a page (the metrics endpoint exports them).
"""

from __future__ import annotations

import sqlite3

import streamlit as st

from orchestration.runs import record_event

PAGES = [
    st.Page("pages/overview.py", title="Overview", icon=":material/dashboard:", default=True),
    st.Page("pages/data.py", title="Data", icon=":material/table_view:"),
    st.Page("pages/ingest.py", title="Ingest", icon=":material/download:"),
    st.Page("pages/schedules.py", title="Schedules", icon=":material/schedule:"),
    st.Page("pages/explore.py", title="Explore", icon=":material/insights:"),
    st.Page("pages/reports.py", title="Reports", icon=":material/picture_as_pdf:"),
    st.Page("pages/model.py", title="Model", icon=":material/model_training:"),
]

st.set_page_config(page_title="Chicago traffic crashes", page_icon=":material/car_crash:", layout="wide")
page = st.navigation(PAGES)
if st.session_state.get("_viewed_page") != page.title:
    st.session_state["_viewed_page"] = page.title
    try:
        record_event("page_view", {"page": page.title})
    except sqlite3.Error as exc:  # counting views must never take a page down
        st.toast(f"page view not recorded: {exc}")
page.run()
