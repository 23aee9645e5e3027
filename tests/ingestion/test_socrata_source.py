"""The dlt Socrata source against the project's Socrata-compatible server, over real HTTP."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pytest

from crashes.errors import CrashesError
from ingestion.devserver.generator import generate_crashes, generate_units
from ingestion.devserver.server import SocrataServer
from ingestion.pipeline import ingest
from tests.ingestion.helpers import raw_count, raw_query

CRASHES_ID = "85ca-t3if"


@pytest.fixture(scope="module")
def tables() -> dict[str, pa.Table]:
    crashes = generate_crashes(date(2024, 1, 1), date(2024, 1, 11), crashes_per_day=250, seed=7)
    vehicles, people = generate_units(crashes, seed=7)
    return {"crashes": crashes, "vehicles": vehicles, "people": people}


@pytest.fixture
def server(tables: dict[str, pa.Table], crashes_home: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[SocrataServer]:
    # Fast retries in tests; the production defaults wait longer.
    monkeypatch.setenv("SOURCES__SOCRATA__REQUEST_MAX_ATTEMPTS", "4")
    monkeypatch.setenv("SOURCES__SOCRATA__REQUEST_BACKOFF_FACTOR", "0.05")
    monkeypatch.setenv("SOURCES__SOCRATA__REQUEST_TIMEOUT", "3")
    with SocrataServer(tables=dict(tables), port=0) as srv:
        yield srv


def _data_requests(srv: SocrataServer, resource: str = CRASHES_ID) -> list:
    return [r for r in srv.requests if resource in r.path]


def test_pages_by_keyset_under_a_stable_order(server: SocrataServer, tables, crashes_home: Path) -> None:
    n = tables["crashes"].num_rows
    result = ingest(base_url=server.url, datasets="crashes", page_size=1000)

    assert result.rows == {"crashes": n}
    assert raw_count(crashes_home, "crashes") == n
    reqs = _data_requests(server)
    assert len(reqs) == -(-n // 1000)  # a short last page ends paging: no extra empty request
    assert [r.rows for r in reqs] == [min(1000, n - i) for i in range(0, n, 1000)]
    assert all("$offset" not in r.params for r in reqs)
    # each page starts after the last row of the one before: (:updated_at, :id) as served
    served = server.store.table("crashes")
    for i, r in enumerate(reqs[1:], start=1):
        t = served["__updated_at"][i * 1000 - 1].as_py().strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3]
        row_id = served["__id"][i * 1000 - 1].as_py()
        assert r.params["$where"] == f":updated_at > '{t}' or (:updated_at = '{t}' and :id > '{row_id}')"
    assert "$where" not in reqs[0].params
    assert all(r.params["$order"] == ":updated_at, :id" for r in reqs)
    assert all(r.params["$select"] == ":*,*" for r in reqs)
    assert all(int(r.params["$limit"]) == 1000 for r in reqs)
    # system fields came along and were named for SQL
    (updated,) = raw_query(crashes_home, "select max(socrata_updated_at) from raw.crashes")[0]
    assert updated and updated.endswith("Z")


def test_all_three_datasets_link_up(server: SocrataServer, tables, crashes_home: Path) -> None:
    result = ingest(base_url=server.url)

    assert result.rows == {k: t.num_rows for k, t in tables.items()}
    orphans = raw_query(
        crashes_home,
        "select count(*) from raw.people p left join raw.vehicles v using (vehicle_id) "
        "where p.vehicle_id is not null and v.vehicle_id is null",
    )[0][0]
    assert orphans == 0


def test_incremental_fetches_only_changes_and_merges_amendments(server: SocrataServer, tables, crashes_home) -> None:
    n = tables["crashes"].num_rows
    ingest(base_url=server.url, datasets="crashes", page_size=5000)
    first = _data_requests(server)
    assert "$where" not in first[0].params  # no cursor yet: everything

    amended = tables["crashes"].slice(0, 5)
    amended = amended.set_column(
        amended.column_names.index("weather_condition"), "weather_condition", pa.array(["SNOW"] * 5)
    )
    new = generate_crashes(date(2024, 1, 11), date(2024, 1, 12), crashes_per_day=3, seed=99)
    server.upsert("crashes", pa.concat_tables([amended, new.select(amended.column_names)]))
    server.requests.clear()

    result = ingest(base_url=server.url, datasets="crashes", page_size=5000)

    (req,) = _data_requests(server)
    assert req.params["$where"].startswith(":updated_at >= '")
    # the lag window re-fetches a little; far less than the whole dataset
    assert new.num_rows + 5 <= result.rows["crashes"] < n
    assert raw_count(crashes_home, "crashes") == n + new.num_rows
    ids = amended.column("crash_record_id").to_pylist()
    weather = raw_query(
        crashes_home,
        "select distinct weather_condition from raw.crashes where list_contains(?, crash_record_id)",
        [ids],
    )
    assert weather == [("SNOW",)]


def test_backfill_window_does_not_move_the_cursor(server: SocrataServer, tables, crashes_home: Path) -> None:
    ingest(base_url=server.url, datasets="crashes")
    server.requests.clear()
    ingest(base_url=server.url, datasets="crashes")
    incremental_where = _data_requests(server)[0].params["$where"]

    server.requests.clear()
    result = ingest(base_url=server.url, datasets="crashes", since=date(2024, 1, 3), until=date(2024, 1, 5))
    (req,) = _data_requests(server)
    assert "crash_date >= '2024-01-03T00:00:00.000'" in req.params["$where"]
    assert "crash_date < '2024-01-05T00:00:00.000'" in req.params["$where"]
    dates = pc.strptime(tables["crashes"].column("crash_date"), "%Y-%m-%dT%H:%M:%S.000", "s")
    in_window = pc.sum(
        pc.and_(pc.greater_equal(dates, pa.scalar(date(2024, 1, 3))), pc.less(dates, pa.scalar(date(2024, 1, 5))))
    ).as_py()
    assert result.rows["crashes"] == in_window > 0

    server.requests.clear()
    ingest(base_url=server.url, datasets="crashes")
    assert _data_requests(server)[0].params["$where"] == incremental_where


def test_429_is_retried_after_the_servers_retry_after(server: SocrataServer, tables, crashes_home) -> None:
    server.faults.add("429", count=2, retry_after=1)
    started = time.monotonic()
    result = ingest(base_url=server.url, datasets="crashes")

    assert result.rows["crashes"] == tables["crashes"].num_rows
    statuses = [r.status for r in _data_requests(server)]
    assert statuses[:3] == [429, 429, 200]
    assert time.monotonic() - started >= 2  # waited as told, twice


@pytest.mark.parametrize("kind", ["500", "503", "truncated"])
def test_server_errors_and_truncated_pages_are_retried(server, tables, crashes_home, kind: str) -> None:
    server.faults.add(kind, count=2)
    result = ingest(base_url=server.url, datasets="crashes")

    assert result.rows["crashes"] == tables["crashes"].num_rows
    assert raw_count(crashes_home, "crashes") == tables["crashes"].num_rows


def test_slow_server_times_out_and_is_retried(server, tables, crashes_home) -> None:
    server.faults.add("slow", count=1, seconds=5)  # longer than the 3 s test timeout
    result = ingest(base_url=server.url, datasets="crashes")
    assert result.rows["crashes"] == tables["crashes"].num_rows


def test_persistent_failure_is_one_clear_error_and_loses_nothing(server, tables, crashes_home) -> None:
    server.faults.add("500", count=100)
    with pytest.raises(CrashesError, match="HTTP 500"):
        ingest(base_url=server.url, datasets="crashes")
    assert not (crashes_home / "warehouse.duckdb").exists() or raw_count(crashes_home, "crashes") == 0

    server.faults.clear()
    result = ingest(base_url=server.url, datasets="crashes")
    assert raw_count(crashes_home, "crashes") == result.rows["crashes"] == tables["crashes"].num_rows


def test_app_token_is_sent_when_configured(server, crashes_home, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SOCRATA_APP_TOKEN", "secret-token")
    ingest(base_url=server.url, datasets="crashes")
    assert all(r.headers.get("X-App-Token") == "secret-token" for r in _data_requests(server))


@pytest.mark.parametrize("window", [None, (date(2024, 1, 1), date(2024, 1, 11))], ids=["incremental", "backfill"])
def test_records_amended_while_paging_lose_no_row_and_arrive_amended(server, tables, crashes_home, window) -> None:
    """The portal amends records while a load pages: an amended record moves to the end of the
    order. Offset paging then skipped the rows that slid into its place, for good (issue 16)."""
    n = tables["crashes"].num_rows
    server.faults.add("amend", count=4, rows=3, dataset="crashes")  # the first four pages of five
    since, until = window or (None, None)
    result = ingest(base_url=server.url, datasets="crashes", page_size=500, since=since, until=until)

    amended = [key for r in _data_requests(server) for key in r.amended]
    assert len(set(amended)) == 12
    assert raw_count(crashes_home, "crashes") == server.count("crashes") == n  # 0 rows lost
    assert result.rows["crashes"] == n + 12  # the amended ones came twice, the second time amended
    served = server.store.table("crashes").select(["crash_record_id", "injuries_total", "__updated_at"])
    in_raw = raw_query(crashes_home, "select crash_record_id, injuries_total, socrata_updated_at from raw.crashes")
    want = {
        k: (v, t.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z")
        for k, v, t in zip(*(served[c].to_pylist() for c in served.column_names), strict=True)
    }
    assert {k: (v, t) for k, v, t in in_raw} == want  # every record as the server has it now
    crashes = tables["crashes"]
    original = dict(zip(crashes["crash_record_id"].to_pylist(), crashes["injuries_total"].to_pylist(), strict=True))
    assert all(int(want[k][0]) == int(original[k] or 0) + 1 for k in amended)
