"""Figures for the offline Socrata stand-in: generator speed at a million crashes, and how fast the
server loads and serves 50,000-row pages over real HTTP. Prints one JSON object.

    .venv/bin/python bench/devserver_bench.py [--crashes 1000000] [--pages 0 (all)] [--real]

`--real` also loads every real crash from ../shared/data/chicago/crashes_real and pages through it.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import time
from datetime import date, timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import requests

from ingestion.devserver.generator import generate_crashes, generate_units
from ingestion.devserver.server import SocrataServer

PAGE = 50_000
REAL = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "chicago" / "crashes_real"


def _peak_rss_mb() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 0)


def bench_generator(crashes: int, per_day: int = 300) -> tuple[dict, pa.Table]:
    start = date(2015, 1, 1)
    end = start + timedelta(days=round(crashes / per_day))
    t0, c0 = time.perf_counter(), time.process_time()
    table = generate_crashes(start, end, crashes_per_day=per_day, seed=1)
    t1 = time.perf_counter()
    vehicles, people = generate_units(table, seed=1)
    t2, c2 = time.perf_counter(), time.process_time()
    hit = pc.sum(pc.equal(table["hit_and_run_i"], "Y")).as_py()
    figures = {
        "crashes": table.num_rows,
        "vehicles": vehicles.num_rows,
        "people": people.num_rows,
        "crashes_seconds": round(t1 - t0, 1),
        "units_seconds": round(t2 - t1, 1),
        "total_seconds": round(t2 - t0, 1),
        # CPU time of this process: what the run costs on an idle machine (the shared one is busy)
        "total_cpu_seconds": round(c2 - c0, 1),
        "load_average_1min": round(os.getloadavg()[0], 1),
        "crashes_per_second": round(table.num_rows / (t2 - t0)),
        "hit_and_run_share": round(hit / table.num_rows, 4),
        "vehicles_per_crash": round(vehicles.num_rows / table.num_rows, 3),
        "people_per_crash": round(people.num_rows / table.num_rows, 3),
        "peak_rss_mb": _peak_rss_mb(),
    }
    return figures, table


def bench_serving(server: SocrataServer, pages: int) -> dict:
    """Page through crashes as the dlt source does: $select=:*,*, `$order=:updated_at, :id`, 50k
    rows a page, each page after the last row of the one before (keyset, no $offset).

    Client time includes parsing the JSON in Python (what a client pays); server time is from the
    server's request log: receiving the request to the last byte written.
    """
    session = requests.Session()
    rows = size = 0
    times = []
    params = {"$select": ":*,*", "$order": ":updated_at, :id", "$limit": PAGE}
    while pages == 0 or len(times) < pages:
        t = time.perf_counter()
        response = session.get(server.resource_url("crashes"), timeout=600, params=params)
        response.raise_for_status()
        page = response.json()
        times.append(time.perf_counter() - t)
        rows += len(page)
        size += len(response.content)
        if len(page) < PAGE:
            break
        at, row_id = page[-1][":updated_at"].removesuffix("Z"), page[-1][":id"]
        params["$where"] = f":updated_at > '{at}' or (:updated_at = '{at}' and :id > '{row_id}')"
    total = sum(times)
    served = sum(r.seconds for r in server.data_requests("crashes")[-len(times) :])
    return {
        "rows": rows,
        "pages": len(times),
        "client_seconds": round(total, 2),
        "client_rows_per_second": round(rows / total),
        "server_seconds": round(served, 2),
        "server_rows_per_second": round(rows / served),
        "server_mb_per_second": round(size / served / 1e6, 1),
        "client_seconds_per_page_median": round(sorted(times)[len(times) // 2], 2),
        "bytes_per_row": round(size / max(rows, 1)),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--crashes", type=int, default=1_000_000)
    parser.add_argument("--pages", type=int, default=0, help="pages to fetch (0 = all)")
    parser.add_argument("--real", action="store_true", help="also serve the real crashes (needs shared data)")
    args = parser.parse_args()

    out: dict = {}
    out["generator"], crashes = bench_generator(args.crashes)
    t = time.perf_counter()
    with SocrataServer(tables={"crashes": crashes}) as server:
        out["server_load_generated"] = {"rows": server.count("crashes"), "seconds": round(time.perf_counter() - t, 1)}
        out["serve_generated"] = bench_serving(server, args.pages)
    del crashes
    if args.real:
        if not REAL.is_dir():
            out["serve_real"] = f"skipped: {REAL} not found"
        else:
            t = time.perf_counter()
            with SocrataServer(data_dir=REAL) as server:
                loaded = round(time.perf_counter() - t, 1)
                out["server_load_real"] = {"rows": server.count("crashes"), "seconds": loaded}
                out["serve_real"] = bench_serving(server, args.pages)
    out["peak_rss_mb"] = _peak_rss_mb()
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
