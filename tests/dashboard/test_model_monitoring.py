"""The Model page's monitoring chart: the demo's marts.ml_monitoring_monthly month by month (score
PSI, calibration error, ROC-AUC, PR-AUC) with the current model's training window shaded."""

from __future__ import annotations

import base64
import json

import numpy as np
import pytest

from tests.dashboard.conftest import Demo, require_model


def _values(encoded: object) -> list:
    """A Plotly trace's values: a list, or the typed array Plotly 6 writes as base64."""
    if isinstance(encoded, dict):
        return np.frombuffer(base64.b64decode(encoded["bdata"]), dtype=encoded["dtype"]).tolist()
    return list(encoded)  # type: ignore[call-overload]


def test_model_page_charts_each_month_with_the_training_window_marked(demo: Demo, app) -> None:  # noqa: ANN001
    require_model(demo)
    from ml.registry import current_model

    model = current_model()
    assert model is not None
    rows = demo.sql(
        "select score_psi, calibration_error, roc_auc, pr_auc from marts.ml_monitoring_monthly"
        " where model_version = ? order by month_start",
        [model.version],
    )
    assert len(rows) >= 12
    at = app.switch_page("views/model.py").run()
    assert not at.exception
    specs = [json.loads(c.proto.spec) for c in at.get("plotly_chart")]
    (spec,) = [s for s in specs if "Model monitoring" in json.dumps(s["layout"].get("title", ""))]
    traces = {t["name"]: _values(t["y"]) for t in spec["data"]}
    for i, name in enumerate(("score PSI", "calibration error", "ROC-AUC", "PR-AUC")):
        expected = [r[i] for r in rows]
        assert traces[name] == pytest.approx(expected, nan_ok=True), name
    first, last = model.metadata["split"]["train_years"]
    windows = [s for s in spec["layout"]["shapes"] if s.get("type") == "rect"]
    assert windows and all(
        str(s["x0"]).startswith(f"{first}-01-01") and str(s["x1"]).startswith(f"{last + 1}-01-01") for s in windows
    )
    assert any("Latest month" in c.value for c in at.caption)
