"""Ingest: start an incremental run, a backfill (crash-date window) or the load of an uploaded
export file in a separate process and follow it; the run is recorded with trigger "dashboard"."""

from __future__ import annotations

from datetime import date, timedelta

import streamlit as st

from crashes.config import get_settings
from crashes.errors import CrashesError
from dashboard import progress, queries
from dashboard.jobs import command, replay_command, save_upload
from dashboard.ui import page_title
from orchestration import runs

DATASETS = ("crashes", "vehicles", "people")

page_title("Ingest")
settings = get_settings()
busy = runs.running_run()
if busy is not None:
    st.warning(
        f"Run #{busy.id} ({busy.job}, trigger {busy.trigger}) is running since {busy.started[:19]}Z: "
        "a new run would be refused until it ends."
    )

with st.form("ingest"):
    mode = st.radio("What to load", ["Incremental (what changed since the last load)", "Backfill a date range"])
    today = date.today()
    window = st.date_input("Backfill window (crash date, end excluded)", value=(today - timedelta(days=30), today))
    datasets = st.multiselect("Datasets", DATASETS, default=list(DATASETS))
    base_url = st.text_input("Socrata server", value=settings.socrata_base_url)
    retrain = st.checkbox("Retrain the model after the build")
    submitted = st.form_submit_button("Start run", type="primary")

if submitted:
    backfill = mode.startswith("Backfill")
    since = until = None
    if backfill:
        if not isinstance(window, tuple | list) or len(window) != 2:
            st.error("Pick both a start and an end date for the backfill.")
            st.stop()
        since, until = window
    try:
        if not datasets:
            raise CrashesError("choose at least one dataset")
        argv = command(
            "backfill" if backfill else "incremental",
            since=since,
            until=until,
            datasets=None if set(datasets) == set(DATASETS) else list(datasets),
            base_url=base_url.strip() or None,
            retrain=retrain,
        )
    except CrashesError as exc:
        st.error(str(exc))
    else:
        progress.start_and_track(argv)

st.subheader("Load an export file")
st.caption(
    "A portal export (CSV, JSON, NDJSON or parquet, `.gz` allowed) of crashes, vehicles or people goes the way "
    "`crashes ingest --source replay --path FILE` takes it: its shape (column names, date and location "
    "renderings) is detected from the file and named in the run's summary."
)
with st.form("upload"):
    uploaded = st.file_uploader("Export file", type=["csv", "json", "jsonl", "ndjson", "parquet", "gz"])
    which = st.selectbox("Dataset", ["(detect from the file)", *DATASETS])
    then_build = st.checkbox("Build and publish gold after loading", value=True)
    load = st.form_submit_button("Load file")
if load:
    if uploaded is None:
        st.error("Choose a file to load first.")
    else:
        try:
            saved = save_upload(uploaded.name, uploaded.getvalue())
            argv = replay_command(saved, None if which.startswith("(") else which, build=then_build)
        except (CrashesError, OSError) as exc:
            st.error(str(exc))
        else:
            progress.start_and_track(argv)

job = progress.tracked()
if job is not None:
    st.subheader("This session's run")
    progress.show(job)

st.subheader("Run history")
st.dataframe(progress.runs_frame(queries.runs_table(25)), hide_index=True)
