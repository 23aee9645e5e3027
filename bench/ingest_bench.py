"""Ingestion at real scale: the 906,642 real crash records replayed into bronze + raw.

Reports rows/s into bronze + raw and peak RSS of the ingest process, and, in the same run, the
rate of DuckDB's own `read_ndjson_auto` over the same files (a floor for "just reading"), as a
ratio. Target: at least half of DuckDB's rate, RSS ≤ 1.5 GB. Each side runs five times,
interleaved; the figures are medians, with every run listed.
"""

from __future__ import annotations

import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import duckdb

from bench.real_data import REAL_CRASHES, ROOT

RUNS = 5


def duckdb_reference(folder: Path) -> tuple[int, float]:
    started = time.perf_counter()
    with duckdb.connect() as con:
        (rows,) = con.execute(
            "select count(*) from (select * from read_ndjson_auto(?, union_by_name=true, sample_size=-1))",
            [str(folder / "*.jsonl.gz")],
        ).fetchall()[0]
    return rows, time.perf_counter() - started


def ingest_once(folder: Path) -> tuple[float, int]:
    """One replay in a fresh CRASHES_HOME, timed from the CLI's start: seconds and raw rows."""
    with tempfile.TemporaryDirectory(prefix="crashes-bench-") as home:
        env = {**os.environ, "CRASHES_HOME": home}
        env.pop("CRASHES_BRONZE_URL", None)
        started = time.perf_counter()
        subprocess.run(
            [sys.executable, "-m", "orchestration.cli", "ingest", "--source", "replay", "--path", str(folder)],
            check=True,
            env=env,
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
        )
        seconds = time.perf_counter() - started
        with duckdb.connect(str(Path(home) / "warehouse.duckdb"), read_only=True) as con:
            raw_rows = con.execute("select count(*) from raw.crashes").fetchall()[0][0]
    return seconds, raw_rows


def run(runs: int = RUNS) -> dict:
    folder = REAL_CRASHES
    if not folder.is_dir():
        return {"skipped": f"real crashes not found at {folder}"}
    # This VM's host takes CPU away at times: one pair of runs can be off by a fifth either way.
    # The two are interleaved, so both sides see the same spells, and compared by their medians.
    ref_times, ingest_times = [], []
    for _ in range(runs):
        ref_rows, ref_seconds = duckdb_reference(folder)
        seconds, raw_rows = ingest_once(folder)
        ref_times.append(ref_seconds)
        ingest_times.append(seconds)
    peak_rss_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024  # the largest run
    seconds, ref_seconds = statistics.median(ingest_times), statistics.median(ref_times)
    rate, ref_rate = ref_rows / seconds, ref_rows / ref_seconds
    return {
        "records": ref_rows,
        "raw_rows": raw_rows,
        "runs": runs,
        "ingest_seconds": round(seconds, 1),
        "ingest_seconds_each": [round(t, 1) for t in ingest_times],
        "ingest_rows_per_s": round(rate),
        "duckdb_read_ndjson_seconds": round(ref_seconds, 1),
        "duckdb_read_ndjson_seconds_each": [round(t, 1) for t in ref_times],
        "duckdb_read_ndjson_rows_per_s": round(ref_rate),
        "ratio_to_duckdb": round(rate / ref_rate, 2),
        "ratio_to_duckdb_each": [round(r / t, 2) for r, t in zip(ref_times, ingest_times, strict=True)],
        "peak_rss_mb": round(peak_rss_mb),
        "targets": {"ratio_to_duckdb": ">= 0.5 (medians)", "peak_rss_mb": "<= 1536"},
    }


if __name__ == "__main__":
    print(json.dumps(run()))
