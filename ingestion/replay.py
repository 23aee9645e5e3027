"""The replay source: portal export files, planned and read by `ingestion/exports.py`, as dlt
resources, so they take the same bronze → raw path as the API source."""

from __future__ import annotations

from collections.abc import Iterator

import dlt
import pyarrow as pa
from dlt.sources import DltResource

from ingestion.datasets import DATASETS
from ingestion.exports import ReplayPlan


def _resource(plan: ReplayPlan, dataset: str) -> DltResource:
    spec = DATASETS[dataset]

    def tables() -> Iterator[pa.Table]:
        yield from plan.tables(dataset)

    return dlt.resource(
        tables, name=spec.table, write_disposition="append", columns=spec.text_columns(), max_table_nesting=0
    )


@dlt.source(name="replay", max_table_nesting=0)
def replay_source(plan: ReplayPlan) -> list[DltResource]:
    return [_resource(plan, name) for name in plan.files]
