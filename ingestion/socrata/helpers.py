"""SoQL query building and SODA paging for the Socrata source."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

from dlt.sources.helpers.rest_client.paginators import OffsetPaginator
from requests import Response

from ingestion.datasets import DatasetSpec


def soql_timestamp(value: date | datetime) -> str:
    """A SoQL floating-timestamp literal. Built from date/datetime objects only, never from
    user text, so nothing a user types reaches the query unparsed."""
    if not isinstance(value, datetime):
        value = datetime(value.year, value.month, value.day)
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}"


def parse_socrata_ts(value: str) -> datetime:
    """`2024-03-01T12:00:00.000Z` (system fields) → naive UTC datetime."""
    return datetime.fromisoformat(value.replace("Z", "+00:00")).replace(tzinfo=None)


def backfill_where(spec: DatasetSpec, since: date, until: date | None) -> str:
    """A window on the dataset's date field: [since, until)."""
    clause = f"{spec.date_field} >= '{soql_timestamp(since)}'"
    if until is not None:
        clause += f" and {spec.date_field} < '{soql_timestamp(until)}'"
    return clause


def incremental_where(spec: DatasetSpec, updated_after: str | None, lag: timedelta) -> str | None:
    """Everything updated since the saved cursor minus a lag window, so amendments that become
    visible late are fetched again (raw merges on the key, so a re-fetch never duplicates)."""
    if not updated_after:
        return None
    start = parse_socrata_ts(updated_after) - lag
    return f"{spec.cursor_field} >= '{soql_timestamp(start)}'"


def query_params(spec: DatasetSpec, where: str | None) -> dict[str, Any]:
    """`$select=:*,*` brings :id/:updated_at along; `$order` makes offset paging stable."""
    params: dict[str, Any] = {"$select": ":*,*", "$order": spec.order_by}
    if where:
        params["$where"] = where
    return params


class SodaPaginator(OffsetPaginator):
    """`$limit`/`$offset` paging that stops on a short page instead of asking for an empty one."""

    def __init__(self, limit: int) -> None:
        super().__init__(
            limit=limit,
            offset_param="$offset",
            limit_param="$limit",
            total_path=None,
            stop_after_empty_page=True,
        )

    def update_state(self, response: Response, data: list[Any] | None = None) -> None:
        super().update_state(response, data)
        if data is not None and len(data) < self.limit:
            self._has_next_page = False
