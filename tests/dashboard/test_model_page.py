"""The Model page against the ml package's own registry and scorer: metrics as the registry
recorded them, a prediction equal to `ml.score.predict_one`'s, and a CSV of real crashes scored
to the probabilities the pipeline stored in gold, its bad rows reported."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from tests.dashboard.conftest import Demo, require_model


def _current_metadata(demo: Demo) -> dict:
    from ml.registry import current_model

    model = current_model()
    assert model is not None, "the demo run trained no model"
    return json.loads((model.path / "metadata.json").read_text())


def _table(at, column: str) -> pd.DataFrame:  # noqa: ANN001 - AppTest
    """The first table on the page with this column."""
    return next(d.value for d in at.dataframe if column in d.value.columns)


def _page_text(at) -> str:  # noqa: ANN001 - AppTest
    return "\n".join(e.value for kind in ("markdown", "caption", "info", "warning", "success") for e in at.get(kind))


def test_model_page_shows_the_registrys_metrics_and_versions(demo: Demo, app) -> None:  # noqa: ANN001
    require_model(demo)
    meta = _current_metadata(demo)
    at = app.switch_page("views/model.py").run()
    assert not at.exception
    assert any(f"`{meta['version']}`" in m.value for m in at.markdown)
    table = _table(at, "roc_auc")
    test_row = table[(table["split"] == "test") & (table["model"] == "model")].iloc[0]
    for metric in ("roc_auc", "pr_auc", "f1", "brier"):
        assert test_row[metric] == pytest.approx(meta["metrics"]["test"][metric])
    for baseline, figures in meta["baselines"].items():
        row = table[(table["split"] == "test") & (table["model"] == baseline)].iloc[0]
        assert row["pr_auc"] == pytest.approx(figures["test"]["pr_auc"])
    versions = _table(at, "current")
    assert meta["version"] in set(versions["version"]) and versions["current"].sum() == 1
    assert len(at.get("plotly_chart")) >= 2  # precision-recall, calibration (+ importances)


def test_model_page_scores_a_crash_from_the_form(demo: Demo, app) -> None:  # noqa: ANN001
    require_model(demo)
    from ml.score import predict_one
    from orchestration import runs

    with runs.connect() as con:
        before = con.execute("SELECT count(*) FROM events WHERE kind = 'prediction'").fetchone()[0]
    at = app.switch_page("views/model.py").run()
    next(b for b in at.button if b.label == "Score this crash").click().run()
    assert not at.exception and not at.error
    scored = at.session_state["prediction"]
    expected = predict_one(at.session_state["prediction_record"]).probability
    assert scored.probability == pytest.approx(expected)
    shown = next(m for m in at.metric if m.label == "Hit-and-run risk (calibrated probability)")
    assert shown.value == f"{expected:.1%}"
    assert len(scored.contributions) > 0
    with runs.connect() as con:
        assert con.execute("SELECT count(*) FROM events WHERE kind = 'prediction'").fetchone()[0] == before + 1


def test_model_page_scores_a_csv_and_reports_bad_rows(demo: Demo, app) -> None:  # noqa: ANN001
    require_model(demo)
    from ml.features import INPUT_COLUMNS

    columns = ", ".join(["crash_record_id", *INPUT_COLUMNS])
    good = pd.DataFrame(
        demo.sql(f"select {columns} from marts.ml_hit_and_run_features order by crash_record_id limit 6"),  # noqa: S608
        columns=["crash_record_id", *INPUT_COLUMNS],
    )
    bad = good.head(2).copy()
    bad["crash_record_id"] = ["bad-hour", "bad-latitude"]
    bad["crash_hour"] = ["25", str(good["crash_hour"].iloc[1])]
    bad["latitude"] = [str(good["latitude"].iloc[0]), "not a number"]
    upload = pd.concat([good.astype(object), bad.astype(object)], ignore_index=True)
    data = upload.to_csv(index=False).encode()

    at = app.switch_page("views/model.py").run()
    at.file_uploader(key="upload").set_value(("crashes.csv", data, "text/csv")).run()
    assert not at.exception and not at.error
    assert at.success and at.success[0].value.startswith("crashes.csv: 6 of 8 rows scored")
    assert any("2 rows left out" in w.value for w in at.warning)
    problems = at.dataframe[-2].value
    assert set(problems["line"]) == {8, 9} and set(problems["column"]) == {"crash_hour", "latitude"}

    scored = at.dataframe[-1].value.set_index("crash_record_id")["probability"]
    stored = dict(
        demo.sql(
            "select crash_record_id, probability from marts.ml_hit_and_run_scores where crash_record_id in "
            "(select unnest(?::varchar[]))",
            [list(good["crash_record_id"])],
        )
    )
    assert len(stored) == 6
    for crash_id, probability in stored.items():
        assert scored[crash_id] == pytest.approx(probability, abs=1e-6)


def test_model_page_presents_risk_bands_not_a_fixed_threshold(demo: Demo, app) -> None:  # noqa: ANN001
    require_model(demo)
    meta = _current_metadata(demo)
    at = app.switch_page("views/model.py").run()
    assert not at.exception
    text = _page_text(at)
    assert "What the score is for:** ranking crashes and places for follow-up" in text
    assert "not judging one crash" in text
    assert "decision threshold" not in text and f"{meta['threshold']:.3f}" not in text
    assert "flagged as likely" not in text and "flagged as a likely" not in text
    # The baseline comparison is said, as a warning when the baseline wins on validation.
    selection = meta["selection"]
    assert any(selection["note"] in w.value for w in at.warning) == (not selection["model_is_best"])

    bands = {b["band"]: b for b in meta["risk"]["bands"]}
    shown = _table(at, "precision at or above").set_index("band")
    assert list(shown.index) == list(bands)
    for name, band in bands.items():
        assert shown.loc[name, "crashes in band"] == band["band_rows"]
    selector = at.selectbox(key="band")
    assert selector.options == ["top 1 %", "top 5 %", "top 10 %"]
    for pick in ("top 1 %", "top 10 %"):
        selector.set_value(pick).run()
        band = bands[pick]
        confusion = _table(at, "not flagged").set_index("recorded")
        assert confusion.loc["hit-and-run", "flagged"] == band["tp"]
        assert confusion.loc["not hit-and-run", "flagged"] == band["fp"]
        assert confusion.loc["hit-and-run", "not flagged"] == band["fn"]
        assert confusion.loc["not hit-and-run", "not flagged"] == band["tn"]
        assert any(f"precision {band['precision']:.2f}" in m.value and pick in m.value for m in at.markdown)
        charts = [json.loads(c.proto.spec) for c in at.get("plotly_chart")]
        pr = next(c for c in charts if "Precision–recall" in c["layout"]["title"]["text"])
        point = next(t for t in pr["data"] if t.get("name") == "operating point")
        assert point["x"] == [pytest.approx(band["recall"])] and point["y"] == [pytest.approx(band["precision"])]
    top_k = _table(at, "k")
    assert list(top_k["k"]) == [r["k"] for r in meta["risk"]["precision_at_k"]] and len(top_k) > 0
    assert top_k["precision"].tolist() == pytest.approx([r["precision"] for r in meta["risk"]["precision_at_k"]])


def test_model_page_prediction_speaks_in_risk_and_human_names(demo: Demo, app) -> None:  # noqa: ANN001
    require_model(demo)
    from dashboard.scoring import lighting_fits_hour
    from ml.features import FEATURE_LABELS

    at = app.switch_page("views/model.py").run()
    hour = at.slider(key="form_crash_hour").value
    lighting = at.selectbox(key="form_lighting_condition").value
    assert lighting_fits_hour(lighting, hour), f"the form starts at {hour}:00 with {lighting}"
    next(b for b in at.button if b.label == "Score this crash").click().run()
    assert not at.exception and not at.error
    scored = at.session_state["prediction"]
    assert any(f"Risk band: **{scored.band_summary}**" == m.value for m in at.markdown)
    assert scored.band in {b["band"] for b in _current_metadata(demo)["risk"]["bands"]}
    assert set(scored.contributions["label"]) <= set(FEATURE_LABELS.values())
    charts = [json.loads(c.proto.spec) for c in at.get("plotly_chart")]
    moved = next(c for c in charts if "What moved this score" in c["layout"]["title"]["text"])
    labels = moved["data"][0]["y"]
    assert labels and not any("_" in label.split(":")[0] for label in labels)
    about = [
        e.value
        for e in (*at.markdown, *at.caption)
        if "Risk band:" in e.value or f"Model {scored.model_version}." in e.value
    ]
    assert len(about) == 2 and not any("flagged" in t or "threshold" in t for t in about), about
