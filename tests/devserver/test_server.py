"""The local Socrata server over real HTTP: paging, SoQL, the API's value shapes, faults, tokens."""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pytest
import requests

from ingestion.devserver.generator import generate_tables, generate_to_folder
from ingestion.devserver.server import SocrataServer

PROJECT = Path(__file__).resolve().parents[2]
ORDER = ":updated_at, crash_record_id"


@pytest.fixture(scope="module")
def tables() -> dict[str, pa.Table]:
    return generate_tables(date(2024, 1, 1), date(2024, 1, 8), crashes_per_day=150, seed=21)


@pytest.fixture
def server(tables: dict[str, pa.Table]) -> Iterator[SocrataServer]:
    with SocrataServer(tables=tables) as srv:
        yield srv


def get(srv: SocrataServer, dataset: str = "crashes", **params: object) -> requests.Response:
    return requests.get(srv.resource_url(dataset), params=params, timeout=30)


def page_all(srv: SocrataServer, limit: int, **params: object) -> list[dict]:
    rows, offset = [], 0
    while True:
        page = get(srv, **{"$limit": limit, "$offset": offset, "$order": ORDER, **params}).json()
        rows.extend(page)
        if len(page) < limit:
            return rows
        offset += limit


def test_paging_with_order_returns_every_row_exactly_once(server: SocrataServer, tables) -> None:
    rows = page_all(server, 250, **{"$select": ":*,*"})
    ids = [r["crash_record_id"] for r in rows]
    assert len(ids) == len(set(ids)) == tables["crashes"].num_rows
    assert set(ids) == set(tables["crashes"]["crash_record_id"].to_pylist())
    keys = [(r[":updated_at"], r["crash_record_id"]) for r in rows]
    assert keys == sorted(keys)
    sent = [r for r in server.data_requests("crashes")]
    assert [r.params["$order"] for r in sent] == [ORDER] * len(sent)
    assert [int(r.params["$offset"]) for r in sent] == list(range(0, 250 * len(sent), 250))


def test_default_and_maximum_limit(server: SocrataServer, tables) -> None:
    assert len(get(server).json()) == min(1000, tables["crashes"].num_rows)
    assert len(get(server, **{"$limit": 50000}).json()) == tables["crashes"].num_rows
    too_many = get(server, **{"$limit": 50001})
    assert too_many.status_code == 400 and too_many.json()["error"] is True


def test_values_are_strings_nulls_omitted_location_an_object(server: SocrataServer, tables) -> None:
    rows = get(server, **{"$limit": 2000}).json()
    source = {r["crash_record_id"]: r for r in tables["crashes"].to_pylist()}
    for row in rows:
        expected = {k: v for k, v in source[row["crash_record_id"]].items() if v is not None}
        if "location" in expected:
            expected["location"] = json.loads(expected["location"])
        assert row == expected
    assert all(isinstance(v, str) for row in rows for k, v in row.items() if k != "location")
    assert not any(k.startswith(":") for row in rows for k in row)  # system fields only with :*
    located = next(r for r in rows if "location" in r)
    assert located["location"]["type"] == "Point"
    assert located["location"]["coordinates"][1] == pytest.approx(float(located["latitude"]))


def test_select_a_column_list_and_system_fields(server: SocrataServer) -> None:
    rows = get(server, **{"$select": ":id, crash_record_id, :updated_at", "$limit": 5}).json()
    assert all(set(r) == {":id", "crash_record_id", ":updated_at"} for r in rows)
    assert all(r[":id"].startswith("row-") and r[":updated_at"].endswith("Z") for r in rows)
    full = get(server, **{"$select": ":*,*", "$limit": 1}).json()[0]
    assert {":id", ":created_at", ":updated_at", "crash_date"} <= set(full)
    assert full[":created_at"] <= full[":updated_at"]


def test_where_between_on_crash_date(server: SocrataServer, tables) -> None:
    where = "crash_date between '2024-01-03T00:00:00' and '2024-01-04T23:59:59.000'"
    rows = page_all(server, 400, **{"$where": where})
    dates = tables["crashes"]["crash_date"]
    expected = pc.sum(
        pc.and_(pc.greater_equal(dates, "2024-01-03T00:00:00.000"), pc.less_equal(dates, "2024-01-04T23:59:59.000"))
    ).as_py()
    assert len(rows) == expected > 0
    assert all("2024-01-03" <= r["crash_date"] < "2024-01-05" for r in rows)


def test_timestamp_literals_with_and_without_millis_agree(server: SocrataServer, tables) -> None:
    exact = tables["crashes"]["crash_date"][100].as_py()  # 'YYYY-MM-DDTHH:MM:00.000'
    counts = {
        lit: len(page_all(server, 5000, **{"$where": f"crash_date > '{lit}'"}))
        for lit in (exact, exact.removesuffix(".000"))
    }
    assert len(set(counts.values())) == 1
    expected = pc.sum(pc.greater(tables["crashes"]["crash_date"], exact)).as_py()
    assert set(counts.values()) == {expected}


def test_where_on_updated_at_and_upsert_bumps_it(server: SocrataServer, tables) -> None:
    rows = page_all(server, 5000, **{"$select": ":*,*"})
    stamps = sorted(r[":updated_at"] for r in rows)
    middle = stamps[len(stamps) // 2]
    later = page_all(server, 5000, **{"$where": f":updated_at > '{middle}'", "$select": ":*,*"})
    assert len(later) == sum(1 for s in stamps if s > middle)
    assert all(r[":updated_at"] > middle for r in later)

    amended = tables["crashes"].slice(0, 3)
    amended = amended.set_column(
        amended.schema.get_field_index("weather_condition"), "weather_condition", pa.array(["FOG/SMOKE/HAZE"] * 3)
    )
    new = {"crash_record_id": "f" * 128, "crash_date": "2024-01-09T10:00:00.000", "num_units": "2"}
    assert server.upsert("crashes", amended) == 3
    assert server.upsert("crashes", [new]) == 1
    changed = page_all(server, 5000, **{"$where": f":updated_at > '{stamps[-1]}'", "$select": ":*,*"})
    assert {r["crash_record_id"] for r in changed} == {*amended["crash_record_id"].to_pylist(), "f" * 128}
    assert {r["weather_condition"] for r in changed if "weather_condition" in r} == {"FOG/SMOKE/HAZE"}
    before = {r["crash_record_id"]: r for r in rows}
    for r in changed:  # amended records keep their :id and :created_at
        if r["crash_record_id"] in before:
            assert r[":id"] == before[r["crash_record_id"]][":id"]
            assert r[":created_at"] == before[r["crash_record_id"]][":created_at"]
    assert server.count("crashes") == tables["crashes"].num_rows + 1
    assert changed[-1][":updated_at"] > changed[0][":updated_at"]  # the second upsert is later


@pytest.mark.parametrize(
    "where",
    [
        "1=1; drop table ds_crashes",
        "crash_date > '2024-01-01' or 1=1 --",
        "crash_date = ''; DROP TABLE x; --'",
        "nosuchcolumn = 'x'",
        "crash_date > 'yesterday'",
        "upper(street_name) = 'X'",
        "crash_date between '2024-01-01'",
        "(crash_date > '2024-01-01'",
    ],
)
def test_bad_where_is_400_and_harmless(server: SocrataServer, tables, where: str) -> None:
    response = get(server, **{"$where": where})
    assert response.status_code == 400
    body = response.json()
    assert body["error"] is True and body["message"]
    assert server.count("crashes") == tables["crashes"].num_rows


def test_quotes_in_literals_are_values_not_sql(server: SocrataServer) -> None:
    response = get(server, **{"$where": "street_name = 'O''BRIEN'' OR ''1''=''1'"})
    assert response.status_code == 200 and response.json() == []


def test_and_or_parentheses_is_null(server: SocrataServer, tables) -> None:
    where = "(hit_and_run_i = 'Y' or hit_and_run_i is null) and not (num_units < 2) and latitude is not null"
    rows = page_all(server, 5000, **{"$where": where})
    con = duckdb.connect()
    con.register("c", tables["crashes"])
    expected = con.execute(
        "SELECT count(*) FROM c WHERE (hit_and_run_i = 'Y' OR hit_and_run_i IS NULL) "
        "AND NOT (num_units::INT < 2) AND latitude IS NOT NULL"
    ).fetchall()[0][0]
    assert len(rows) == expected > 0


def test_unknown_dataset_and_parameters(server: SocrataServer) -> None:
    missing = requests.get(f"{server.url}/resource/abcd-1234.json", timeout=10)
    assert missing.status_code == 404 and missing.json()["error"] is True
    unknown = get(server, **{"$group": "beat_of_occurrence"})
    assert unknown.status_code == 400 and "$group" in unknown.json()["message"]


def test_429_with_retry_after_then_recovers(server: SocrataServer) -> None:
    server.faults.add("429", count=2, retry_after=7)
    first, second, third = (get(server, **{"$limit": 1}) for _ in range(3))
    assert (first.status_code, second.status_code, third.status_code) == (429, 429, 200)
    assert first.headers["Retry-After"] == "7" and first.json()["error"] is True


@pytest.mark.parametrize("kind", ["500", "503"])
def test_server_errors(server: SocrataServer, kind: str) -> None:
    server.faults.add(kind)
    assert get(server, **{"$limit": 1}).status_code == int(kind)
    assert get(server, **{"$limit": 1}).status_code == 200


def test_truncated_bodies_break_the_client(server: SocrataServer) -> None:
    server.faults.add("truncated", mode="length")
    with pytest.raises(requests.exceptions.RequestException):
        get(server, **{"$limit": 500})
    server.faults.add("truncated", mode="close")
    cut = get(server, **{"$limit": 500})
    with pytest.raises(requests.exceptions.JSONDecodeError):
        cut.json()
    assert len(get(server, **{"$limit": 500}).json()) == 500


def test_slow_answers_trip_a_client_timeout(server: SocrataServer) -> None:
    server.faults.add("slow", seconds=2)
    with pytest.raises(requests.exceptions.ReadTimeout):
        requests.get(server.resource_url("crashes"), params={"$limit": 1}, timeout=0.5)


def test_faults_over_http_for_a_server_in_another_process(server: SocrataServer) -> None:
    added = requests.post(f"{server.url}/_faults", json={"kind": "500", "count": 1, "dataset": "people"}, timeout=10)
    assert added.status_code == 201
    assert get(server, **{"$limit": 1}).status_code == 200  # crashes are not affected
    assert get(server, "people", **{"$limit": 1}).status_code == 500
    bad = requests.post(f"{server.url}/_faults", json={"kind": "teapot"}, timeout=10)
    assert bad.status_code == 400 and "teapot" in bad.json()["message"]


def test_app_token_is_counted_and_can_be_required(tables) -> None:
    with SocrataServer(tables=tables, require_token=True, app_tokens={"good"}) as srv:
        url = srv.resource_url("crashes")
        assert requests.get(url, timeout=10).status_code == 403
        assert requests.get(url, headers={"X-App-Token": "bad"}, timeout=10).status_code == 403
        assert requests.get(url, headers={"X-App-Token": "good"}, params={"$limit": 1}, timeout=10).status_code == 200
        assert srv.token_counts == {"with": 2, "without": 1}
        counts = requests.get(f"{srv.url}/_requests", timeout=10).json()
        assert counts["with_token"] == 2 and counts["by_status"] == {"200": 1, "403": 2}


def test_serves_generator_output_from_a_folder(tmp_path: Path) -> None:
    generate_to_folder(tmp_path, date(2024, 2, 1), date(2024, 2, 3), crashes_per_day=40, seed=4)
    with SocrataServer(data_dir=tmp_path) as srv:
        for name in ("crashes", "vehicles", "people"):
            rows = requests.get(srv.resource_url(name), params={"$limit": 50000}, timeout=30).json()
            assert len(rows) == srv.count(name) > 0
        person = requests.get(srv.resource_url("people"), params={"$limit": 1, "$order": "person_id"}, timeout=10)
        assert person.json()[0]["person_id"][0] in "OP"


def test_serves_a_year_of_real_crashes(shared_data: Path) -> None:
    path = shared_data / "crashes_real" / "crashes_2015.jsonl.gz"
    con = duckdb.connect()
    real = con.execute(f"SELECT count(DISTINCT crash_record_id) FROM read_ndjson_auto('{path}')").fetchall()[0][0]  # noqa: S608
    with gzip.open(path, "rt") as lines:
        record = json.loads(next(lines))
    with SocrataServer(data_dir=path, generate_units=True) as srv:
        assert srv.count("crashes") == real
        assert srv.count("vehicles") / real == pytest.approx(2.0, abs=0.15)  # generated for the real crashes
        assert srv.count("people") / real == pytest.approx(2.1, abs=0.25)
        rows = requests.get(
            srv.resource_url("crashes"),
            timeout=30,
            params={"$where": f"crash_record_id = '{record['crash_record_id']}'"},
        ).json()
        assert rows == [record]  # exactly as the API delivered it, computed-region field included
        sept = requests.get(
            srv.resource_url("crashes"),
            timeout=30,
            params={"$where": "crash_date < '2015-10-01T00:00:00'", "$limit": 50000},
        ).json()
        assert sept and all(r["crash_date"] < "2015-10-01" for r in sept)


def test_cli_serves_and_prints_url_and_counts(tmp_path: Path) -> None:
    generate_to_folder(tmp_path, date(2024, 3, 1), date(2024, 3, 2), crashes_per_day=20, seed=8)
    proc = subprocess.Popen(
        [sys.executable, "-m", "orchestration.cli", "serve-socrata", "--port", "0", "--data", str(tmp_path)],
        cwd=PROJECT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert proc.stdout is not None
        lines = [proc.stdout.readline() for _ in range(5)]
        url = lines[0].split(" on ", 1)[1].split()[0]
        assert url.startswith("http://127.0.0.1:")
        crashes_line = next(line for line in lines if "crashes:" in line)
        served = requests.get(f"{url}/resource/85ca-t3if.json", params={"$limit": 50000}, timeout=30).json()
        assert f"crashes: {len(served):,} rows" in crashes_line
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_keyless_duplicate_and_extra_fields_are_served_like_a_portal_would(tables) -> None:
    crashes = tables["crashes"].slice(0, 3)
    odd = pa.table({"crash_date": ["2024-01-05T10:00:00.000"], "brand_new_field": ["x"]})
    data = pa.concat_tables([crashes, crashes.slice(0, 1), odd], promote_options="default")
    with SocrataServer(tables={"crashes": data}) as srv:
        rows = requests.get(srv.resource_url("crashes"), params={"$select": ":*,*"}, timeout=10).json()
        assert len(rows) == 4  # the repeated key once, the record without a key kept
        keyless = [r for r in rows if "crash_record_id" not in r]
        assert len(keyless) == 1 and keyless[0]["brand_new_field"] == "x"
        assert keyless[0][":id"].startswith("row-")
        assert len({r[":id"] for r in rows}) == 4
        by_id = requests.get(
            srv.resource_url("crashes"), timeout=10, params={"$where": f":id = '{keyless[0][':id']}'"}
        ).json()
        assert by_id == [{k: v for k, v in keyless[0].items() if not k.startswith(":")}]


def test_upsert_over_http(server: SocrataServer, tables) -> None:
    record = {"crash_record_id": "e" * 128, "crash_date": "2024-01-09T08:00:00.000", "num_units": "1"}
    earlier = {**record, "num_units": "9"}
    response = requests.post(f"{server.url}/_upsert/crashes", json=[earlier, record], timeout=10)
    assert response.status_code == 200 and response.json() == {"upserted": 1}
    got = get(server, **{"$where": f"crash_record_id = '{'e' * 128}'"}).json()
    assert got == [record]
    assert requests.post(f"{server.url}/_upsert/nope", json=[record], timeout=10).status_code == 400


def test_serves_the_linked_csv_sample_with_wkt_points_as_geojson(shared_data: Path) -> None:
    folder = shared_data / "linked_2021-12_faithhunja"
    with SocrataServer(data_dir=folder) as srv:
        counts = {name: srv.count(name) for name in ("crashes", "vehicles", "people")}
        assert counts == {"crashes": 1000, "vehicles": 1000, "people": 1000}
        rows = requests.get(srv.resource_url("crashes"), params={"$limit": 1000}, timeout=30).json()
        located = [r for r in rows if "location" in r]
        assert located and all(r["location"]["type"] == "Point" for r in located)
        first = located[0]
        assert first["location"]["coordinates"][1] == pytest.approx(float(first["latitude"]))
        assert all("rd_no" in r for r in rows)  # the older export's extra column flows through


def test_a_page_whose_rows_vanished_under_it_is_short_not_wrong(tables) -> None:
    with SocrataServer(tables={"crashes": tables["crashes"]}) as srv:
        params = {"$order": ORDER, "$limit": 100, "$offset": 100}
        first = get(srv, **params).json()  # caches the ordered positions (a first page would not)
        gone = [r["crash_record_id"] for r in first[:5]]
        # rows deleted behind the cache's back (as an upsert racing a page would)
        srv.store.con.execute("DELETE FROM ds_crashes WHERE list_contains(?, crash_record_id)", [gone])
        again = get(srv, **params).json()
        assert [r["crash_record_id"] for r in again] == [r["crash_record_id"] for r in first[5:]]


KEYSET_ORDER = ":updated_at, :id"


def keyset_all(srv: SocrataServer, limit: int) -> list[dict]:
    """Page the way the dlt source does: after the last row's (:updated_at, :id), no $offset."""
    rows: list[dict] = []
    while True:
        params: dict[str, object] = {"$select": ":*,*", "$order": KEYSET_ORDER, "$limit": limit}
        if rows:
            t, i = rows[-1][":updated_at"], rows[-1][":id"]
            params["$where"] = f"(:updated_at > '{t}' or (:updated_at = '{t}' and :id > '{i}'))"
        response = get(srv, **params)
        assert response.status_code == 200, response.text
        page = response.json()
        rows.extend(page)
        if len(page) < limit:
            return rows


def test_amend_fault_changes_records_of_the_page_just_served(server: SocrataServer, tables) -> None:
    before = page_all(server, 5000, **{"$select": ":*,*", "$order": KEYSET_ORDER})
    latest = max(r[":updated_at"] for r in before)
    added = requests.post(f"{server.url}/_faults", json={"kind": "amend", "rows": 3, "dataset": "crashes"}, timeout=10)
    assert added.status_code == 201, added.text

    params = {"$select": ":*,*", "$order": KEYSET_ORDER, "$limit": 100}
    served = get(server, **{**params, "$offset": 0}).json()
    assert served == before[:100]  # the page as it was; the amendment comes right after it
    amended = {r["crash_record_id"]: r for r in served[:3]}
    now = {
        r["crash_record_id"]: r
        for r in get(server, **{"$select": ":*,*", "$where": f":updated_at > '{latest}'"}).json()
    }
    assert set(now) == set(amended)
    for key, old in amended.items():
        assert int(now[key]["injuries_total"]) == int(old.get("injuries_total", "0")) + 1
        assert now[key][":id"] == old[":id"] and now[key][":created_at"] == old[":created_at"]
    assert server.count("crashes") == len(before)
    # ...which is what loses rows for an offset client: the next page starts three rows late.
    second = get(server, **{**params, "$offset": 100}).json()
    assert second[0]["crash_record_id"] == before[103]["crash_record_id"]
    bad = requests.post(f"{server.url}/_faults", json={"kind": "amend", "rows": 0}, timeout=10)
    assert bad.status_code == 400 and "rows" in bad.json()["message"]


def test_keyset_paging_under_amendments_sees_every_row_and_the_new_values(server: SocrataServer, tables) -> None:
    server.faults.add("amend", count=1000, rows=3, dataset="crashes")
    rows = keyset_all(server, 250)
    last = {r["crash_record_id"]: r for r in rows}  # later versions overwrite earlier ones
    assert set(last) == set(tables["crashes"]["crash_record_id"].to_pylist())
    pages = len(server.data_requests("crashes"))
    assert len(rows) == tables["crashes"].num_rows + 3 * (pages - 1)  # each amended record came again
    current = {r["crash_record_id"]: r for r in page_all(server, 5000, **{"$select": ":*,*"})}
    stale = [k for k, r in last.items() if r != current[k]]
    # only the last page's amendment happened after its rows were read
    assert len(stale) == 3
    keys = [(r[":updated_at"], r[":id"]) for r in rows]
    assert keys == sorted(keys)
