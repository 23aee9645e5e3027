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
from dlt.sources.helpers.requests.session import Session
from dlt.sources.helpers.rest_client import RESTClient
from requests import HTTPError, RequestException, Response
from tenacity import RetryCallState, stop_any

from ingestion.datasets import CURSOR_COLUMN, DATASETS, DatasetSpec, parse_datasets
from ingestion.records import rows_to_table
from ingestion.socrata.errors import SocrataError, cannot_connect, from_http_error, from_request_error
from ingestion.socrata.helpers import (
    PagingError,
    SodaKeysetPaginator,
    backfill_where,
    incremental_where,
    query_params,
)
from ingestion.socrata.settings import (
    BACKFILL_END,
    BACKFILL_START,
    CONNECT_ATTEMPTS,
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


def _pages(
    client: RESTClient, spec: DatasetSpec, where: str | None, page_size: int, attempts: int
) -> Iterator[pa.Table]:
    path = f"/resource/{spec.resource_id}.json"
    paginator = SodaKeysetPaginator(spec, where, page_size)
    pages = client.paginate(path, params=query_params(spec), paginator=paginator, hooks={"response": [_check_status]})
    try:
        for page in pages:
            yield rows_to_table(list(page), spec)
    except HTTPError as exc:
        raise from_http_error(spec.name, exc) from None
    except ValueError as exc:  # JSON that still does not parse after the retries (requests' too)
        raise SocrataError(f"{spec.name}: the server returned a page that is not valid JSON ({exc})") from None
    except RequestException as exc:  # no connection, timeouts, dropped connections: after retries
        raise from_request_error(spec.name, exc, attempts) from None
    except PagingError as exc:
        raise SocrataError(f"{spec.name}: {exc}") from None


def dataset_resource(
    spec: DatasetSpec,
    client: RESTClient,
    attempts: int,
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
        yield from _pages(client, spec, where, page_size, attempts)

    return dlt.resource(
        pages,
        name=spec.table,
        write_disposition="append",
        columns=spec.text_columns(),
        max_table_nesting=0,
    )


class _Client(Client):
    """dlt's retrying client, except that a server refusing connections (a wrong port, nothing
    running) is tried CONNECT_ATTEMPTS times, not for half a minute; 429/5xx, timeouts and
    connections dropped mid-answer keep every attempt."""

    def _make_session(self) -> Session:
        session = super()._make_session()
        send = session.send  # dlt's tenacity-wrapped send: keep its waits and conditions
        session.send = send.retry_with(stop=stop_any(send.retry.stop, _refused_too_often))  # type: ignore[attr-defined,method-assign]
        return session


def _refused_too_often(state: RetryCallState) -> bool:
    return (
        state.outcome is not None
        and cannot_connect(state.outcome.exception())
        and state.attempt_number >= CONNECT_ATTEMPTS
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
    session = _Client(
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
    return [
        dataset_resource(spec, client, request_max_attempts, page_size, since, until, lag_seconds, initial_updated_at)
        for spec in specs
    ]
