"""Schedules: add and remove cron schedules (the sentence and next runs shown while typing) and
the history of the runs the scheduler started."""

from __future__ import annotations

import pandas as pd
import streamlit as st
from croniter import croniter

from crashes.errors import CrashesError
from dashboard import queries
from dashboard.progress import runs_frame
from dashboard.ui import page_title
from orchestration.flow import JOBS
from orchestration.schedules import Schedule, add_schedule, list_schedules, local_now, remove_schedule, validate_cron

page_title("Schedules")
st.caption(
    "The scheduler (`crashes scheduler`, or the docker-compose `pipeline` service) runs due jobs one at a time; "
    "a slot missed while it was down runs once when it is back. Times are the scheduler's local time."
)


@st.fragment
def cron_editor() -> None:
    expression = st.text_input(
        "Cron expression (minute hour day-of-month month day-of-week)",
        value="0 6 * * *",
        live=True,
        key="cron_expression",
    )
    try:
        expr = validate_cron(expression)
    except CrashesError as exc:
        st.error(str(exc))
        expr = None
    else:
        preview = Schedule(id=0, cron=expr, job="", args="", created=local_now(), last_due=None)
        st.success(f"**{preview.sentence}**")
        it = croniter(expr, local_now())
        st.caption("Next runs: " + " · ".join(f"{it.get_next(type(local_now())):%a %Y-%m-%d %H:%M}" for _ in range(5)))
    job = st.selectbox(
        "Job",
        JOBS,
        key="cron_job",
        help="incremental: new and changed records; backfill: a window (--since required); train: retrain and rescore",
    )
    args = st.text_input("Arguments", key="cron_args", placeholder="e.g. --since 2024-01-01 --datasets crashes")
    if st.button("Add schedule", type="primary", disabled=expr is None):
        try:
            added = add_schedule(expression, job=job, args=args or None)
        except CrashesError as exc:
            st.error(str(exc))
        else:
            st.toast(f"Added schedule {added.id}: {added.sentence}")
            st.rerun()


with st.container(border=True):
    st.markdown("**Add a schedule**")
    cron_editor()

st.subheader("Schedules")
schedules = list_schedules()
if not schedules:
    st.info("No schedules yet.")
else:
    now = local_now()
    st.dataframe(
        pd.DataFrame(
            [
                {
                    "id": s.id,
                    "cron": s.cron,
                    "meaning": s.sentence,
                    "job": s.job,
                    "arguments": s.args,
                    "next run": f"{s.next_runs(1, now)[0]:%Y-%m-%d %H:%M}",
                    "last slot run": f"{s.last_due:%Y-%m-%d %H:%M}" if s.last_due else "not yet",
                }
                for s in schedules
            ]
        ),
        hide_index=True,
    )
    left, right = st.columns([3, 1])
    labels = {s.id: f"[{s.id}] {s.job} · {s.sentence}" for s in schedules}
    chosen = left.selectbox("Schedule to remove", list(labels), format_func=labels.__getitem__)
    if right.button("Remove", key="remove_schedule"):
        try:
            remove_schedule(int(chosen))
        except CrashesError as exc:
            st.error(str(exc))
        else:
            st.toast(f"Removed schedule {chosen}")
            st.rerun()

st.subheader("Scheduled runs")
history = queries.runs_table(50, trigger="schedule")
if history.empty:
    st.info("The scheduler has not run anything yet.")
else:
    st.dataframe(runs_frame(history), hide_index=True)
