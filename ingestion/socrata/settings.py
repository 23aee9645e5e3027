"""The Socrata source's defaults. The datasets themselves (ids, keys, columns) are in
`ingestion/datasets.py`: every stage reads them, most without loading dlt."""

from __future__ import annotations

DEFAULT_PAGE_SIZE = 50_000
# Amendments are pulled again for a day after the saved cursor: Socrata's :updated_at can land late.
DEFAULT_LAG_SECONDS = 86_400
REQUEST_MAX_ATTEMPTS = 6
# A refused connection (nothing listens there) is tried this often, about 3 s, not 6 times (31 s).
CONNECT_ATTEMPTS = 3
REQUEST_TIMEOUT_SECONDS = 120.0
REQUEST_MAX_RETRY_DELAY_SECONDS = 60

# A backfill passes an incremental with an end value: dlt then filters nothing and saves no state.
BACKFILL_START = "1970-01-01T00:00:00.000Z"
BACKFILL_END = "9999-12-31T23:59:59.999Z"
