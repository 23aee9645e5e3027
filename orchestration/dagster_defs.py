"""The same pipeline as `crashes run`, as Dagster assets: `dagster dev -m orchestration.dagster_defs`.

For teams that already operate Dagster (the built-in engine stays the default). Each asset calls
the public function its stage calls (`ingest()`, the quality gate, `train()`, `score_all()`, the
publish), and the dbt project is two `@dbt_assets` read from its manifest: the marts, and the
scores' models that can only be built after scoring. Gold is published once, at the end, with
marts and scores of the same run, as `crashes run` does; a failed dbt test fails the run and puts
the untested marts back to the published snapshot (`discard_build`), so gold is never touched.

dbt runs with the home's target folder (`DbtPaths`), the one `crashes build` uses, so partial
parsing is shared rather than redone in a fresh folder per run. Every step holds the pipeline lock,
so a Dagster step and a `crashes run` never write the warehouse at once. Jobs run their steps in
one process, one at a time: DuckDB allows one writer per file. Stored schedules (`crashes schedule
add`) become Dagster schedules of the job of the same name; they fire in the scheduler's zone.
"""

import json
import os
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import Any

import dagster as dg
from dagster_dbt import DbtCliResource, dbt_assets

from crashes.config import Settings, get_settings
from orchestration.lock import pipeline_lock
from transform.dbt import PROJECT_DIR, DbtPaths, run_dbt

# The models over the tables `score` writes (the scores, the scoring model; see stages.SCORES_MART):
# built after it, or they would read a source that does not exist yet.
SCORES_MODELS = "stg_ml__hit_and_run_scores+ stg_ml__scoring_models+ int_ml_feature_values+"
# Ingest writes the sources of these two dbt source groups (raw tables); the gate reads them.
RAW_SOURCES = ("chicago", "ingestion")
GATE_KEY = dg.AssetKey(["ingestion", "quality_results"])  # the gate records its results there
MODEL_KEY = dg.AssetKey(["ml", "model"])
SCORES_KEY = dg.AssetKey(["ml", "hit_and_run_scores"])  # the dbt source the scores' models read
GOLD_KEY = dg.AssetKey(["gold"])
DBT_BUILD = ["build", "--exclude-resource-type", "unit_test"]  # unit tests run in CI (transform/build.py)


@contextmanager
def _locked(context: dg.AssetExecutionContext) -> Iterator[Settings]:
    """The home's settings, under the pipeline lock (waiting for a `crashes run` in progress)."""
    settings = get_settings().ensure()
    with pipeline_lock(wait=True, on_wait=context.log.info):
        yield settings


def _refused(message: str) -> dg.Failure:
    return dg.Failure(description=message, allow_retries=False)


# --------------------------------------------------------------------------- ingest and the gate
class IngestConfig(dg.Config):
    """`crashes run`'s options: incremental when `since` is empty, else a backfill window."""

    since: str | None = None
    until: str | None = None
    datasets: str | None = None
    base_url: str | None = None


def _day(value: str | None, name: str) -> date | None:
    try:
        return date.fromisoformat(value) if value else None
    except ValueError:
        raise _refused(f"{name} must be a date (YYYY-MM-DD), got {value!r}") from None


def _raw_specs(manifest: Mapping[str, Any]) -> list[dg.AssetSpec]:
    """One asset per raw table dbt reads, keyed like dagster-dbt keys the source (`source/table`)."""
    return [
        dg.AssetSpec(dg.AssetKey([s["source_name"], s["name"]]), group_name="ingest", description=s.get("description"))
        for s in manifest["sources"].values()
        if s["source_name"] in RAW_SOURCES and [s["source_name"], s["name"]] != GATE_KEY.path
    ]


def _ingest_asset(manifest: Mapping[str, Any]) -> dg.AssetsDefinition:
    @dg.multi_asset(specs=_raw_specs(manifest), name="ingest", description="Socrata → bronze → raw (dlt)")
    def ingest(context: dg.AssetExecutionContext, config: IngestConfig) -> Iterator[dg.MaterializeResult]:
        from crashes.errors import CrashesError
        from ingestion.pipeline import ingest as run_ingest

        since, until = _day(config.since, "since"), _day(config.until, "until")
        with _locked(context):
            try:
                result = run_ingest(datasets=config.datasets, since=since, until=until, base_url=config.base_url)
            except CrashesError as exc:
                raise _refused(str(exc)) from exc
        context.log.info(result.summary())
        for key in context.selected_asset_keys:
            table = key.path[-1]
            meta: dict[str, Any] = {"loads": len(result.loads or [])}
            if table in result.rows:
                meta |= {"rows_delivered": result.rows[table], "raw_rows": result.raw_rows.get(table, 0)}
            yield dg.MaterializeResult(asset_key=key, metadata=meta)

    return ingest


def _gate_asset(manifest: Mapping[str, Any]) -> dg.AssetsDefinition:
    @dg.asset(
        key=GATE_KEY,
        deps=[s.key for s in _raw_specs(manifest)],
        group_name="ingest",
        description="Great Expectations on the new loads: a failure stops dbt",
    )
    def quality_gate(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
        from ingestion.quality import check_new_loads

        with _locked(context):
            report = check_new_loads()
        if not report.ok:
            raise dg.Failure(description=f"quality gate failed: {report.summary()}", allow_retries=False)
        return dg.MaterializeResult(metadata={"summary": report.summary()})

    return quality_gate


# --------------------------------------------------------------------------- dbt
def manifest_path(settings: Settings | None = None) -> Path:
    """The manifest in the home's dbt target, parsed first when absent (a new home)."""
    settings = settings or get_settings().ensure()
    path = DbtPaths.for_settings(settings).target / "manifest.json"
    if not path.exists():
        parsed = run_dbt(["parse"], settings)
        if not parsed.success:
            raise RuntimeError(f"dbt parse failed, no manifest for the Dagster assets: {parsed.error}")
    return path


def _dbt_resource() -> DbtCliResource:
    dbt = Path(sys.executable).with_name("dbt")  # the venv's dbt, whatever PATH says
    return DbtCliResource(project_dir=str(PROJECT_DIR), profiles_dir=str(PROJECT_DIR), dbt_executable=str(dbt))


def _run_dbt_build(context: dg.AssetExecutionContext, dbt: DbtCliResource, hold: bool) -> Iterator[Any]:
    """`dbt build` of the selected models and their tests into gold_build; on any failure put
    gold_build back to the published snapshot and fail. `hold`: ready the marts for train/score."""
    from transform.build import build_path
    from transform.dbt import model_docs
    from transform.publish import discard_build, prepare, remove_leftovers

    with _locked(context) as settings:
        paths = DbtPaths.for_settings(settings)
        # profiles.yml reads the home from the environment, as `crashes build` passes it to dbt.
        os.environ["CRASHES_HOME"] = str(settings.home)
        remove_leftovers(settings.gold_path)
        invocation = dbt.cli([*DBT_BUILD, "--log-path", str(paths.logs)], context=context, target_path=paths.target)
        try:
            yield from invocation.stream()
        except BaseException:
            discard_build(build_path(), settings.gold_path)
            raise
        if hold:
            prepare(build_path(), model_docs(paths.target, "marts"))


def _dbt_asset_defs(manifest: Mapping[str, Any]) -> list[dg.AssetsDefinition]:
    @dbt_assets(manifest=manifest, exclude=SCORES_MODELS, name="dbt_marts")
    def dbt_marts(context: dg.AssetExecutionContext, dbt: DbtCliResource) -> Iterator[Any]:
        """staging → intermediate → marts, tested; held in gold_build for train and score."""
        yield from _run_dbt_build(context, dbt, hold=True)

    @dbt_assets(manifest=manifest, select=SCORES_MODELS, name="dbt_scores")
    def dbt_scores(context: dg.AssetExecutionContext, dbt: DbtCliResource) -> Iterator[Any]:
        """The scores' mart next to the run's marts, tested."""
        yield from _run_dbt_build(context, dbt, hold=False)

    return [dbt_marts, dbt_scores]


# --------------------------------------------------------------------------- model, scores, publish
class ModelConfig(dg.Config):
    """`retrain`: train even when a model exists (`crashes run --train`); otherwise train only
    when there is none. `on_published_gold`: the `train` job, on the published snapshot rather
    than the marts this run built."""

    retrain: bool = False
    on_published_gold: bool = False


def _gold_for(config: ModelConfig) -> Path | None:
    from transform.build import build_path

    return None if config.on_published_gold else build_path()


def _model_assets() -> list[dg.AssetsDefinition]:
    features = dg.AssetKey(["marts", "ml_hit_and_run_features"])  # dagster-dbt keys a model schema/name

    @dg.asset(key=MODEL_KEY, deps=[features], group_name="ml", description="the hit-and-run model, out-of-time")
    def model(context: dg.AssetExecutionContext, config: ModelConfig) -> dg.MaterializeResult:
        from ml.train import train
        from orchestration.model_info import current_model
        from transform.build import reset_build

        with _locked(context):
            if config.on_published_gold:
                reset_build()  # the publish at the end must not carry marts another run left unpublished
            existing = current_model()
            if existing is not None and not config.retrain:
                return dg.MaterializeResult(metadata={"trained": False, "version": existing.version})
            result = train(gold=_gold_for(config))
        context.log.info(result.summary())
        return dg.MaterializeResult(metadata={"trained": True, "version": result.version})

    @dg.asset(key=SCORES_KEY, deps=[MODEL_KEY, features], group_name="ml", description="every crash scored")
    def scores(context: dg.AssetExecutionContext, config: ModelConfig) -> dg.MaterializeResult:
        from ml.score import score_all

        with _locked(context):
            result = score_all(gold=_gold_for(config))
        context.log.info(result.summary())
        return dg.MaterializeResult(metadata={"rows": result.rows, "model_version": result.model_version})

    return [model, scores]


def _gold_asset(marts: list[dg.AssetKey]) -> dg.AssetsDefinition:
    @dg.asset(key=GOLD_KEY, deps=marts, group_name="publish", description="gold.duckdb: the read-only snapshot")
    def gold(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
        from transform.build import build_path
        from transform.dbt import model_docs
        from transform.publish import publish

        with _locked(context) as settings:
            docs = model_docs(DbtPaths.for_settings(settings).target, "marts")
            rows = publish(build_path(), settings.gold_path, docs)
        return dg.MaterializeResult(metadata={"marts": len(rows), **{f"rows.{k}": v for k, v in rows.items()}})

    return gold


# --------------------------------------------------------------------------- jobs and schedules
JOB_DESCRIPTIONS = {
    "incremental": "ingest what changed since the last load, gate, build, (train,) score, publish",
    "backfill": "the same over a crash_date window: set the ingest asset's since/until",
    "train": "retrain and rescore on the published gold, publish the scores",
}


def _jobs(assets: list[dg.AssetsDefinition]) -> dict[str, Any]:
    everything = dg.AssetSelection.assets(*assets)
    training = dg.AssetSelection.assets(MODEL_KEY, SCORES_KEY, GOLD_KEY) | dg.AssetSelection.assets(
        *[a for a in assets if a.op.name == "dbt_scores"]
    )
    on_gold = {
        "ops": {
            op: {"config": {"retrain": True, "on_published_gold": True}}
            for op in ("ml__model", "ml__hit_and_run_scores")
        }
    }
    return {
        "incremental": dg.define_asset_job("incremental", everything, description=JOB_DESCRIPTIONS["incremental"]),
        "backfill": dg.define_asset_job("backfill", everything, description=JOB_DESCRIPTIONS["backfill"]),
        "train": dg.define_asset_job("train", training, config=on_gold, description=JOB_DESCRIPTIONS["train"]),
    }


def run_config(job: str, args: Mapping[str, Any]) -> dict[str, Any]:
    """A stored schedule's arguments (`parse_job_args`) as the job's run config."""
    if job == "train":
        return {}
    ingest = {k: (v.isoformat() if isinstance(v, date) else v) for k, v in args.items() if k != "train" and v}
    ops: dict[str, Any] = {"ingest": {"config": ingest}}
    if args.get("train"):
        ops["ml__model"] = {"config": {"retrain": True}}
    return {"ops": ops}


def _schedules(jobs: Mapping[str, Any]) -> list[dg.ScheduleDefinition]:
    from orchestration.flow import parse_job_args
    from orchestration.schedules import list_schedules, local_zone

    zone = str(local_zone())
    return [
        dg.ScheduleDefinition(
            name=f"schedule_{s.id}_{s.job}",
            cron_schedule=s.cron,
            job=jobs[s.job],
            run_config=run_config(s.job, parse_job_args(s.job, s.args)),
            execution_timezone=zone,
            description=f"{s.sentence} (crashes schedule {s.id})",
            default_status=dg.DefaultScheduleStatus.RUNNING,
        )
        for s in list_schedules()
    ]


def build_defs(settings: Settings | None = None) -> dg.Definitions:
    """The whole graph for the home in `settings` (default: CRASHES_HOME's)."""
    settings = settings or get_settings().ensure()
    manifest = json.loads(manifest_path(settings).read_text())
    dbt = _dbt_asset_defs(manifest)
    marts = [key for d in dbt for key in d.keys if key.path[0] == "marts"]
    assets = [_ingest_asset(manifest), _gate_asset(manifest), *dbt, *_model_assets(), _gold_asset(marts)]
    jobs = _jobs(assets)
    return dg.Definitions(
        assets=assets,
        jobs=list(jobs.values()),
        schedules=_schedules(jobs),
        resources={"dbt": _dbt_resource()},
        executor=dg.in_process_executor,
    )


@dg.definitions
def defs() -> dg.Definitions:
    """Loaded by `dagster dev -m orchestration.dagster_defs` (lazily: importing this is cheap)."""
    return build_defs()
