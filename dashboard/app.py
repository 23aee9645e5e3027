"""The Streamlit app: seven pages over the gold snapshot and ops.sqlite (`crashes dashboard`).

Run with `streamlit run dashboard/app.py`. Each page is one file in views/ (not `pages/`: Streamlit
treats a `pages/` folder beside the main script as an old-style multipage app and, on a reload
or a deep link, lists its file names in the sidebar instead of these pages) and starts with
`ui.page_title`, which records a `page_view` event when a session opens it (the metrics
endpoint exports them).
"""

from __future__ import annotations

import streamlit as st

from dashboard.snapshot import per_run

PAGES = [
    st.Page("views/overview.py", title="Overview", icon=":material/dashboard:", default=True),
    st.Page("views/data.py", title="Data", icon=":material/table_view:"),
    st.Page("views/ingest.py", title="Ingest", icon=":material/download:"),
    st.Page("views/schedules.py", title="Schedules", icon=":material/schedule:"),
    st.Page("views/explore.py", title="Explore", icon=":material/insights:"),
    st.Page("views/reports.py", title="Reports", icon=":material/picture_as_pdf:"),
    st.Page("views/model.py", title="Model", icon=":material/model_training:"),
    st.Page("views/changes.py", title="What changed", icon=":material/history:"),
]

st.set_page_config(page_title="Chicago traffic crashes", page_icon=":material/car_crash:", layout="wide")
with per_run():  # the page's queries share one connection to gold (opening it costs 60–200 ms)
    st.navigation(PAGES).run()
