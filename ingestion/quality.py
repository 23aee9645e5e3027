"""The Great Expectations gate on each new raw load.

GX 1.24 returns wrong results against DuckDB through SQLAlchemy (see DESIGN.md), so the rows of
a load are pulled from DuckDB as a DataFrame — with a few columns DuckDB derives set-wise
(parsed timestamp, numeric coordinates) — and validated in pandas. Results go to
`raw.quality_results` (one row per load × expectation) and to `quality/<load_id>.json`.
Only a broken key fails the gate: anything else is reported with counts and the run goes on,
because staging keeps and counts bad values rather than dropping them.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import duckdb
import pandas as pd
import pyarrow as pa

from crashes import warehouse
from crashes.config import get_settings
from ingestion.datasets import DATASETS

RESULTS_TABLE = "raw.quality_results"
CHICAGO_LAT = (41.60, 42.05)
CHICAGO_LNG = (-87.96, -87.50)
TIMESTAMP_RE = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,3})?$"
YN = ["Y", "N"]


@dataclass(frozen=True)
class Check:
    """One expectation: GX class name, its arguments, and whether failing it stops the run."""

    expectation: str
    column: str
    kwargs: dict[str, Any] = field(default_factory=dict)
    blocking: bool = False


def _key_checks(key: str) -> list[Check]:
    return [
        Check("ExpectColumnValuesToNotBeNull", key, blocking=True),
        Check("ExpectColumnValuesToBeUnique", key, blocking=True),
    ]


def _date_checks() -> list[Check]:
    return [
        Check("ExpectColumnValuesToMatchRegex", "crash_date", {"regex": TIMESTAMP_RE}),
        # `crash_ts` is crash_date parsed by DuckDB; a day of slack for the floating local time.
        Check("ExpectColumnValuesToBeBetween", "crash_ts", {"max_value": "__tomorrow__"}),
    ]


# The suites: one list per dataset, here and nowhere else.
SUITES: dict[str, list[Check]] = {
    "crashes": [
        *_key_checks("crash_record_id"),
        *_date_checks(),
        Check(
            "ExpectColumnValuesToBeBetween",
            "latitude_num",
            {"min_value": CHICAGO_LAT[0], "max_value": CHICAGO_LAT[1], "mostly": 0.99},
        ),
        Check(
            "ExpectColumnValuesToBeBetween",
            "longitude_num",
            {"min_value": CHICAGO_LNG[0], "max_value": CHICAGO_LNG[1], "mostly": 0.99},
        ),
        Check("ExpectColumnValuesToNotBeNull", "latitude_parsed", {"mostly": 1.0}),
        Check("ExpectColumnValuesToBeInSet", "hit_and_run_i", {"value_set": YN}),
        Check("ExpectColumnValuesToBeInSet", "intersection_related_i", {"value_set": YN}),
        Check("ExpectColumnValuesToBeInSet", "crash_day_of_week", {"value_set": [str(d) for d in range(1, 8)]}),
    ],
    "vehicles": [
        *_key_checks("crash_unit_id"),
        *_date_checks(),
        Check("ExpectColumnValuesToNotBeNull", "crash_record_id"),
        Check(
            "ExpectColumnValuesToBeInSet",
            "unit_type",
            {
                "value_set": [
                    "DRIVER",
                    "PARKED",
                    "PEDESTRIAN",
                    "BICYCLE",
                    "DRIVERLESS",
                    "NON-MOTOR VEHICLE",
                    "NON-CONTACT VEHICLE",
                    "DISABLED VEHICLE",
                    "EQUESTRIAN",
                ]
            },
        ),
    ],
    "people": [
        *_key_checks("person_id"),
        *_date_checks(),
        Check("ExpectColumnValuesToNotBeNull", "crash_record_id"),
        Check(
            "ExpectColumnValuesToBeInSet",
            "person_type",
            {"value_set": ["DRIVER", "PASSENGER", "PEDESTRIAN", "BICYCLE", "NON-MOTOR VEHICLE", "NON-CONTACT VEHICLE"]},
        ),
        Check("ExpectColumnValuesToBeInSet", "sex", {"value_set": ["M", "F", "X"]}),
    ],
}


@dataclass
class CheckResult:
    load_id: str
    dataset: str
    expectation: str
    column: str
    success: bool
    unexpected_count: int
    element_count: int
    blocking: bool


@dataclass
class QualityReport:
    results: list[CheckResult] = field(default_factory=list)
    loads: list[str] = field(default_factory=list)

    @property
    def failed(self) -> list[CheckResult]:
        return [r for r in self.results if not r.success]

    @property
    def failed_expectations(self) -> int:
        return len(self.failed)

    @property
    def ok(self) -> bool:
        """Only a broken key stops the pipeline."""
        return not any(r.blocking for r in self.failed)

    def summary(self) -> str:
        if not self.loads:
            return "quality gate: no new raw loads to check"
        head = (
            f"quality gate: {len(self.results)} expectations on {len(self.loads)} load(s), "
            f"{self.failed_expectations} failed{'' if self.ok else ' — KEY BROKEN, run stopped'}"
        )
        lines = [head]
        for r in self.failed:
            lines.append(
                f"  {'BLOCKING ' if r.blocking else ''}{r.dataset}.{r.column} {r.expectation}: "
                f"{r.unexpected_count:,} of {r.element_count:,} rows unexpected (load {r.load_id})"
            )
        return "\n".join(lines)


def _derived_select(dataset: str, columns: set[str]) -> str:
    """Columns GX needs, with DuckDB deriving the typed ones set-wise."""
    needed = {c.column for c in SUITES[dataset]} & columns
    parts = [f'"{c}"' for c in sorted(needed)]
    if "crash_date" in columns:
        parts.append(
            "coalesce(try_strptime(crash_date, '%Y-%m-%dT%H:%M:%S.%g'), "
            "try_strptime(crash_date, '%Y-%m-%dT%H:%M:%S')) as crash_ts"
        )
    if "latitude" in columns:
        parts += [
            "try_cast(latitude as double) as latitude_num",
            "try_cast(longitude as double) as longitude_num",
            # null only when a latitude was delivered but is not a number (garbled)
            "case when latitude is null or try_cast(latitude as double) is not null then true end as latitude_parsed",
        ]
    return ", ".join(parts)


def _run_suite(frame: pd.DataFrame, checks: list[Check]) -> list[tuple[Check, dict[str, Any]]]:
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
    import great_expectations as gx  # slow import (7–9 s): only when a gate actually runs
    from great_expectations.data_context.types.base import ProgressBarsConfig

    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    batch = (
        context.data_sources.add_pandas("raw")
        .add_dataframe_asset(name="load")
        .add_batch_definition_whole_dataframe("whole")
        .get_batch(batch_parameters={"dataframe": frame})
    )
    tomorrow = pd.Timestamp(datetime.now() + timedelta(days=1))
    applicable = [c for c in checks if c.column in frame.columns]
    suite = gx.ExpectationSuite(name="raw_load")
    by_key: dict[tuple[str, str], Check] = {}
    for check in applicable:
        kwargs = {k: (tomorrow if v == "__tomorrow__" else v) for k, v in check.kwargs.items()}
        expectation = getattr(gx.expectations, check.expectation)(column=check.column, **kwargs)
        by_key[(expectation.expectation_type, check.column)] = check
        suite.add_expectation(expectation)
    validation = batch.validate(suite)
    return [
        (
            by_key[(res.expectation_config.type, res.expectation_config.kwargs["column"])],
            {"success": bool(res.success), **(res.result or {})},
        )
        for res in validation.results
    ]


def _loads_to_check(con: duckdb.DuckDBPyConnection) -> list[str]:
    """Raw loads never checked, plus loads whose key was broken last time: those are checked again
    on every run, so the pipeline stays stopped until the data is fixed, not just once."""
    con.execute(
        f"""create table if not exists {RESULTS_TABLE} (
            load_id varchar, dataset varchar, expectation varchar, column_name varchar,
            success boolean, unexpected_count bigint, element_count bigint, blocking boolean,
            checked_at timestamp)"""
    )
    return [
        r[0]
        for r in con.execute(
            f"""select load_id from raw._dlt_loads where status = 0 and schema_name = 'raw'
                and (load_id not in (select load_id from {RESULTS_TABLE})
                     or load_id in (select load_id from {RESULTS_TABLE} where blocking and not success))
                order by load_id"""  # noqa: S608
        ).fetchall()
    ]


def check_new_loads() -> QualityReport:
    """Validate the rows of every raw load not yet checked; record and return the results."""
    settings = get_settings()
    report = QualityReport()
    if not settings.warehouse_path.exists():
        return report
    with warehouse.connect() as con:
        if not warehouse.table_exists(con, "raw", "_dlt_loads"):
            return report
        loads = _loads_to_check(con)
        present = {
            r[0]: {
                c[0]
                for c in con.execute(
                    "select column_name from information_schema.columns where table_schema='raw' and table_name=?",
                    [r[0]],
                ).fetchall()
            }
            for r in con.execute("select table_name from information_schema.tables where table_schema='raw'").fetchall()
        }
        for load_id in loads:
            for dataset in DATASETS:
                if dataset not in present:
                    continue
                frame = con.execute(
                    f"select {_derived_select(dataset, present[dataset])} from raw.{dataset} "  # noqa: S608
                    "where _dlt_load_id = ?",
                    [load_id],
                ).df()
                if frame.empty:
                    continue
                for check, res in _run_suite(frame, SUITES[dataset]):
                    report.results.append(
                        CheckResult(
                            load_id=load_id,
                            dataset=dataset,
                            expectation=check.expectation,
                            column=check.column,
                            success=res["success"],
                            unexpected_count=int(res.get("unexpected_count") or 0),
                            element_count=int(res.get("element_count") or len(frame)),
                            blocking=check.blocking,
                        )
                    )
            report.loads.append(load_id)
        _record(con, report)
    _write_json(report)
    return report


def _record(con: duckdb.DuckDBPyConnection, report: QualityReport) -> None:
    checked_at = datetime.now(UTC).replace(tzinfo=None)
    rows = report.results or []
    # A load with no rows to check still gets a marker row, so it is not checked again.
    markers = [lid for lid in report.loads if not any(r.load_id == lid for r in rows)]
    table = pa.table(
        {
            "load_id": [r.load_id for r in rows] + markers,
            "dataset": [r.dataset for r in rows] + [None] * len(markers),
            "expectation": [r.expectation for r in rows] + ["(no rows)"] * len(markers),
            "column_name": [r.column for r in rows] + [None] * len(markers),
            "success": [r.success for r in rows] + [True] * len(markers),
            "unexpected_count": [r.unexpected_count for r in rows] + [0] * len(markers),
            "element_count": [r.element_count for r in rows] + [0] * len(markers),
            "blocking": [r.blocking for r in rows] + [False] * len(markers),
            "checked_at": [checked_at] * (len(rows) + len(markers)),
        }
    )
    con.execute(f"delete from {RESULTS_TABLE} where list_contains(?, load_id)", [report.loads])  # noqa: S608
    if table.num_rows:
        con.register("new_results", table)
        con.execute(f"insert into {RESULTS_TABLE} by name select * from new_results")  # noqa: S608
        con.unregister("new_results")


def _write_json(report: QualityReport) -> None:
    if not report.loads:
        return
    folder = get_settings().quality_dir
    folder.mkdir(parents=True, exist_ok=True)
    for load_id in report.loads:
        payload = [r.__dict__ for r in report.results if r.load_id == load_id]
        (folder / f"{load_id}.json").write_text(json.dumps(payload, indent=2))
