"""What changed: the portal's late amendments, from the audit marts (built from bronze, where every
delivered version is kept): the most amended fields, amendments by lag after the crash, and one
crash's history."""

from __future__ import annotations

import plotly.graph_objects as go
import streamlit as st

from dashboard import amendments
from dashboard.ui import gold_missing, page_title

page_title("What changed")
st.markdown(
    "Raw and gold keep each record's latest version; bronze keeps every version the portal delivered. "
    "A **repeat** is a delivery identical to the one before (the lag window of each incremental load, "
    "paging without an order, a replayed file); an **amendment** is a version with at least one changed field."
)

if gold_missing():
    st.stop()
if not amendments.available():
    st.info("This gold snapshot has no audit marts yet: run `crashes build` to add them.")
    st.stop()

s = amendments.summary()
c1, c2, c3, c4 = st.columns(4)
c1.metric("Records", f"{s.records:,}")
c2.metric("Versions delivered", f"{s.versions:,}")
c3.metric("Repeats (no change)", f"{s.repeats:,}")
c4.metric("Amended records", f"{s.amended_records:,}", help=f"{s.field_changes:,} field changes in all")
st.caption(amendments.label_changes().sentence())

left, right = st.columns(2)
with left:
    st.subheader("Most amended fields")
    fields = amendments.most_amended_fields()
    if fields.empty:
        st.caption("No field has changed in any delivered version.")
    else:
        st.dataframe(fields, hide_index=True)
with right:
    st.subheader("Amendments by lag after the crash")
    lag = amendments.by_lag()
    fig = go.Figure(
        [
            go.Bar(x=lag["lag"], y=lag["changes"] - lag["label_changes"], name="other fields"),
            go.Bar(x=lag["lag"], y=lag["label_changes"], name=amendments.LABEL),
        ]
    )
    fig.update_layout(barmode="stack", height=320, margin={"t": 10, "b": 10}, yaxis_title="field changes")
    st.plotly_chart(fig)
    st.caption(
        "Lag: the portal's `:updated_at` of the new version (the load's time for replayed files) minus the crash date."
    )

st.subheader("One crash's history")
crash_id = st.text_input("Crash record id", key="changes_crash_id").strip()
if crash_id:
    versions, changes = amendments.crash_history(crash_id)
    if versions.empty:
        st.warning("No crash, unit or person with that crash record id in the audit.")
    else:
        st.markdown(f"**{len(versions)} versions** delivered, **{len(changes)} field changes**.")
        st.dataframe(changes, hide_index=True)
        with st.expander("Every version delivered"):
            st.dataframe(versions, hide_index=True)
