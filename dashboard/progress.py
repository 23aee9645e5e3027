"""Following a run started from the page: its stages as they finish, the process log, the end.

Shared by the Ingest and Model pages. The fragment re-polls ops.sqlite every two seconds while
the child process lives, without rerunning the rest of the page.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
import streamlit as st

from dashboard.jobs import StartedJob
from orchestration import runs

STATE_KEY = "dashboard_job"


STAGE_COLUMNS = ["stage", "status", "seconds", "rows in", "rows out", "tests passed", "tests failed", "model", "error"]
DASH = "–"  # what a cell says for "not measured": a browser draws a null as `None`, pandas as `nan`
FINISHED = ("succeeded", "failed", "interrupted")


def _text(value: Any, fmt: str = "{}") -> str:
    if value is None or (not isinstance(value, str | dict) and pd.isna(value)):
        return DASH
    if isinstance(value, dict):
        return ", ".join(f"{k} {int(n):,}" for k, n in value.items()) or DASH
    return fmt.format(value)


def stages_frame(run_id: int) -> pd.DataFrame:
    """One run's stages as a table (the Overview's run detail and a started job's progress),
    every cell text: a stage not run yet has no seconds, rows or tests, and says so with a dash."""
    return pd.DataFrame(
        [
            {
                "stage": s.name,
                "status": s.status,
                "seconds": _text(s.duration_s, "{:,.1f}"),
                "rows in": _text(s.rows_in),
                "rows out": _text(s.rows_out),
                "tests passed": _text(s.tests_passed, "{:,}"),
                "tests failed": _text(s.tests_failed, "{:,}"),
                "model": _text(s.model_version),
                "error": s.error or "",
            }
            for s in runs.stages_for(run_id)
        ],
        columns=STAGE_COLUMNS,
    )


def runs_frame(recent: pd.DataFrame) -> pd.DataFrame:
    """`queries.runs_table` for display: a run still going (or never closed) has no end and no
    duration yet, a run nobody scheduled has no schedule, and the cells say that, not `None`."""
    shown = recent.copy()
    shown["started"] = shown["started"].map(lambda t: _text(t)[:19].replace("T", " "))
    shown["ended"] = [
        _text(e)[:19].replace("T", " ") if _text(e) != DASH else ("still running" if s == "running" else DASH)
        for e, s in zip(shown["ended"], shown["status"], strict=True)
    ]
    shown["seconds"] = shown["seconds"].map(lambda v: _text(v, "{:,.1f}"))
    shown["schedule_id"] = shown["schedule_id"].map(lambda v: _text(v, "#{:.0f}"))
    shown["error"] = shown["error"].fillna("")
    return shown


def stage_counts(statuses: pd.Series) -> str:
    """`3 of 5 stages finished, 2 skipped`: a stage skipped because an earlier one failed did not run."""
    finished = int(statuses.isin(FINISHED).sum())
    skipped = int((statuses == "skipped").sum())
    return f"{finished} of {len(statuses)} stages finished" + (f", {skipped} skipped" if skipped else "")


def _shapes_read(run_id: int) -> list[str]:
    """What a replay's ingest stage read: each file and the export shape it was detected as."""
    return [shape for s in runs.stages_for(run_id) if s.name == "ingest" for shape in s.detail.get("shapes", [])]


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
            done = int(table["status"].isin([*FINISHED, "skipped"]).sum())
            st.progress(done / max(1, len(table)), text=stage_counts(table["status"]))
            st.dataframe(table, hide_index=True)
            for shape in _shapes_read(run.id):
                st.markdown(f"Read **{shape}**")
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
