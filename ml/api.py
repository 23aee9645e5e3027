"""The scoring API (`crashes api`): the current model over HTTP, for programs that score crashes.

FastAPI on uvicorn. `POST /v1/score` takes one or many crashes and checks and scores them with
exactly what `crashes predict` uses (`ml.score.records_frame` → `ml.score.explain`), one frame and
one booster pass for a whole batch; `GET /v1/model` says which model answers and how good it is;
`GET /healthz`; `GET /metrics` (Prometheus: requests, latencies, crashes scored, reloads);
OpenAPI at `/docs` and `/openapi.json`.

Validation is ml.inputs' alone, so a crash the CLI, the dashboard's form or CSV upload accept is
accepted here: the request schema only documents the fields (types and ranges come from the same
tables), and each invalid value is a 422 in FastAPI's own shape, `loc` naming the crash and field.
The model is `registry.CurrentModel`: one `stat` of `models/CURRENT` per request, a reload only when
a new model became current, the old one kept if the new one cannot be loaded.
"""

from __future__ import annotations

import math
import time
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from contextlib import asynccontextmanager, suppress
from pathlib import Path
from typing import Annotated, Any, Literal

import orjson
from fastapi import FastAPI, HTTPException, Query
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from pydantic import BaseModel, ConfigDict, Field, WithJsonSchema
from starlette.requests import Request
from starlette.responses import Response
from typing_extensions import TypedDict

from crashes import __version__
from crashes.config import get_settings
from crashes.errors import CrashesError
from ml.features import FEATURE_LABELS, FLAGS, KEY, feature_label
from ml.inputs import FLOAT_RANGES, INTEGER_RANGES, KNOWN
from ml.registry import CurrentModel, LoadedModel
from ml.score import InvalidCrashes, Prediction, explain, records_frame

MAX_BATCH = 10_000  # crashes per request: a 10,000-crash body is ≈ 5 MB of JSON
DEFAULT_TOP = 5
# Seconds: one crash takes a few milliseconds, a batch of 10,000 about half a second.
LATENCY_BUCKETS = (0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)

Scope = MutableMapping[str, Any]
ASGIApp = Callable[[Scope, Callable[[], Awaitable[Any]], Callable[[Any], Awaitable[None]]], Awaitable[None]]


# --------------------------------------------------------------------------- request and response
def _input_schema(name: str) -> dict[str, Any]:
    label = feature_label(name) if name in FEATURE_LABELS else name.replace("_", " ")
    if name in INTEGER_RANGES:
        low, high = INTEGER_RANGES[name]
        return {"type": "integer", "minimum": low, "maximum": high, "description": f"{label} ({low}–{high})"}
    if name in FLOAT_RANGES:
        low, high = FLOAT_RANGES[name]
        return {"type": "number", "minimum": low, "maximum": high, "description": f"{label}, inside Chicago"}
    if name in FLAGS:
        return {"type": "boolean", "description": f"{label}: true/false (or Y/N); left out means false"}
    return {"type": "string", "description": f"{label}, as the portal writes it (matched trimmed, upper case)"}


# Every field is taken as given (any JSON value) and checked by ml.inputs in records_frame; the
# schema only tells a client what a valid value is. Unknown fields are kept so the check can name them.
Crash = TypedDict(  # noqa: UP013 - field names come from the model's input list
    "Crash",
    {
        KEY: Annotated[str | None, Field(description="your id for the crash, returned with its score")],
        **{name: Annotated[Any, WithJsonSchema(_input_schema(name))] for name in KNOWN},
    },
    total=False,
)
Crash.__pydantic_config__ = ConfigDict(  # type: ignore[attr-defined]
    extra="allow",
    json_schema_extra={"additionalProperties": False, "description": "A crash's scene facts; all optional."},
)


class ScoreRequest(BaseModel):
    crashes: list[Crash] = Field(min_length=1, max_length=MAX_BATCH, description="One or many crashes.")

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "crashes": [
                        {
                            "crash_record_id": "my-1",
                            "crash_hour": 2,
                            "crash_day_of_week": 7,
                            "first_crash_type": "PARKED MOTOR VEHICLE",
                            "lighting_condition": "DARKNESS, LIGHTED ROAD",
                            "num_units": 2,
                            "beat_of_occurrence": "1834",
                            "latitude": 41.9,
                            "longitude": -87.65,
                        }
                    ]
                }
            ]
        }
    )


class Contribution(BaseModel):
    feature: str
    label: str = Field(description="what the feature means")
    contribution: float = Field(description="calibrated log-odds it adds")
    value: str | float | None
    shown: str = Field(description="the value as a person reads it")


class Score(BaseModel):
    crash_record_id: str | None = None
    probability: float = Field(description="calibrated probability of a hit-and-run")
    risk_band: str
    risk_band_summary: str
    predicted_hit_and_run: bool = Field(description="probability ≥ the model's F1 threshold (kept for scripts)")
    margin: float = Field(description="calibrated log-odds = bias + sum of all contributions")
    bias: float
    contributions: list[Contribution] = Field(description="the largest contributions, largest first")


class ScoreResponse(BaseModel):
    model_version: str
    threshold: float
    scores: list[Score]


def _score(prediction: Prediction, crash_id: Any) -> dict[str, Any]:
    return {
        "crash_record_id": crash_id,
        "probability": prediction.probability,
        "risk_band": prediction.band,
        "risk_band_summary": prediction.band_summary,
        "predicted_hit_and_run": prediction.predicted,
        "margin": prediction.margin,
        "bias": prediction.bias,
        "contributions": prediction.contributions,
    }


def _finite(value: Any) -> Any:
    """Metadata as JSON can carry: NaN (e.g. a band with no crashes) becomes null."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    return value


def model_card(model: LoadedModel) -> dict[str, Any]:
    meta = model.metadata
    engineered = meta.get("engineered_features", {})
    return _finite(
        {
            "version": model.version,
            "created_at": meta.get("created_at"),
            "code_version": meta.get("code_version"),
            "split": meta.get("split"),
            "threshold": model.threshold,
            "threshold_rule": meta.get("threshold_rule"),
            "metrics": meta.get("metrics"),
            "baselines": meta.get("baselines"),
            "selection": meta.get("selection"),
            "calibrator": meta.get("calibrator"),
            "risk": meta.get("risk"),
            "features": [
                {"name": f, "label": feature_label(f), "from": engineered.get(f, [f])} for f in meta.get("features", [])
            ],
            "inputs": [{"name": n, **_input_schema(n)} for n in meta.get("input_columns", KNOWN)],
            "excluded_mart_columns": meta.get("excluded_mart_columns"),
        }
    )


# --------------------------------------------------------------------------- metrics
class ApiMetrics:
    """Counted in this process (the API is its own long-running process), in a registry of its own."""

    def __init__(self, current: CurrentModel):
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "crashes_api_requests",
            "HTTP requests answered by the scoring API, by route template, method and status.",
            ("route", "method", "status"),
            registry=self.registry,
        )
        self.latency = Histogram(
            "crashes_api_request_duration_seconds",
            "Time to answer a request, by route template and method.",
            ("route", "method"),
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.crashes = Counter("crashes_api_scored_crashes", "Crashes scored.", registry=self.registry)
        reloads = Gauge("crashes_api_model_loads", "Models loaded since the API started.", registry=self.registry)
        reloads.set_function(lambda: current.reloads)
        failing = Gauge(
            "crashes_api_model_load_failing", "1 while the current pointer cannot be loaded.", registry=self.registry
        )
        failing.set_function(lambda: 1 if current.error else 0)

    def middleware(self, app: ASGIApp) -> ASGIApp:
        """A plain ASGI wrapper (cheaper than BaseHTTPMiddleware): route templates, not paths, so
        /metrics has a fixed set of series."""

        async def measured(scope: Scope, receive: Any, send: Any) -> None:
            if scope["type"] != "http":
                await app(scope, receive, send)
                return
            started = time.perf_counter()
            status = {"code": 500}

            async def sending(message: dict[str, Any]) -> None:
                if message["type"] == "http.response.start":
                    status["code"] = message["status"]
                await send(message)

            try:
                await app(scope, receive, sending)
            finally:
                route = getattr(scope.get("route"), "path", "unmatched")
                self.latency.labels(route, scope["method"]).observe(time.perf_counter() - started)
                self.requests.labels(route, scope["method"], str(status["code"])).inc()

        return measured


# --------------------------------------------------------------------------- the app
class _OrjsonRequest(Request):
    async def json(self) -> Any:
        if not hasattr(self, "_json"):
            self._json = orjson.loads(await self.body())  # its JSONDecodeError is json's: still a 422
        return self._json


class OrjsonRoute(APIRoute):
    """Request bodies parsed by orjson: the standard library's json took 4.5 ms of a 1,000-crash
    batch, orjson 1.7 ms (FastAPI's documented way: a route class with its own Request)."""

    def get_route_handler(self) -> Callable[[Request], Awaitable[Response]]:
        handler = super().get_route_handler()

        async def parsed_by_orjson(request: Request) -> Response:
            return await handler(_OrjsonRequest(request.scope, request.receive))

        return parsed_by_orjson


def create_app(models: Path | None = None) -> FastAPI:
    current = CurrentModel(models or get_settings().models_dir)
    metrics = ApiMetrics(current)

    @asynccontextmanager
    async def preload(_: FastAPI) -> AsyncIterator[None]:
        """The first request should not pay for unpickling the model. With none trained yet the API
        starts anyway: /healthz says so, and scoring starts once one is current."""
        with suppress(CrashesError):
            current.get()
        yield

    app = FastAPI(
        lifespan=preload,
        title="Chicago crashes: hit-and-run scoring API",
        version=__version__,
        description=(
            "Scores crashes with the warehouse's current hit-and-run model: a calibrated probability, its risk "
            "band on the test year, and the features that moved it. The score ranks crashes and places for "
            "follow-up; it is no verdict on one crash."
        ),
    )

    app.router.route_class = OrjsonRoute  # for the routes below

    def model_or_503() -> LoadedModel:
        try:
            return current.get()
        except CrashesError as exc:
            raise HTTPException(status_code=503, detail=str(exc)) from None

    @app.post(
        "/v1/score",
        summary="Score one or many crashes",
        response_class=Response,
        responses={200: {"model": ScoreResponse, "description": "One score per crash, in the order given."}},
    )
    def score(
        request: ScoreRequest,
        top: Annotated[int, Query(ge=0, le=100, description="Contributions per crash, largest first.")] = DEFAULT_TOP,
        contributions: Annotated[
            Literal["exact", "approx"],
            Query(
                description="exact: SHAP values, as `crashes predict` (≈ 1 ms of CPU per crash); approx: XGBoost's "
                "path attributions, ≈ 50× cheaper for big batches, also adding up to the margin."
            ),
        ] = "exact",
    ) -> Response:
        model = model_or_503()
        try:
            frame = records_frame(request.crashes)
        except InvalidCrashes as exc:
            raise RequestValidationError(
                [
                    {
                        "type": "value_error",
                        "loc": ("body", "crashes", p.row, p.field),
                        "msg": p.message,
                        "input": p.value,
                    }
                    for p in exc.problems
                ]
            ) from None
        predictions = explain(model, frame, top=top, exact=contributions == "exact")
        metrics.crashes.inc(len(predictions))
        body = {
            "model_version": model.version,
            "threshold": model.threshold,
            "scores": [_score(p, c.get(KEY)) for p, c in zip(predictions, request.crashes, strict=True)],
        }
        # Plain values built by explain(), serialised once by orjson: validating a 1,000-crash
        # answer against ScoreResponse (which documents it) and dumping it took ≈ 9 % of the
        # batch's time in a profile.
        return Response(orjson.dumps(body), media_type="application/json")

    @app.get("/v1/model", summary="The current model: version, metrics, features")
    def model() -> dict[str, Any]:
        return model_card(model_or_503())

    @app.get("/healthz", summary="200 while a model is loaded")
    def healthz() -> JSONResponse:
        try:
            loaded = current.get()
        except CrashesError as exc:
            return JSONResponse({"status": "no model", "detail": str(exc)}, status_code=503)
        return JSONResponse({"status": "ok", "model_version": loaded.version, "reload_error": current.error})

    @app.get("/metrics", include_in_schema=False)
    def prometheus() -> Response:
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    app.state.current = current
    app.add_middleware(_Measured, metrics=metrics)
    return app


class _Measured:
    """ApiMetrics.middleware in the shape app.add_middleware takes."""

    def __init__(self, app: ASGIApp, metrics: ApiMetrics):
        self.app = metrics.middleware(app)

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        await self.app(scope, receive, send)


def serve(port: int | None = None, host: str = "127.0.0.1") -> None:
    """`crashes api`: serve until stopped (SIGTERM or Ctrl-C end uvicorn gracefully)."""
    import uvicorn

    port = port or get_settings().api_port
    print(f"scoring API on http://{host}:{port}/ (docs /docs, metrics /metrics); Ctrl-C stops", flush=True)
    uvicorn.run(create_app(), host=host, port=port, log_level="warning", access_log=False)
