"""The pipeline's stages: each a small adapter around one public function of another package.

An adapter imports its stage lazily (dlt, dbt, GX and xgboost are slow to import), calls it,
and turns its result into a `StageOutcome` for the run history. A result that says "no"
(quality gate, dbt tests) raises `StageFailed` so the engine stops the dependants.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from orchestration.dag import Stage, StageFailed, StageOutcome
from orchestration.layers import raw_facts
from orchestration.model_info import current_model

# With its parents: the scores' staging model is compiled empty until the ml source table exists.
SCORES_MART = "+ml_hit_and_run_scores"


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


def ingest(since: date | None, until: date | None, datasets: str | None, base_url: str | None) -> Stage:
    def run() -> StageOutcome:
        from ingestion.pipeline import ingest as run_ingest

        result = run_ingest(datasets=datasets, since=since, until=until, base_url=base_url)
        delivered = _ints(result.rows)
        rejected = _ints(getattr(result, "rejected", None))
        # We hold the pipeline lock and dlt has closed the warehouse: read raw's totals and freshness.
        raw = raw_facts()
        return StageOutcome(
            summary=f"{sum(delivered.values()):,} rows delivered, raw now "
            + ", ".join(f"{k} {v:,}" for k, v in raw.rows.items()),
            rows_in=delivered,
            rows_out={k: n - rejected.get(k, 0) for k, n in delivered.items()},
            detail={
                "loads": [str(x) for x in (result.loads or [])],
                "rejected": rejected,
                "raw": raw.as_detail(),
            },
        )

    window = f"{since}…{until or 'now'}" if since else "incremental"
    return Stage("ingest", run, description=f"Socrata → bronze → raw ({window})")


def quality() -> Stage:
    def run() -> StageOutcome:
        from ingestion.quality import check_new_loads

        report = check_new_loads()
        failed = _count(getattr(report, "failed_expectations", None))
        outcome = StageOutcome(summary=_first_line(report), expectations_failed=failed)
        if not report.ok:
            raise StageFailed(f"quality gate failed: {outcome.summary or f'{failed} expectations failed'}", outcome)
        return outcome

    return Stage("quality", run, after=("ingest",), description="Great Expectations on the new loads")


def build(select: str | None = None, name: str = "build", after: tuple[str, ...] = ("quality",)) -> Stage:
    def run() -> StageOutcome:
        from transform import build as run_build

        result = run_build(select=select)
        outcome = StageOutcome(
            summary=_first_line(result),
            rows_out=_ints(getattr(result, "rows_per_mart", None)),
            tests_passed=getattr(result, "tests_passed", None),
            tests_failed=getattr(result, "tests_failed", None),
        )
        if not result.ok:
            problems = list(getattr(result, "problems", None) or [])
            why = f"{problems[0]}" + (f" (+{len(problems) - 1} more)" if len(problems) > 1 else "") if problems else ""
            raise StageFailed(getattr(result, "cause", None) or f"dbt build failed: {why or outcome.summary}", outcome)
        return outcome

    what = f"dbt build {select}, tests, publish gold" if select else "dbt build, tests, publish gold"
    return Stage(name, run, after=after, description=what)


def publish_scores() -> Stage:
    """Scores land in the warehouse; rebuilding their mart puts them in gold for the readers."""
    return build(select=SCORES_MART, name="publish", after=("score",))


def train(after: tuple[str, ...] = ("build",)) -> Stage:
    def run() -> StageOutcome:
        from ml.train import train as run_train

        result = run_train()
        model = current_model()
        version = getattr(result, "version", None) or (model.version if model else None)
        return StageOutcome(summary=_first_line(result), model_version=version)

    return Stage("train", run, after=after, description="train the hit-and-run model out-of-time")


def score(after: tuple[str, ...]) -> Stage:
    def run() -> StageOutcome:
        from ml.score import score_all

        result = score_all()
        rows = next(
            (getattr(result, a) for a in ("rows", "rows_scored", "scored", "n_scored") if hasattr(result, a)),
            None,
        )
        model = current_model()
        version = getattr(result, "model_version", None) or (model.version if model else None)
        return StageOutcome(
            summary=_first_line(result),
            rows_out={"scores": int(rows)} if isinstance(rows, int) else {},
            model_version=version,
        )

    return Stage("score", run, after=after, description="score every crash with the current model")


def pipeline(
    since: date | None, until: date | None, datasets: str | None, base_url: str | None, retrain: bool
) -> list[Stage]:
    """ingest → quality → build → (train) → score → publish; train when asked or when no model exists."""
    stages = [ingest(since, until, datasets, base_url), quality(), build()]
    if retrain or current_model() is None:
        stages += [train(), score(after=("build", "train"))]
    else:
        stages.append(score(after=("build",)))
    return [*stages, publish_scores()]


def training() -> list[Stage]:
    """The scheduled `train` job: retrain on the current gold, rescore, publish the scores."""
    return [train(after=()), score(after=("train",)), publish_scores()]
