"""dlt source for the City of Chicago traffic-crash datasets on Socrata (SODA 2.x).

One resource per dataset (crashes, vehicles, people), each paging `/resource/<id>.json` by keyset
(after the last row's `:updated_at, :id`, see `SodaKeysetPaginator`: offsets lose rows on a
dataset amended while it pages), yielding Arrow tables of strings (as delivered).

Two modes:
- incremental (default): `:updated_at` since the saved cursor minus `lag_seconds`, so late
  amendments arrive; the cursor is dlt incremental state, saved only with a completed load.
- backfill (`since`/`until`): a window on `crash_date`; the cursor is neither used nor moved.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import date, timedelta
from typing import Any

import dlt
import pyarrow as pa
from dlt.sources import DltResource
from dlt.sources.helpers.requests.retry import Client
from dlt.sources.helpers.rest_client import RESTClient
from requests import HTTPError, Response

from ingestion.datasets import CURSOR_COLUMN, DATASETS, DatasetSpec, parse_datasets
from ingestion.records import rows_to_table
from ingestion.socrata.helpers import (
    SodaKeysetPaginator,
    backfill_where,
    incremental_where,
    query_params,
)
from ingestion.socrata.settings import (
    BACKFILL_END,
    BACKFILL_START,
    DEFAULT_LAG_SECONDS,
    DEFAULT_PAGE_SIZE,
    REQUEST_MAX_ATTEMPTS,
    REQUEST_MAX_RETRY_DELAY_SECONDS,
    REQUEST_TIMEOUT_SECONDS,
)


def _looks_truncated(response: Response | None, exc: BaseException | None) -> bool:
    """Retry a 200 whose JSON array is cut off (a dropped connection mid-body). A cheap check on
    the body's last byte; a full parse happens once, on the accepted response."""
    if response is None or exc is not None or response.status_code != 200:
        return False
    body = response.content.rstrip()
    return not body.endswith(b"]")


def _pages(client: RESTClient, spec: DatasetSpec, where: str | None, page_size: int) -> Iterator[pa.Table]:
    path = f"/resource/{spec.resource_id}.json"
    paginator = SodaKeysetPaginator(spec, where, page_size)
    pages = client.paginate(path, params=query_params(spec), paginator=paginator, hooks={"response": [_check_status]})
    try:
        for page in pages:
            yield rows_to_table(list(page), spec)
    except HTTPError as exc:
        response = exc.response
        detail = " ".join(response.text[:300].split()) if response is not None else ""
        status = response.status_code if response is not None else "?"
        raise SocrataError(f"{spec.name}: {path} answered HTTP {status} after retries: {detail}") from None
    except ValueError as exc:  # JSON that still does not parse after the retries
        raise SocrataError(f"{spec.name}: the server returned a page that is not valid JSON ({exc})") from None


def dataset_resource(
    spec: DatasetSpec,
    client: RESTClient,
    page_size: int,
    since: date | None,
    until: date | None,
    lag_seconds: int,
    initial_updated_at: str | None,
) -> DltResource:
    backfill = since is not None
    cursor = dlt.sources.incremental(
        CURSOR_COLUMN,
        initial_value=BACKFILL_START if backfill else initial_updated_at,
        end_value=BACKFILL_END if backfill else None,
        lag=None if backfill else lag_seconds,
        on_cursor_value_missing="include",
        primary_key=(),  # no boundary dedupe: raw merges on the dataset key anyway
    )

    def pages(updated_at: dlt.sources.incremental[str] = cursor) -> Iterator[pa.Table]:
        if backfill:
            where = backfill_where(spec, since, until)  # type: ignore[arg-type]
        else:
            # dlt already applied the lag to start_value; the helper applies none on top.
            where = incremental_where(spec, updated_at.start_value, timedelta(0))
        yield from _pages(client, spec, where, page_size)

    return dlt.resource(
        pages,
        name=spec.table,
        write_disposition="append",
        columns=spec.text_columns(),
        max_table_nesting=0,
    )


def make_client(
    base_url: str,
    app_token: str | None,
    request_max_attempts: int,
    request_timeout: float,
    request_backoff_factor: float = 1.0,
) -> RESTClient:
    """dlt's retrying session: 429 honouring Retry-After, 5xx, timeouts, dropped connections and
    truncated bodies are retried with exponential backoff."""
    session = Client(
        raise_for_status=False,
        request_timeout=request_timeout,
        request_max_attempts=request_max_attempts,
        request_backoff_factor=request_backoff_factor,
        request_max_retry_delay=REQUEST_MAX_RETRY_DELAY_SECONDS,
        retry_condition=_looks_truncated,
        respect_retry_after_header=True,
    ).session
    headers = {"Accept": "application/json"}
    if app_token:
        headers["X-App-Token"] = app_token
    return RESTClient(base_url=base_url.rstrip("/"), headers=headers, session=session)


def _check_status(response: Response, *_: Any, **__: Any) -> None:
    """Raise HTTPError on an error status: the retrying session retries 429/5xx on it, and an
    error that survives the retries is reported with the server's own words."""
    if response.status_code >= 400:
        raise HTTPError(f"HTTP {response.status_code}", response=response)


class SocrataError(RuntimeError):
    """The server answered, but not with data we can load (after retries)."""


@dlt.source(name="socrata", max_table_nesting=0)
def socrata_source(
    base_url: str = dlt.config.value,
    app_token: str | None = dlt.secrets.value,
    datasets: Sequence[str] | None = None,
    page_size: int = DEFAULT_PAGE_SIZE,
    since: date | None = None,
    until: date | None = None,
    lag_seconds: int = DEFAULT_LAG_SECONDS,
    initial_updated_at: str | None = None,
    request_max_attempts: int = REQUEST_MAX_ATTEMPTS,
    request_timeout: float = REQUEST_TIMEOUT_SECONDS,
    request_backoff_factor: float = 1.0,
) -> list[DltResource]:
    specs = parse_datasets(",".join(datasets)) if datasets else list(DATASETS.values())
    client = make_client(base_url, app_token, request_max_attempts, request_timeout, request_backoff_factor)
    return [dataset_resource(spec, client, page_size, since, until, lag_seconds, initial_updated_at) for spec in specs]
