"""Following a run started from the page: its stages as they finish, the process log, the end.

Shared by the Ingest and Model pages. The fragment re-polls ops.sqlite every two seconds while
the child process lives, without rerunning the rest of the page.
"""

from __future__ import annotations

import pandas as pd
import streamlit as st

from dashboard.jobs import StartedJob
from orchestration import runs

STATE_KEY = "dashboard_job"


STAGE_COLUMNS = ["stage", "status", "seconds", "rows in", "rows out", "tests passed", "tests failed", "model", "error"]


def stages_frame(run_id: int) -> pd.DataFrame:
    """One run's stages as a table (the Overview's run detail and a started job's progress)."""
    return pd.DataFrame(
        [
            {
                "stage": s.name,
                "status": s.status,
                "seconds": s.duration_s,
                "rows in": s.rows_in,
                "rows out": s.rows_out,
                "tests passed": s.tests_passed,
                "tests failed": s.tests_failed,
                "model": s.model_version,
                "error": s.error,
            }
            for s in runs.stages_for(run_id)
        ],
        columns=STAGE_COLUMNS,
    )


def show(job: StartedJob) -> None:
    """Status, stage table and log tail of one started job; polls while it runs."""
    alive = job.alive()

    @st.fragment(run_every="2s" if alive else None)
    def _panel() -> None:
        run = job.run()
        running = job.alive()
        if run is None:
            if running:
                st.info(f"Process {job.pid} started ({job.job}); waiting for it to record its run…")
            else:
                st.error(f"Process {job.pid} ended (exit {job.exit_code()}) before recording a run.")
        else:
            st.markdown(f"**Run #{run.id}** · {run.job} · trigger `{run.trigger}` · **{run.status}**")
            table = stages_frame(run.id)
            done = int(table["status"].isin(["succeeded", "failed", "skipped", "interrupted"]).sum())
            st.progress(done / max(1, len(table)), text=f"{done} of {len(table)} stages finished")
            st.dataframe(table, hide_index=True)
            if run.status == "succeeded":
                st.success(f"Run #{run.id} succeeded in {run.duration_s or 0:,.0f} s.")
            elif run.status in ("failed", "interrupted"):
                st.error(f"Run #{run.id} {run.status}: {run.error}")
        with st.expander("Process log", expanded=run is None and not running):
            st.code(job.log_tail() or "(empty)", language=None)
        if not running and alive:
            st.rerun()  # the process ended: stop polling

    _panel()


def start_and_track(argv: list[str]) -> None:
    from dashboard.jobs import start

    st.session_state[STATE_KEY] = start(argv)


def tracked() -> StartedJob | None:
    job = st.session_state.get(STATE_KEY)
    return job if isinstance(job, StartedJob) else None
