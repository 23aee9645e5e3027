"""The pipeline's stages: each a small adapter around one public function of another package.

An adapter imports its stage lazily (dlt, dbt, GX and xgboost are slow to import), calls it,
and turns its result into a `StageOutcome` for the run history. A result that says "no"
(quality gate, dbt tests) raises `StageFailed` so the engine stops the dependants.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Any

from orchestration import signals
from orchestration.dag import Stage, StageFailed, StageOutcome
from orchestration.layers import raw_facts
from orchestration.model_info import current_model

# With their parents: the scores and the model behind them (staging compiles empty until the ml
# tables exist), then everything that monitors them (the two monitoring views and their children:
# int_ml_feature_values reads the scores itself, not through int_ml_scored_crashes).
SCORES_MART = "+ml_hit_and_run_scores +stg_ml__scoring_models int_ml_scored_crashes+ int_ml_feature_values+"


def _first_line(result: Any) -> str:
    summary = getattr(result, "summary", None)
    text = summary() if callable(summary) else str(result)
    return text.strip().splitlines()[0] if text and text.strip() else ""


def _count(value: Any) -> int:
    """Failed expectations may come as a count or as the list of failures."""
    if value is None:
        return 0
    if isinstance(value, int):
        return value
    return len(value)


def _ints(mapping: Any) -> dict[str, int]:
    return {str(k): int(v) for k, v in dict(mapping or {}).items()}


def _report(result: Any) -> str:
    summary = getattr(result, "summary", None)
    return str(summary() if callable(summary) else result)


def ingest(since: date | None, until: date | None, datasets: str | None, base_url: str | None, **options: Any) -> Stage:
    """`options`: the rest of `ingestion.pipeline.ingest`'s arguments (page size, replay files)."""

    def run() -> StageOutcome:
        from ingestion.pipeline import ingest as run_ingest

        result = run_ingest(datasets=datasets, since=since, until=until, base_url=base_url, **options)
        delivered = _ints(result.rows)
        rejected = _ints(getattr(result, "rejected", None))
        # We hold the pipeline lock and dlt has closed the warehouse: read raw's totals and freshness.
        raw = raw_facts()
        return StageOutcome(
            summary=f"{sum(delivered.values()):,} rows delivered, raw now "
            + ", ".join(f"{k} {v:,}" for k, v in raw.rows.items()),
            report=_report(result),
            rows_in=delivered,
            rows_out={k: n - rejected.get(k, 0) for k, n in delivered.items()},
            detail={
                "loads": [str(x) for x in (result.loads or [])],
                "shapes": list(getattr(result, "shapes", None) or []),
                "rejected": rejected,
                "raw": raw.as_detail(),
            },
        )

    source = options.get("source", "socrata")
    window = "replayed files" if source == "replay" else f"{since}…{until or 'now'}" if since else "incremental"
    return Stage("ingest", run, description=f"Socrata → bronze → raw ({window})")


def quality() -> Stage:
    def run() -> StageOutcome:
        from ingestion.quality import check_new_loads

        report = check_new_loads()
        failed = _count(getattr(report, "failed_expectations", None))
        outcome = StageOutcome(summary=_first_line(report), report=_report(report), expectations_failed=failed)
        if not report.ok:
            raise StageFailed(f"quality gate failed: {outcome.summary or f'{failed} expectations failed'}", outcome)
        return outcome

    return Stage("quality", run, after=("ingest",), description="Great Expectations on the new loads")


def build(
    select: str | None = None,
    name: str = "build",
    after: tuple[str, ...] = ("quality",),
    *,
    full_refresh: bool = False,
    publish: bool = True,
    from_gold: bool = False,
) -> Stage:
    """`publish=False`: leave the tested marts for the run's publish stage. `from_gold`: start
    from the published snapshot, for a publish whose run did not build every mart."""

    def run() -> StageOutcome:
        from transform import build as run_build
        from transform.build import reset_build

        if from_gold:
            reset_build()
        result = run_build(
            select=select, full_refresh=full_refresh, publish_gold=publish, stop_requested=signals.stop_requested
        )
        outcome = StageOutcome(
            summary=_first_line(result),
            report=_report(result),
            rows_out=_ints(getattr(result, "rows_per_mart", None)),
            tests_passed=getattr(result, "tests_passed", None),
            tests_failed=getattr(result, "tests_failed", None),
        )
        if not result.ok:
            problems = list(getattr(result, "problems", None) or [])
            why = f"{problems[0]}" + (f" (+{len(problems) - 1} more)" if len(problems) > 1 else "") if problems else ""
            raise StageFailed(getattr(result, "cause", None) or f"dbt build failed: {why or outcome.summary}", outcome)
        return outcome

    what = f"dbt build {select}, tests" if select else "dbt build, tests"
    then = "publish gold" if publish else "hold the marts for the run's publish"
    probe = _gold_changed if publish else None
    return Stage(name, run, after=after, description=f"{what}, {then}", commit_probe=probe)


def _gold_changed() -> Callable[[], bool]:
    """A publishing stage's commit point is the swap of the `gold.duckdb` link."""
    from crashes.gold import current

    before = current()
    return lambda: current() != before


def _model_changed() -> Callable[[], bool]:
    """Training's commit point is a new model becoming current."""

    def version() -> str | None:
        model = current_model()
        return model.version if model else None

    before = version()
    return lambda: version() != before


def publish_scores(after: tuple[str, ...] = ("score",), from_gold: bool = False) -> Stage:
    """The run's one publish: rebuild the scores' mart next to the marts the run built, then
    replace gold with all of them at once."""
    return build(select=SCORES_MART, name="publish", after=after, from_gold=from_gold)


def _marts(unpublished: bool) -> Any:
    """Where train and score read the feature mart: the run's own build, or published gold."""
    if not unpublished:
        return None
    from transform.build import build_path

    return build_path()


def train(after: tuple[str, ...] = ("build",), unpublished: bool = True, test_year: int | None = None) -> Stage:
    def run() -> StageOutcome:
        from ml.train import train as run_train

        with signals.deferred():  # XGBoost calls back into Python: a signal must not raise there
            result = run_train(test_year=test_year, gold=_marts(unpublished), stop_requested=signals.stop_requested)
        model = current_model()
        version = getattr(result, "version", None) or (model.version if model else None)
        return StageOutcome(summary=_first_line(result), report=_report(result), model_version=version)

    return Stage(
        "train", run, after=after, description="train the hit-and-run model out-of-time", commit_probe=_model_changed
    )


def score(after: tuple[str, ...], unpublished: bool = True, publish: bool = False) -> Stage:
    """`publish`: `crashes score` on its own, which ends with gold holding the new scores."""

    def run() -> StageOutcome:
        from ml.score import score_all

        result = score_all(gold=_marts(unpublished))
        rows = next(
            (getattr(result, a) for a in ("rows", "rows_scored", "scored", "n_scored") if hasattr(result, a)),
            None,
        )
        model = current_model()
        version = getattr(result, "model_version", None) or (model.version if model else None)
        outcome = StageOutcome(
            summary=_first_line(result),
            report=_report(result),
            rows_out={"scores": int(rows)} if isinstance(rows, int) else {},
            model_version=version,
        )
        if publish:
            published = publish_scores(after=(), from_gold=True).run()
            outcome.report += "\n" + published.report
            outcome.rows_out = {**published.rows_out, **outcome.rows_out}
            outcome.tests_passed, outcome.tests_failed = published.tests_passed, published.tests_failed
        return outcome

    what = ", publish gold" if publish else ""
    probe = _gold_changed if publish else None
    description = f"score every crash with the current model{what}"
    return Stage("score", run, after=after, description=description, commit_probe=probe)


def pipeline(
    since: date | None,
    until: date | None,
    datasets: str | None,
    base_url: str | None,
    retrain: bool,
    **ingest_options: Any,
) -> list[Stage]:
    """ingest → quality → build → (train) → score → publish; train when asked or when no model
    exists. Gold is published once, by the last stage: marts and scores of the same run.
    `ingest_options` go to the ingest stage (a replay of export files)."""
    stages = [ingest(since, until, datasets, base_url, **ingest_options), quality(), build(publish=False)]
    if retrain or current_model() is None:
        stages += [train(), score(after=("build", "train"))]
    else:
        stages.append(score(after=("build",)))
    return [*stages, publish_scores()]


def training() -> list[Stage]:
    """The scheduled `train` job: retrain on the published gold, rescore it, publish the scores."""
    return [
        train(after=(), unpublished=False),
        score(after=("train",), unpublished=False),
        publish_scores(from_gold=True),
    ]
