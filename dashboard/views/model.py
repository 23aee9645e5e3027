"""Model: the current model against its baselines, calibration and precision–recall on the test
year, feature importances, every version; train a new one (separate process); score a crash from
a form or a CSV of crashes."""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from crashes.errors import CrashesError
from dashboard import figures, progress, queries, scoring
from dashboard.amendments import label_delay_note
from dashboard.jobs import command
from dashboard.model_view import current_view, versions
from dashboard.ui import gold_missing, page_title
from ml.features import feature_label
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

PURPOSE = (
    "**What the score is for:** ranking crashes and places for follow-up — which reports to canvass "
    "first, which beats and corridors to look at — not judging one crash. Each score is a calibrated "
    "probability (of crashes scored 30 %, about 30 % were hit-and-runs); a crash is *flagged* only when "
    "it falls in the risk band you pick below, whose precision on the unseen test year is shown."
)

# ----------------------------------------------------------------------------- current model
st.markdown(PURPOSE)
if has_gold and (label_note := label_delay_note()):
    st.caption(label_note)  # how often the label itself changes after the first load (the audit)
if has_gold and (missing := queries.missing_datasets()):
    st.info(
        f"No {' and '.join(missing)} loaded yet: nothing on this page needs them. The model's features come "
        "from the crash records only (what is known at the scene, never units or people), so its scores "
        "are unaffected."
    )
if view is None:
    st.info("No model is registered yet. Train one below (or run the pipeline: it trains when none exists).")
else:
    st.markdown(
        f"**Current model `{view.version}`** · trained {view.created or 'at an unknown time'} · "
        f"test year {view.test_year or '–'}"
    )
    selection = view.selection
    if selection and not selection.get("model_is_best", True):
        st.warning(f"Baseline check: {selection['note']}.")
    elif selection:
        st.caption(f"Baseline check: {selection['note']}.")

    bands = view.bands()
    year = view.risk_year or view.test_year
    if bands.empty:
        st.warning("This model version records no risk bands: retrain it to see them.")
        band = None
    else:
        st.markdown(f"**Risk bands** (score cuts and figures on the test year {year})")
        st.dataframe(
            bands.rename(
                columns={
                    "min_score": "score from",
                    "band_rows": "crashes in band",
                    "band_precision": "hit-and-run share in band",
                    "flagged": "crashes at or above",
                    "precision": "precision at or above",
                    "recall": "recall at or above",
                    "lift": "lift at or above",
                }
            )[
                [
                    "band",
                    "score from",
                    "crashes in band",
                    "hit-and-run share in band",
                    "crashes at or above",
                    "precision at or above",
                    "recall at or above",
                    "lift at or above",
                ]
            ],
            hide_index=True,
            key="bands_table",
        )
        pickable = [b for b in bands["band"] if b != "rest"]
        picked = st.selectbox("Flag the crashes in", pickable, index=min(1, len(pickable) - 1), key="band")
        band = bands[bands["band"] == picked].iloc[0]
        st.markdown(
            f"Flagging the **{picked}** of {year}'s crashes (score ≥ {band['min_score']:.1%}): "
            f"{int(band['flagged']):,} crashes flagged, **precision {band['precision']:.2f}**, recall "
            f"{band['recall']:.2f}, lift {band['lift']:.1f}× over the year's share of hit-and-runs."
        )
        confusion = pd.DataFrame(
            {
                "recorded": ["hit-and-run", "not hit-and-run"],
                "flagged": [int(band["tp"]), int(band["fp"])],
                "not flagged": [int(band["fn"]), int(band["tn"])],
            }
        )
        st.markdown(f"**Confusion matrix at this operating point** ({year})")
        st.dataframe(confusion, hide_index=True, key="confusion")
        top_k = view.precision_at_k()
        if len(top_k):
            st.markdown(f"**Precision at the top k** (the k highest scores of {year})")
            st.dataframe(top_k, hide_index=True, key="precision_at_k")

    left, right = st.columns(2)
    stored = view.calibration("test")
    if {"predicted", "observed"} <= set(stored.columns):
        right.plotly_chart(figures.calibration(stored["predicted"], stored["observed"], f"test year {year}"))
    scores = queries.score_summary() if has_gold else {}
    if scores.get("scored") and year:
        pr = queries.pr_curve(year, view.version)
        if len(pr) and band is not None:
            left.plotly_chart(
                figures.precision_recall_at(
                    pr, f"test year {year}", float(band["recall"]), float(band["precision"]), str(band["band"])
                )
            )
        elif len(pr):
            left.plotly_chart(figures.precision_recall(pr, f"test year {year}"))
        calibration_from = "the registry's test-year table"
        if not {"predicted", "observed"} <= set(stored.columns):
            computed = queries.calibration(year, view.version)
            right.plotly_chart(figures.calibration(computed["mean_predicted"], computed["observed"], f"{year}"))
            calibration_from = "the same scores"
        st.caption(
            f"Precision–recall from the {scores['scored']:,} scores in gold, restricted to the test year "
            f"{year} and this model version (the dot is the band picked above); calibration from "
            f"{calibration_from}."
        )
    else:
        left.info("No scores of this model in gold yet: the pipeline's score stage writes them.")

    metrics = view.metrics_table()
    if metrics.empty:
        st.warning("Its metadata.json holds no metrics this page can read.")
    else:
        st.markdown(
            "**Metrics vs baselines** (ROC-AUC, PR-AUC and lift judge the ranking; F1, precision and recall "
            "are at each model's F1-best cut on validation, for comparing models only)"
        )
        st.dataframe(metrics, hide_index=True, key="metrics_table")

    importances = view.importances()
    if len(importances):
        top = importances.head(20).iloc[::-1]
        fig = go.Figure(go.Bar(x=top["importance"], y=top["meaning"], orientation="h"))
        fig.update_layout(title="Feature importances (share of total gain)", height=520)
        st.plotly_chart(fig)

    st.markdown("**Monitoring** (each month of crash date against the training window; marts.ml_monitoring_monthly)")
    monthly = queries.monitoring(view.version) if has_gold else pd.DataFrame()
    if len(monthly):
        st.plotly_chart(figures.monitoring(monthly, view.train_years))
        latest = monthly.iloc[-1]
        st.caption(
            f"Latest month {latest['month_start']:%Y-%m}: {int(latest['crashes_scored']):,} crashes, score PSI "
            f"{latest['score_psi']:.3f}, calibration error {latest['calibration_error']:.3f} (test year's "
            f"{latest['reference_calibration_error']:.3f}), most drifted input "
            f"{feature_label(str(latest['most_drifted_feature']))} (PSI {latest['max_feature_psi']:.3f}); "
            "the training window's scores are in-sample. marts.ml_monitoring_drift has every input's PSI."
        )
    else:
        st.info("No monitoring figures for this model in gold yet: they are built with its scores.")

st.subheader("Versions")
history = versions()
if len(history):
    st.dataframe(history, hide_index=True, key="versions_table")
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
        "crash_hour": c1.slider("Hour", 0, 23, scoring.FORM_DEFAULTS["crash_hour"], key="form_crash_hour"),
        "crash_day_of_week": c1.selectbox(
            "Day of week",
            list(WEEKDAYS),
            format_func=WEEKDAYS.__getitem__,
            index=list(WEEKDAYS).index(scoring.FORM_DEFAULTS["crash_day_of_week"]),
        ),
        "crash_month": c1.slider("Month", 1, 12, scoring.FORM_DEFAULTS["crash_month"]),
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
            feature_label(column).capitalize(),
            ["(unknown)", *options],
            index=scoring.default_choice(column, options),
            key=f"form_{column}",
        )
    submitted = st.form_submit_button("Score this crash", type="primary")
if submitted:
    values = {k: (None if v == "(unknown)" else v) for k, v in values.items()}
    if not scoring.lighting_fits_hour(values.get("lighting_condition"), int(values["crash_hour"])):
        st.warning(
            f"Lighting {values['lighting_condition']} at {values['crash_hour']}:00 is an unusual combination: "
            "the score is for it as given."
        )
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
    st.metric("Hit-and-run risk (calibrated probability)", f"{scored.probability:.1%}")
    st.markdown(f"Risk band: **{scored.band_summary or scored.band}**")
    st.caption(
        f"Model {scored.model_version}. The score places this crash among others for follow-up; it is not a "
        "judgement of this one crash."
    )
    top = scored.contributions.head(12).iloc[::-1]
    if len(top):
        fig = go.Figure(
            go.Bar(
                x=top["contribution"],
                y=top["label"].astype(str) + ": " + top["shown"].astype(str),
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
