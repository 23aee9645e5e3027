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


def test_model_page_shows_the_registrys_metrics_and_versions(demo: Demo, app) -> None:  # noqa: ANN001
    require_model(demo)
    meta = _current_metadata(demo)
    at = app.switch_page("views/model.py").run()
    assert not at.exception
    assert any(f"`{meta['version']}`" in m.value for m in at.markdown)
    table = at.dataframe[0].value
    test_row = table[(table["split"] == "test") & (table["model"] == "model")].iloc[0]
    for metric in ("roc_auc", "pr_auc", "f1", "brier"):
        assert test_row[metric] == pytest.approx(meta["metrics"]["test"][metric])
    for baseline, figures in meta["baselines"].items():
        row = table[(table["split"] == "test") & (table["model"] == baseline)].iloc[0]
        assert row["pr_auc"] == pytest.approx(figures["test"]["pr_auc"])
    versions = at.dataframe[1].value
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
    assert next(m for m in at.metric if m.label == "Hit-and-run probability").value == f"{expected:.1%}"
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
    assert at.warning and "2 rows left out" in at.warning[0].value
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
