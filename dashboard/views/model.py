"""Model: the current model against its baselines, calibration and precision–recall on the test
year, feature importances, every version; train a new one (separate process); score a crash from
a form or a CSV of crashes."""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from crashes.errors import CrashesError
from dashboard import figures, progress, queries, scoring
from dashboard.jobs import command
from dashboard.model_view import current_view, versions
from dashboard.ui import gold_missing, page_title
from orchestration.runs import record_event

WEEKDAYS = {1: "Sunday", 2: "Monday", 3: "Tuesday", 4: "Wednesday", 5: "Thursday", 6: "Friday", 7: "Saturday"}
FORM_CATEGORIES = (
    "lighting_condition",
    "weather_condition",
    "first_crash_type",
    "trafficway_type",
    "roadway_surface_cond",
    "traffic_control_device",
    "beat_of_occurrence",
)

page_title("Model")
view = current_view()
has_gold = not gold_missing()

# ----------------------------------------------------------------------------- current model
if view is None:
    st.info("No model is registered yet. Train one below (or run the pipeline: it trains when none exists).")
else:
    st.markdown(
        f"**Current model `{view.version}`** · trained {view.created or 'at an unknown time'} · "
        f"decision threshold {f'{view.threshold:.3f}' if view.threshold is not None else '–'} · "
        f"test year {view.test_year or '–'}"
    )
    metrics = view.metrics_table()
    if metrics.empty:
        st.warning("Its metadata.json holds no metrics this page can read.")
    else:
        st.markdown("**Metrics vs baselines** (validation chooses the threshold; test is the unseen year)")
        st.dataframe(metrics, hide_index=True)

    left, right = st.columns(2)
    year = view.test_year
    stored = view.calibration("test")
    if {"predicted", "observed"} <= set(stored.columns):
        right.plotly_chart(figures.calibration(stored["predicted"], stored["observed"], f"test year {year}"))
    scores = queries.score_summary() if has_gold else {}
    if scores.get("scored") and year:
        pr = queries.pr_curve(year, view.version)
        if len(pr):
            left.plotly_chart(figures.precision_recall(pr, f"test year {year}"))
        calibration_from = "the registry's test-year table"
        if not {"predicted", "observed"} <= set(stored.columns):
            computed = queries.calibration(year, view.version)
            right.plotly_chart(figures.calibration(computed["mean_predicted"], computed["observed"], f"{year}"))
            calibration_from = "the same scores"
        st.caption(
            f"Precision–recall from the {scores['scored']:,} scores in gold, restricted to the test year "
            f"{year} and this model version; calibration from {calibration_from}."
        )
    else:
        left.info("No scores of this model in gold yet: the pipeline's score stage writes them.")

    importances = view.importances()
    if len(importances):
        top = importances.head(20).iloc[::-1]
        fig = go.Figure(go.Bar(x=top["importance"], y=top["feature"], orientation="h"))
        fig.update_layout(title="Feature importances (share of total gain)", height=520)
        st.plotly_chart(fig)

st.subheader("Versions")
history = versions()
if len(history):
    st.dataframe(history, hide_index=True)
else:
    st.caption("No model versions registered.")

# ----------------------------------------------------------------------------- train
st.subheader("Train a new model")
st.caption(
    "Retrains on the current gold and rescores every crash, in a separate process; the run shows in "
    "the history with trigger `dashboard`."
)
if st.button("Train and score", key="train"):
    progress.start_and_track(command("train"))
job = progress.tracked()
if job is not None and job.job == "train":
    progress.show(job)

# ----------------------------------------------------------------------------- score
st.subheader("Score a hypothetical crash")
if view is None:
    st.info("Scoring needs a registered model.")
    st.stop()
if not has_gold:
    st.stop()
choices = queries.feature_values(FORM_CATEGORIES)
medians = queries.feature_medians(("latitude", "longitude", "posted_speed_limit", "num_units"))
with st.form("predict"):
    c1, c2, c3 = st.columns(3)
    values = {
        "crash_hour": c1.slider("Hour", 0, 23, 2),
        "crash_day_of_week": c1.selectbox("Day of week", list(WEEKDAYS), format_func=WEEKDAYS.__getitem__, index=6),
        "crash_month": c1.slider("Month", 1, 12, 7),
        "posted_speed_limit": c2.number_input("Posted speed limit", 0, 99, int(medians.get("posted_speed_limit", 30))),
        "num_units": c2.number_input("Units involved", 1, 20, int(medians.get("num_units", 2))),
        "latitude": c2.number_input("Latitude", 41.64, 42.03, float(medians.get("latitude", 41.88)), format="%.4f"),
        "longitude": c2.number_input(
            "Longitude", -87.95, -87.52, float(medians.get("longitude", -87.68)), format="%.4f"
        ),
        "is_intersection_related": c3.checkbox("Intersection related"),
    }
    for i, column in enumerate(FORM_CATEGORIES):
        options = choices.get(column, [])
        col = (c1, c2, c3)[i % 3]
        values[column] = col.selectbox(
            column.replace("_", " ").capitalize(),
            ["(unknown)", *options],
            index=1 if options else 0,
            key=f"form_{column}",
        )
    submitted = st.form_submit_button("Score this crash", type="primary")
if submitted:
    values = {k: (None if v == "(unknown)" else v) for k, v in values.items()}
    try:
        scored = scoring.predict(values)
    except (CrashesError, ValueError, KeyError) as exc:
        st.error(f"Could not score it: {exc}")
    else:
        record_event("prediction", {"source": "dashboard", "model": view.version, "probability": scored.probability})
        st.session_state["prediction"] = scored
        st.session_state["prediction_record"] = scoring.record(values)
scored = st.session_state.get("prediction")
if scored is not None:
    verdict = "flagged as a likely hit-and-run" if scored.decision else "not flagged"
    st.metric("Hit-and-run probability", f"{scored.probability:.1%}")
    st.caption(f"Model {scored.model_version}: {verdict} (threshold {scored.threshold:.1%}).")
    top = scored.contributions.head(12).iloc[::-1]
    if len(top):
        fig = go.Figure(
            go.Bar(
                x=top["contribution"],
                y=top["feature"].astype(str) + " = " + top["value"].astype(str),
                orientation="h",
                marker_color=["#e45756" if v > 0 else "#4c78a8" for v in top["contribution"]],
            )
        )
        fig.update_layout(title="What moved this score (contribution to the log-odds)", height=420)
        st.plotly_chart(fig)

st.subheader("Score a CSV of crashes")
st.caption(
    "One crash per row; columns named like the feature mart (crash_hour, crash_day_of_week 1 = Sunday, "
    "latitude, longitude, lighting_condition, …), optional crash_record_id. Rows with invalid values are "
    "listed and left out; the rest are scored."
)
upload = st.file_uploader("CSV file", type=["csv"], key="upload")


@st.cache_data(max_entries=4, show_spinner="Scoring the file …")
def score_upload(data: bytes, version: str) -> tuple[scoring.Checked, pd.DataFrame]:
    """Checked and scored once per file and model: the uploader keeps its file across reruns
    (a form submit, a training poll), which must not rescore it each time."""
    checked = scoring.check(scoring.read_csv(data))
    return checked, scoring.score_rows(checked.rows) if len(checked.rows) else checked.rows


if upload is not None:
    try:
        checked, result = score_upload(upload.getvalue(), view.version)
    except CrashesError as exc:
        st.error(f"{upload.name}: {exc}")
    else:
        st.success(f"{upload.name}: {len(result):,} of {checked.total_rows:,} rows scored.")
        if checked.bad_rows:
            st.warning(f"{checked.bad_rows:,} rows left out for invalid values:")
            st.dataframe(checked.problems, hide_index=True)
        if checked.ignored_columns:
            st.caption("Ignored columns (not model inputs): " + ", ".join(checked.ignored_columns))
        if len(result):
            st.dataframe(result, hide_index=True)
            st.download_button(
                "Download the scores",
                result.to_csv(index=False).encode(),
                file_name=f"scored_{upload.name}",
                mime="text/csv",
            )
