"""ingest(): a source → bronze (parquet, as delivered) → raw (DuckDB, merged on the key).

The one public entry point of the ingestion stage. It is safe to re-run after any failure:
dlt finishes pending load packages first (and a re-run append job is repaired), bronze loads not
yet in raw are synced on the next run, and raw keeps one row per key (a merge, or an append when
no key is held yet), so nothing is lost and nothing is duplicated. Callers hold the pipeline lock
(`crashes` commands and the flow do): two syncs at once could both decide to append.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import dlt
import duckdb
import pyarrow as pa
from dlt.pipeline.exceptions import PipelineStepFailed

from crashes import warehouse
from crashes.config import Settings, get_settings
from crashes.errors import CrashesError
from ingestion.bronze import bronze_pipeline, open_bronze
from ingestion.datasets import DATASETS, parse_datasets
from ingestion.exports import plan_replay
from ingestion.raw import SyncCounts, bronze_to_raw, clear_staged, drop_repeated_rows, raw_pipeline, synced_loads

PROJECT_ROOT = Path(__file__).resolve().parents[1]


@dataclass
class IngestResult:
    mode: str
    bronze_url: str
    warehouse: Path
    loads: list[str] = field(default_factory=list)
    rows: dict[str, int] = field(default_factory=dict)
    rejected: dict[str, int] = field(default_factory=dict)
    superseded: dict[str, int] = field(default_factory=dict)
    raw_rows: dict[str, int] = field(default_factory=dict)
    skipped_files: list[str] = field(default_factory=list)
    shapes: list[str] = field(default_factory=list)  # replay: each file and the shape read
    seconds: float = 0.0

    @property
    def total_rows(self) -> int:
        return sum(self.rows.values())

    def summary(self) -> str:
        lines = [f"ingest ({self.mode}) finished in {self.seconds:.1f} s"]
        for name in DATASETS:
            if name in self.rows or name in self.raw_rows:
                lines.append(
                    f"  {name:<9} delivered {self.rows.get(name, 0):>9,}"
                    f"   repeated {self.superseded.get(name, 0):>6,}"
                    f"   rejected {self.rejected.get(name, 0):>6,}"
                    f"   raw now {self.raw_rows.get(name, 0):>9,}"
                )
        lines.append(f"  bronze: {self.bronze_url}   raw: {self.warehouse} (schema raw)")
        if self.loads:
            lines.append(f"  bronze loads synced to raw: {', '.join(self.loads)}")
        for shape in self.shapes:
            lines.append(f"  read {shape}")
        for skipped in self.skipped_files:
            lines.append(f"  skipped {skipped}")
        return "\n".join(lines)


def _configure() -> None:
    """Let dlt find the project's `.dlt/` wherever `crashes` is run from, and give Arrow the
    system allocator: mimalloc keeps freed pages of each replayed file (1.64 GB peak RSS on the
    real crash files against 1.26 GB, at the same speed).

    And import pandas here, in the ingesting thread. pyarrow imports it at its first scalar or
    compute call; if that is the replay's reading thread (or an in-process devserver's), dlt can
    meet the half-imported module in the main thread ("partially initialized module 'pandas'")."""
    import pandas  # noqa: F401

    pa.set_memory_pool(pa.system_memory_pool())
    if (PROJECT_ROOT / ".dlt").is_dir():
        os.environ.setdefault("DLT_PROJECT_DIR", str(PROJECT_ROOT))
    os.environ.setdefault("RUNTIME__DLTHUB_TELEMETRY", "false")
    os.environ.setdefault("NORMALIZE__PARQUET_NORMALIZER__ADD_DLT_LOAD_ID", "true")
    os.environ.setdefault("NORMALIZE__PARQUET_NORMALIZER__ADD_DLT_ID", "false")


def raw_row_counts(settings: Settings) -> dict[str, int]:
    if not settings.warehouse_path.exists():
        return {}
    with warehouse.connect(read_only=True) as con:
        present = {
            r[0]
            for r in con.execute(
                "select table_name from information_schema.tables where table_schema = 'raw'"
            ).fetchall()
        }
        return {
            name: con.execute(f"select count(*) from raw.{name}").fetchone()[0]  # noqa: S608 - fixed names
            for name in DATASETS
            if name in present
        }


def _step_error(exc: BaseException, step: str) -> CrashesError:
    """dlt wraps the cause several levels deep; the user needs the innermost message."""
    cause: BaseException = exc
    while not isinstance(cause, CrashesError) and (cause.__cause__ or cause.__context__) is not None:
        cause = cause.__cause__ or cause.__context__  # type: ignore[assignment]
    if isinstance(cause, CrashesError):  # already says what happened and what to do
        return cause
    if isinstance(cause, duckdb.IOException) and "lock" in str(cause).lower():
        return warehouse.lock_error(cause)
    message = " ".join(str(cause).split())[:500]
    return CrashesError(f"ingest failed at {step}: {type(cause).__name__}: {message}")


def _finish_interrupted(pipeline: dlt.Pipeline) -> None:
    """Load what a killed run left packaged for raw (dlt re-runs the jobs not marked done), then
    repair what re-running an append job may have doubled."""
    interrupted = [*pipeline.list_extracted_load_packages(), *pipeline.list_normalized_load_packages()]
    if not interrupted:
        return
    try:
        pipeline.run()  # no data: dlt only finishes pending packages
    except PipelineStepFailed as exc:
        raise _step_error(exc, f"dlt step '{exc.step}' of an interrupted raw load") from exc
    with warehouse.connect() as con:
        drop_repeated_rows(con, interrupted)


def sync_raw(settings: Settings) -> tuple[list[str], SyncCounts]:
    """Merge every completed bronze load that raw does not hold yet."""
    counts = SyncCounts()
    pipeline = raw_pipeline(settings)
    _finish_interrupted(pipeline)
    bronze = open_bronze(settings)
    done = synced_loads(settings)
    pending = [lid for lid in bronze.completed_loads() if lid not in done]
    if pending:
        try:
            # Building the source reads bronze and raw already (it ranks the versions).
            source = bronze_to_raw(bronze, pending, counts, settings.warehouse_path)
        except (duckdb.Error, OSError) as exc:
            raise _step_error(exc, "reading bronze for raw") from exc
        try:
            # No forced file format: Arrow items go as parquet, the merged rows as SQL models.
            pipeline.run(source)
        except PipelineStepFailed as exc:
            raise _step_error(exc, f"dlt step '{exc.step}'") from exc
    clear_staged(pipeline)
    return pending, counts


def ingest(
    datasets: str | list[str] | None = None,
    since: date | None = None,
    until: date | None = None,
    base_url: str | None = None,
    page_size: int | None = None,
    source: str = "socrata",
    path: Path | None = None,
    dataset: str | None = None,
) -> IngestResult:
    """Extract from Socrata (incremental, or a backfill window) or replay export files, land the
    extraction in bronze, then merge it into raw."""
    _configure()
    settings = get_settings().ensure()
    started = time.perf_counter()
    skipped: list[str] = []
    plan = None
    if source == "replay":
        from ingestion.replay import replay_source

        if path is None:
            raise CrashesError("replay needs a path to a file or folder of export files")
        plan = plan_replay(Path(path), dataset)
        skipped = plan.skipped
        extraction = replay_source(plan)
        mode = "replay"
    elif source == "socrata":
        from ingestion.socrata import socrata_source

        names = datasets.split(",") if isinstance(datasets, str) else datasets
        try:
            specs = parse_datasets(",".join(names) if names else None) if names else list(DATASETS.values())
        except ValueError as exc:
            raise CrashesError(f"--datasets: {exc}") from None
        if until is not None and since is None:
            raise CrashesError("a backfill window needs a start (--since)")
        extraction = socrata_source(
            base_url=(base_url or settings.socrata_base_url).rstrip("/"),
            app_token=settings.socrata_app_token,
            datasets=[s.name for s in specs],
            page_size=page_size or settings.page_size,
            since=since,
            until=until,
        )
        mode = "backfill" if since else "incremental"
    else:
        raise CrashesError(f"unknown source {source!r}: use socrata or replay")

    bronze = bronze_pipeline(settings)
    try:
        bronze.run(extraction, loader_file_format="parquet")
    except PipelineStepFailed as exc:
        raise _step_error(exc, f"dlt step '{exc.step}'") from exc
    delivered = {t: n for t, n in bronze.last_trace.last_normalize_info.row_counts.items() if t in DATASETS}

    loads, counts = sync_raw(settings)
    return IngestResult(
        mode=mode,
        bronze_url=settings.bronze_url,
        warehouse=settings.warehouse_path,
        loads=loads,
        rows=delivered,
        rejected=counts.rejected,
        superseded=counts.superseded,
        raw_rows=raw_row_counts(settings),
        skipped_files=skipped,
        shapes=[f"{p.name}: {shape.label}" for p, shape in plan.shapes.items()] if plan else [],
        seconds=time.perf_counter() - started,
    )
