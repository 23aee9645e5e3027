"""`build()`: quality gate → `dbt build` → publish gold, summarised for people and the run history.

`crashes run` builds with `publish_gold=False`: the tested marts wait in `gold_build.duckdb`
while the run trains and scores on them, and its last stage publishes marts and scores at once,
so readers never see new crashes without their scores, and a run that fails or is killed after
its build leaves the previous snapshot. Every other publish (`crashes build`, `crashes score`,
the `train` job) starts from the published snapshot (`reset_build`), so it publishes nothing
another run left there unpublished or untested.

Gold is replaced only when every model built and no data test failed (warnings do not block):
a failed build leaves the previous snapshot in place for readers, and puts the marts dbt builds
in (`gold_build.duckdb`) back to that snapshot, so no untested table is published later. dbt's unit tests check the
models' logic on fixtures, not the data, so they run in CI (tests/dbt), not on every build.
"""

from __future__ import annotations

import errno
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from crashes import warehouse
from crashes.config import get_settings
from crashes.errors import CrashesError
from ingestion.datasets import DATASETS
from transform.dbt import GOLD_BUILD_FILE, TEST_TYPES, DbtPaths, NodeResult, model_docs, run_dbt
from transform.publish import discard_build, prepare, publish, remove_leftovers

MODEL_TYPES = ("model", "seed", "snapshot")
MONITORING_TAG = "monitoring"
FAILED = ("error", "fail")


@dataclass
class BuildResult:
    ok: bool
    models_built: int = 0
    models_failed: int = 0
    models_skipped: int = 0
    tests_passed: int = 0
    tests_failed: int = 0
    tests_warned: int = 0
    rows_per_mart: dict[str, int] = field(default_factory=dict)
    elapsed: float = 0.0
    gate_seconds: float = 0.0
    dbt_seconds: float = 0.0
    publish_seconds: float = 0.0
    quality: str | None = None
    published: Path | None = None
    held: bool = False
    problems: list[str] = field(default_factory=list)
    log_path: Path | None = None
    publish_error: str | None = None

    @property
    def cause(self) -> str | None:
        """What went wrong first, in one line (a run's history shows it): a failed publish names
        its own cause rather than the build's warnings."""
        if self.ok:
            return None
        if self.publish_error:
            return self.publish_error
        more = f" (+{len(self.problems) - 1} more)" if len(self.problems) > 1 else ""
        return f"dbt build failed: {self.problems[0]}{more}" if self.problems else "dbt build failed"

    def summary(self) -> str:
        verdict = "ok" if self.ok else "FAILED"
        gold = f"gold published ({len(self.rows_per_mart)} marts)" if self.published else "gold not replaced"
        if self.held:
            gold = f"{len(self.rows_per_mart)} marts held for the run's publish"
        lines = [
            f"build {verdict} in {self.elapsed:.1f} s (gate {self.gate_seconds:.1f} s, dbt {self.dbt_seconds:.1f} s, "
            f"publish {self.publish_seconds:.1f} s): {self.models_built} models built, "
            f"{self.models_failed} failed, {self.models_skipped} skipped; tests {self.tests_passed} passed, "
            f"{self.tests_failed} failed, {self.tests_warned} warned; {gold}"
        ]
        if self.quality:
            lines += [f"  {line}" for line in self.quality.splitlines()]
        lines += [f"  {p}" for p in self.problems]
        if self.rows_per_mart:
            width = max(len(name) for name in self.rows_per_mart)
            lines.append("  rows per mart:")
            lines += [f"    {name:<{width}} {rows:>12,}" for name, rows in self.rows_per_mart.items()]
        if self.published:
            lines.append(f"  snapshot: {self.published}")
        if self.log_path and not self.ok:
            lines.append(f"  dbt log: {self.log_path}")
        return "\n".join(lines)


def _quality_gate() -> tuple[bool, str]:
    """The ingestion stage's gate on loads not yet checked; absent until ingestion provides it."""
    try:
        from ingestion.quality import check_new_loads
    except ModuleNotFoundError as exc:
        if exc.name and exc.name.startswith("ingestion"):
            return True, "quality gate: not available (ingestion.quality not installed)"
        raise
    report = check_new_loads()
    return bool(report.ok), report.summary()


def _require_raw(path: Path) -> None:
    """A build without raw data can only fail; say what to do instead. Any one dataset will do:
    the models read a dataset raw lacks as an empty one (`chicago_source`)."""
    if not path.exists():
        raise CrashesError(f"no warehouse at {path}: run `crashes ingest` first")
    with warehouse.connect(read_only=True) as con:
        if not any(warehouse.table_exists(con, "raw", spec.table) for spec in DATASETS.values()):
            raise CrashesError(f"no raw dataset in {path}: run `crashes ingest` first")


def _tally(result: BuildResult, nodes: list[NodeResult]) -> None:
    for node in nodes:
        if node.resource_type in MODEL_TYPES:
            if node.status == "success":
                result.models_built += 1
            elif node.status == "skipped":
                result.models_skipped += 1
            elif node.status in FAILED:
                result.models_failed += 1
                result.problems.append(f"model {node.name} failed: {node.message}")
        elif node.resource_type in TEST_TYPES:
            if node.status == "pass":
                result.tests_passed += 1
            elif node.status == "warn":
                result.tests_warned += 1
                result.problems.append(f"warning: {node.resource_type} {node.name}: {node.message}")
            elif node.status in FAILED:
                result.tests_failed += 1
                result.problems.append(f"{node.resource_type} {node.name} failed: {node.message}")
    # Failures first, warnings after: the first problem is the one a one-line report names.
    result.problems.sort(key=lambda problem: problem.startswith("warning:"))


def _publish_problem(exc: duckdb.Error | OSError, gold: Path) -> str:
    """One line, cause first: a full disk says so before anything else."""
    text = " ".join(str(exc).split())
    if (isinstance(exc, OSError) and exc.errno == errno.ENOSPC) or "No space left on device" in text:
        where = getattr(exc, "filename", None) or gold.parent
        return f"no space left on device writing {where}: publish failed, gold not replaced (free space and rebuild)"
    return f"publish failed, gold not replaced: {text}"


def _discard_untested_marts(result: BuildResult, build_file: Path, gold: Path) -> None:
    """dbt wrote marts before their tests failed: back to the published snapshot (see discard_build)."""
    try:
        discard_build(build_file, gold)
    except OSError as exc:
        result.problems.append(f"could not reset {build_file.name} to the published gold: {exc}")


def build_path() -> Path:
    """The marts as dbt last built them: what a run's later stages read before its publish."""
    return get_settings().home / GOLD_BUILD_FILE


def reset_build() -> None:
    """Put the marts dbt builds in back to the published snapshot, before a publish that did not
    build them all (a killed or failed run may have left marts there that gold does not hold)."""
    settings = get_settings()
    discard_build(settings.home / GOLD_BUILD_FILE, settings.gold_path)


def build(
    select: str | None = None,
    full_refresh: bool = False,
    publish_gold: bool = True,
    stop_requested: Callable[[], bool] | None = None,
) -> BuildResult:
    """Gate the new loads, build and test with dbt, and publish gold if everything passed
    (with `publish_gold=False`, leave the tested marts for a publish at the run's end).
    `stop_requested`: see `publish`."""
    settings = get_settings().ensure()
    started = time.perf_counter()
    _require_raw(settings.warehouse_path)
    remove_leftovers(settings.gold_path)  # a publish killed mid-copy left its temporary file
    paths = DbtPaths.for_settings(settings)
    result = BuildResult(ok=False, log_path=paths.logs / "dbt.log")

    gate_started = time.perf_counter()
    gate_ok, result.quality = _quality_gate()
    result.gate_seconds = time.perf_counter() - gate_started
    if not gate_ok:
        result.problems.append("quality gate failed: dbt not run")
        result.elapsed = time.perf_counter() - started
        return result

    command = ["build", "--exclude-resource-type", "unit_test"]
    if select:
        command += ["--select", select]
    else:
        # The model-monitoring marts change with the scores: the publish after scoring builds them
        # (orchestration.stages.SCORES_MART); a build without new scores keeps gold's.
        command += ["--exclude", f"tag:{MONITORING_TAG}"]
    if full_refresh:
        command.append("--full-refresh")
    dbt_started = time.perf_counter()
    run = run_dbt(command, settings)
    result.dbt_seconds = time.perf_counter() - dbt_started
    if select and not run.nodes and not run.error:
        raise CrashesError(
            f"--select {select!r} matches no dbt model, seed, snapshot or test: nothing built, gold not replaced"
        )
    _tally(result, run.nodes)
    if run.error:
        result.problems.append(f"dbt: {run.error}")
    result.ok = run.success and result.models_failed == 0 and result.tests_failed == 0 and not run.error
    if not result.ok:
        _discard_untested_marts(result, settings.home / GOLD_BUILD_FILE, settings.gold_path)

    if result.ok:
        publish_started = time.perf_counter()
        try:
            docs = model_docs(paths.target, "marts")
            if publish_gold:
                built = settings.home / GOLD_BUILD_FILE
                result.rows_per_mart = publish(built, settings.gold_path, docs, stop_requested)
                result.published = settings.gold_path
            else:
                result.rows_per_mart = prepare(settings.home / GOLD_BUILD_FILE, docs)
                result.held = True
        except (duckdb.Error, OSError) as exc:
            result.ok = False
            result.publish_error = _publish_problem(exc, settings.gold_path)
            result.problems.insert(0, result.publish_error)
        result.publish_seconds = time.perf_counter() - publish_started
    result.elapsed = time.perf_counter() - started
    return result
