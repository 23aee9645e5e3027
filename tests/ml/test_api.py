"""The scoring API over real HTTP: `crashes api` in a subprocess on a free 127.0.0.1 port, serving
the session's trained model. Its scores are `crashes predict`'s, a bad value is a 422 naming the
crash and field, a new current model is served from the next request, and /metrics counts."""

from __future__ import annotations

import math
import os
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families
from typer.testing import CliRunner

from ml import registry
from ml.data import SCORING_COLUMNS, read_mart
from ml.features import KEY, model_features
from ml.inputs import KNOWN
from ml.score import predict_one, score_frame
from tests.ml.conftest import Trained
from tests.ml.test_score import NIGHT_PARKED
from tests.orchestration.monitoring import free_port

PROJECT = Path(__file__).resolve().parents[2]
CRASHES = PROJECT / ".venv" / "bin" / "crashes"
STARTS_WITHIN_S = 60.0  # importing fastapi, pandas, scikit-learn and xgboost on a busy 2-core machine


@dataclass(frozen=True)
class Api:
    url: str
    home: Path
    version: str  # the version current when the server started
    proc: subprocess.Popen[str]


def _wait_healthy(url: str, proc: subprocess.Popen[str] | None = None) -> requests.Response:
    deadline = time.monotonic() + STARTS_WITHIN_S
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"`crashes api` exited {proc.returncode}: {proc.stderr.read() if proc.stderr else ''}")
        try:
            return requests.get(f"{url}/healthz", timeout=5)
        except requests.ConnectionError:
            time.sleep(0.1)
    raise AssertionError(f"{url} never answered /healthz")


@pytest.fixture(scope="module")
def api(trained: Trained, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    """`crashes api` on a home of its own holding a copy of the trained model, so the reload test
    can make other models current without touching the session's home."""
    home = tmp_path_factory.mktemp("api-home")
    shutil.copytree(trained.home / "models", home / "models")
    port = free_port()
    env = {**os.environ, "CRASHES_HOME": str(home)}
    proc = subprocess.Popen(
        [str(CRASHES), "api", "--port", str(port)], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    url = f"http://127.0.0.1:{port}"
    try:
        assert _wait_healthy(url, proc).status_code == 200
        yield Api(url=url, home=home, version=trained.result.version, proc=proc)  # type: ignore[attr-defined]
    finally:
        proc.send_signal(signal.SIGTERM)  # what `docker stop` sends
        try:
            code = proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            raise
    # uvicorn shuts down gracefully, then ends itself with the signal it caught (docker reports 143).
    assert code == -signal.SIGTERM, proc.stderr.read() if proc.stderr else code


@pytest.fixture
def in_api_home(api: Api, monkeypatch: pytest.MonkeyPatch) -> Api:
    """In-process scoring (`predict_one`, `crashes predict`) reads the same registry as the server."""
    monkeypatch.setenv("CRASHES_HOME", str(api.home))
    return api


def _score(api: Api, crashes: list[dict[str, Any]], **params: Any) -> requests.Response:
    return requests.post(f"{api.url}/v1/score", json={"crashes": crashes}, params=params, timeout=60)


def _json_records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Mart rows as a client would send them: JSON values, missing as null."""
    records = frame.astype(object).where(frame.notna(), None).to_dict("records")
    return [{k: (v.item() if hasattr(v, "item") else v) for k, v in r.items()} for r in records]


# --------------------------------------------------------------------------- scores
def test_one_crash_scores_as_crashes_predict(in_api_home: Api) -> None:
    response = _score(in_api_home, [NIGHT_PARKED | {KEY: "my-1"}], top=8)
    assert response.status_code == 200, response.text
    body = response.json()
    (got,) = body["scores"]
    expected = predict_one(NIGHT_PARKED)
    assert body["model_version"] == expected.model_version == in_api_home.version
    assert got["crash_record_id"] == "my-1"
    assert got["probability"] == pytest.approx(expected.probability, rel=1e-12)
    assert got["margin"] == pytest.approx(expected.margin, rel=1e-9)
    assert got["bias"] == pytest.approx(expected.bias, rel=1e-9)
    assert (got["risk_band"], got["risk_band_summary"]) == (expected.band, expected.band_summary)
    assert got["predicted_hit_and_run"] == expected.predicted
    assert [c["feature"] for c in got["contributions"]] == [c["feature"] for c in expected.contributions[:8]]
    for mine, theirs in zip(got["contributions"], expected.contributions, strict=False):
        assert mine["contribution"] == pytest.approx(theirs["contribution"], rel=1e-9)
        assert (mine["label"], mine["value"], mine["shown"]) == (theirs["label"], theirs["value"], theirs["shown"])
    # What `crashes predict` prints for the same crash: the same probability and band.
    from orchestration.cli import app

    printed = CliRunner().invoke(app, ["predict", "--json", pd.Series(NIGHT_PARKED).to_json()])
    assert printed.exit_code == 0, printed.output
    assert f"hit-and-run risk {got['probability']:.1%}" in printed.output
    assert f"risk band: {got['risk_band_summary']}" in printed.output


def test_a_batch_scores_every_crash_as_one_by_one(in_api_home: Api, trained: Trained) -> None:
    mart = read_mart(SCORING_COLUMNS, trained.gold).sample(200, random_state=1)
    crashes = _json_records(mart)
    response = _score(in_api_home, crashes, top=3)
    assert response.status_code == 200, response.text
    scores = response.json()["scores"]
    assert [s["crash_record_id"] for s in scores] == mart[KEY].tolist()
    assert all(len(s["contributions"]) == 3 for s in scores)
    # The frame path (`score_frame`, as a CSV upload) on the mart's own rows gives the same numbers...
    framed = score_frame(mart.drop(columns=[KEY]))
    assert [s["probability"] for s in scores] == pytest.approx(framed["probability"].tolist(), rel=1e-12)
    assert [s["risk_band"] for s in scores] == framed["risk_band"].tolist()
    # ...and so does `crashes predict` for each crash, contributions and all.
    for crash, got in list(zip(crashes, scores, strict=True))[:5]:
        one = predict_one({k: v for k, v in crash.items() if k != KEY})
        assert got["probability"] == pytest.approx(one.probability, rel=1e-12)
        assert [c["contribution"] for c in got["contributions"]] == pytest.approx(
            [c["contribution"] for c in one.contributions[:3]], rel=1e-9
        )
    # The contributions of each crash still add up to its calibrated log-odds, exact or approximate
    # (same scores either way), and none at all asked for is the same scores without them.
    exact = _score(in_api_home, crashes[:20], top=100).json()["scores"]
    approx = _score(in_api_home, crashes[:20], top=100, contributions="approx").json()["scores"]
    for got in (*exact, *approx):
        total = got["bias"] + sum(c["contribution"] for c in got["contributions"])
        assert total == pytest.approx(got["margin"], abs=1e-4)
        assert 1 / (1 + math.exp(-got["margin"])) == pytest.approx(got["probability"], abs=1e-6)
    assert [s["probability"] for s in approx] == [s["probability"] for s in exact]
    assert any(a["contributions"] != e["contributions"] for a, e in zip(approx, exact, strict=True))
    bare = _score(in_api_home, crashes[:20], top=0).json()["scores"]
    assert [(s["probability"], s["bias"]) for s in bare] == [(s["probability"], s["bias"]) for s in exact]
    assert all(s["contributions"] == [] for s in bare)


# --------------------------------------------------------------------------- bad input
@pytest.mark.parametrize(
    ("body", "loc", "msg"),
    [
        ({}, ["body", "crashes"], "Field required"),
        ({"crashes": []}, ["body", "crashes"], "at least 1 item"),
        ({"crashes": {"crash_hour": 2}}, ["body", "crashes"], "valid list"),
        ({"crashes": [{"crash_hour": "two"}]}, ["body", "crashes", 0, "crash_hour"], "crash_hour must be a number"),
        ({"crashes": [{"crash_hour": 24}]}, ["body", "crashes", 0, "crash_hour"], "must be between 0 and 23, got 24"),
        ({"crashes": [{}, {}, {"crash_hour": -1}]}, ["body", "crashes", 2, "crash_hour"], "between 0 and 23, got -1"),
        ({"crashes": [{"num_units": 2.5}]}, ["body", "crashes", 0, "num_units"], "num_units must be a whole number"),
        ({"crashes": [{"crash_day_of_week": True}]}, ["body", "crashes", 0, "crash_day_of_week"], "must be a number"),
        ({"crashes": [{"first_crash_type": ["A"]}]}, ["body", "crashes", 0, "first_crash_type"], "must be text"),
        ({"crashes": [{"is_work_zone": "maybe"}]}, ["body", "crashes", 0, "is_work_zone"], "must be true/false"),
        ({"crashes": [{"latitude": 40.0}]}, ["body", "crashes", 0, "latitude"], "latitude must be between 41.64"),
        ({"crashes": [{"injuries_total": 2}]}, ["body", "crashes", 0, "injuries_total"], "unknown field"),
        ({"crashes": [{"lane_cnt": 2}]}, ["body", "crashes", 0, "lane_cnt"], "lane_cnt is not a model input"),
        ({"crashes": [{"crash_record_id": ["x"]}]}, ["body", "crashes", 0, "crash_record_id"], "valid string"),
    ],
)
def test_bad_input_is_a_422_naming_the_field(api: Api, body: dict[str, Any], loc: list[Any], msg: str) -> None:
    response = requests.post(f"{api.url}/v1/score", json=body, timeout=30)
    assert response.status_code == 422, response.text
    (error,) = response.json()["detail"]
    assert error["loc"] == loc and msg in error["msg"], error


def test_every_bad_value_of_a_batch_is_named_and_nothing_is_scored(api: Api) -> None:
    crashes = [NIGHT_PARKED, NIGHT_PARKED | {"crash_hour": 99, "is_work_zone": "maybe"}, {"crash_month": 0}]
    response = _score(api, crashes)
    assert response.status_code == 422
    assert [e["loc"][2:] for e in response.json()["detail"]] == [
        [1, "crash_hour"],
        [1, "is_work_zone"],
        [2, "crash_month"],
    ]
    assert requests.post(f"{api.url}/v1/score", data="not json", timeout=10).status_code == 422
    top = _score(api, [NIGHT_PARKED], top=-1)
    assert top.status_code == 422 and top.json()["detail"][0]["loc"] == ["query", "top"]


# --------------------------------------------------------------------------- the model, health, docs
def test_the_model_card_is_the_current_models(in_api_home: Api) -> None:
    response = requests.get(f"{in_api_home.url}/v1/model", timeout=10)
    assert response.status_code == 200
    card = response.json()
    meta = registry.current_model().metadata  # type: ignore[union-attr]
    assert card["version"] == in_api_home.version and card["created_at"] == meta["created_at"]
    assert card["metrics"]["test"]["roc_auc"] == pytest.approx(meta["metrics"]["test"]["roc_auc"])
    assert card["threshold"] == pytest.approx(meta["threshold"])
    assert [b["band"] for b in card["risk"]["bands"]] == [b["band"] for b in meta["risk"]["bands"]]
    assert [f["name"] for f in card["features"]] == model_features()
    assert all("_" not in f["label"] for f in card["features"])
    assert {i["name"] for i in card["inputs"]} == set(KNOWN)
    hour = next(i for i in card["inputs"] if i["name"] == "crash_hour")
    assert (hour["minimum"], hour["maximum"]) == (0, 23)


def test_health_and_docs(api: Api) -> None:
    health = requests.get(f"{api.url}/healthz", timeout=10)
    assert health.status_code == 200 and health.json()["model_version"] == api.version
    assert "swagger" in requests.get(f"{api.url}/docs", timeout=10).text.lower()
    spec = requests.get(f"{api.url}/openapi.json", timeout=10).json()
    assert {"/v1/score", "/v1/model", "/healthz"} <= set(spec["paths"])
    crash = spec["components"]["schemas"]["Crash"]
    assert set(crash["properties"]) == {KEY, *KNOWN}
    assert crash["properties"]["crash_hour"]["maximum"] == 23


# --------------------------------------------------------------------------- reload
def test_a_new_current_model_is_served_from_the_next_request(in_api_home: Api) -> None:
    before = _score(in_api_home, [NIGHT_PARKED]).json()
    old = registry.load_current()
    calibrator = old.metadata["calibrator"] | {"slope": old.metadata["calibrator"]["slope"] * 0.5}
    metadata = {k: v for k, v in old.metadata.items() if k not in ("version", "created_at")}
    new = registry.save(old.pipeline, metadata | {"calibrator": calibrator})  # becomes current
    try:
        after = _score(in_api_home, [NIGHT_PARKED]).json()
        assert after["model_version"] == new.version != before["model_version"]
        assert after["scores"][0]["probability"] == pytest.approx(predict_one(NIGHT_PARKED).probability, rel=1e-12)
        assert after["scores"][0]["probability"] != pytest.approx(before["scores"][0]["probability"], rel=1e-3)
        assert requests.get(f"{in_api_home.url}/v1/model", timeout=10).json()["version"] == new.version
    finally:
        registry.set_current(old.version)
    back = _score(in_api_home, [NIGHT_PARKED]).json()
    assert back["model_version"] == old.version
    assert back["scores"][0]["probability"] == before["scores"][0]["probability"]


def test_without_a_model_it_says_so_and_serves_once_one_is_current(trained: Trained, tmp_path: Path) -> None:
    """In-process uvicorn on an empty registry: 503 with what to do, then a model appears."""
    import uvicorn

    from ml.api import create_app

    models = tmp_path / "models"
    server = uvicorn.Server(uvicorn.Config(create_app(models), log_level="warning"))
    port = free_port()
    thread = threading.Thread(target=server.run, kwargs={"sockets": [_bound(port)]}, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"
    try:
        health = _wait_healthy(url)
        assert health.status_code == 503 and "run `crashes train` first" in health.json()["detail"]
        scored = requests.post(f"{url}/v1/score", json={"crashes": [NIGHT_PARKED]}, timeout=10)
        assert scored.status_code == 503 and "no current model" in scored.json()["detail"]
        shutil.copytree(trained.home / "models" / trained.result.version, models / trained.result.version)  # type: ignore[attr-defined]
        (models / registry.POINTER).write_text(trained.result.version + "\n")  # type: ignore[attr-defined]
        assert requests.get(f"{url}/healthz", timeout=10).json()["model_version"] == trained.result.version  # type: ignore[attr-defined]
        assert requests.post(f"{url}/v1/score", json={"crashes": [NIGHT_PARKED]}, timeout=10).status_code == 200
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def _bound(port: int) -> Any:
    import socket

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", port))
    return sock


# --------------------------------------------------------------------------- metrics
def _samples(api: Api) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = requests.get(f"{api.url}/metrics", timeout=10).text
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def test_metrics_count_requests_and_crashes(api: Api) -> None:
    ok = ("crashes_api_requests_total", (("method", "POST"), ("route", "/v1/score"), ("status", "200")))
    bad = ("crashes_api_requests_total", (("method", "POST"), ("route", "/v1/score"), ("status", "422")))
    seconds = ("crashes_api_request_duration_seconds_count", (("method", "POST"), ("route", "/v1/score")))
    crashes = ("crashes_api_scored_crashes_total", ())
    before = _samples(api)
    for n in (1, 2, 3):
        assert _score(api, [NIGHT_PARKED] * n).status_code == 200
    assert _score(api, [{"crash_hour": 30}]).status_code == 422
    after = _samples(api)
    assert after[ok] - before.get(ok, 0) == 3
    assert after[bad] - before.get(bad, 0) == 1
    assert after[seconds] - before.get(seconds, 0) == 4
    assert after[crashes] - before.get(crashes, 0) == 6
    assert after[("crashes_api_model_load_failing", ())] == 0
    assert ("crashes_api_requests_total", (("method", "GET"), ("route", "/metrics"), ("status", "200"))) in after
