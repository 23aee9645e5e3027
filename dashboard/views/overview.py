"""Overview: what the pipeline holds, how fresh it is, whether its parts answer, the last runs."""

from __future__ import annotations

from datetime import UTC, datetime

import pandas as pd
import streamlit as st

from crashes.config import get_settings
from dashboard import queries, snapshot
from dashboard.bronze import list_bronze
from dashboard.filters import CrashFilter
from dashboard.health import endpoints, run_checks
from dashboard.progress import DASH, runs_frame, stages_frame
from dashboard.ui import (
    CRASH_RECORD_DEATHS,
    CRASH_RECORD_HELP,
    CRASH_RECORD_INJURIES,
    ago,
    count,
    gold_missing,
    page_title,
    people_gap,
    share,
    stamp,
)
from orchestration import runs
from orchestration.model_info import current_model

settings = get_settings()
page_title("Overview", "Chicago traffic crashes")
st.caption(f"CRASHES_HOME `{settings.home}` · gold `{settings.gold_path.name}` · bronze `{settings.bronze_url}`")
has_gold = not gold_missing()

# ----------------------------------------------------------------------------- headline
if has_gold:
    t = queries.totals()
    cols = st.columns(5)
    cols[0].metric("Crashes", count(t["crashes"]))
    cols[1].metric(
        "Hit-and-run",
        count(t["hit_and_run"]),
        share(t["hit_and_run"], t["crashes"]),
        delta_color="off",
        delta_arrow="off",
    )
    cols[2].metric(CRASH_RECORD_INJURIES, count(t["injured"]), help=CRASH_RECORD_HELP)
    cols[3].metric(CRASH_RECORD_DEATHS, count(t["killed"]), help=CRASH_RECORD_HELP)
    first, last = t["first_day"], t["last_day"]
    cols[4].metric(
        "Crash dates",
        f"{t['days']:,} days",
        f"{first:%Y-%m-%d} … {last:%Y-%m-%d}" if t["days"] else None,
        delta_color="off",
        delta_arrow="off",
    )
    if t["days"] and (note := people_gap(CrashFilter(first, last))):
        st.info(note)

# ----------------------------------------------------------------------------- health
st.subheader("Health")
bronze = list_bronze()
checks = run_checks(bronze)
DOTS = {"ok": (":green[●]", "OK"), "down": (":red[●]", "DOWN"), "not configured": (":gray[○]", "not configured")}
for col, check in zip(st.columns(len(checks)), checks, strict=True):
    dot, word = DOTS[check.state]
    with col.container(border=True):
        st.markdown(f"{dot} **{check.name}**")
        st.caption(f"{word} · {check.detail}")
        st.caption(f"`{check.url}` · {check.seconds * 1000:,.0f} ms")
ends = endpoints()
links = st.columns([1, 1, 4])
links[0].link_button("dbt docs site", ends.docs, icon=":material/menu_book:")
links[1].link_button("Prometheus", ends.prometheus, icon=":material/monitoring:")
links[2].caption("Start them with `crashes docs --serve` and Prometheus (docker-compose runs both).")

# ----------------------------------------------------------------------------- layers and freshness
st.subheader("What each layer holds")
left, right = st.columns(2)
ingest = runs.last_stage("ingest")
raw_recorded = ingest.detail.get("raw", {}) if ingest else {}
layer_rows = []
for row in bronze.datasets().itertuples():
    layer_rows.append({"layer": "bronze", "table": row.table, "rows": row.rows, "files": f"{row.files:,}"})
for table, n in sorted(raw_recorded.get("rows", {}).items()):
    layer_rows.append({"layer": "raw (at last ingest)", "table": table, "rows": n, "files": DASH})
if has_gold:
    for mart, n in queries.mart_rows().items():
        layer_rows.append({"layer": "gold", "table": mart, "rows": n, "files": DASH})
left.dataframe(pd.DataFrame(layer_rows, columns=["layer", "table", "rows", "files"]), hide_index=True, height=420)

with right:
    now = datetime.now(UTC)
    facts = []
    if has_gold:
        published = snapshot.published()
        facts.append(("gold published", f"{published:%Y-%m-%d %H:%M} UTC", ago(published, now)))
        for r in queries.freshness().itertuples():
            facts.append((f"{r.dataset}: newest crash", stamp(r.latest_crash_ts), "(crash time, Chicago local)"))
            facts.append(
                (
                    f"{r.dataset}: newest Socrata update",
                    stamp(r.latest_source_updated_at),
                    ago(r.latest_source_updated_at, now),
                )
            )
            facts.append((f"{r.dataset}: last load", stamp(r.last_loaded_at), ago(r.last_loaded_at, now)))
    newest = raw_recorded.get("newest", {})
    if newest:
        facts.append(("raw at last ingest: newest crash", newest.get("crash_date") or DASH, ""))
    st.dataframe(pd.DataFrame(facts, columns=["fact", "value", "age"]), hide_index=True, height=420)

# ----------------------------------------------------------------------------- runs
st.subheader("Last runs")


@st.fragment
def last_runs() -> None:
    """A fragment: choosing a run redraws its stages, not the health probes and bronze listing."""
    recent = queries.runs_table(10)
    if recent.empty:
        st.info("No runs yet: `crashes run`, `crashes demo`, or the Ingest page.")
        return
    st.dataframe(runs_frame(recent).drop(columns=["stages"]), hide_index=True)
    run_id = st.selectbox("Stages of run", recent["id"].tolist(), format_func=lambda i: f"#{i}")
    st.dataframe(stages_frame(int(run_id)), hide_index=True)


last_runs()

# ----------------------------------------------------------------------------- model
st.subheader("Current model")
model = current_model()
if model is None:
    st.info("No model registered yet: the next pipeline run trains one (or use the Model page).")
else:
    st.markdown(f"**{model.describe()}**")
    if model.test_metrics:
        st.dataframe(pd.DataFrame([model.test_metrics]), hide_index=True)
