"""Ingestion at real scale: the 906,642 real crash records replayed into bronze + raw.

Reports rows/s into bronze + raw and peak RSS of the ingest process, and, in the same run, the
rate of DuckDB's own `read_ndjson_auto` over the same files (a floor for "just reading"), as a
ratio. Target: at least half of DuckDB's rate, RSS ≤ 1.5 GB.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import duckdb

from bench.real_data import REAL_CRASHES, ROOT


def duckdb_reference(folder: Path) -> tuple[int, float]:
    started = time.perf_counter()
    with duckdb.connect() as con:
        (rows,) = con.execute(
            "select count(*) from (select * from read_ndjson_auto(?, union_by_name=true, sample_size=-1))",
            [str(folder / "*.jsonl.gz")],
        ).fetchone()
    return rows, time.perf_counter() - started


def run() -> dict:
    folder = REAL_CRASHES
    if not folder.is_dir():
        return {"skipped": f"real crashes not found at {folder}"}
    ref_rows, ref_seconds = duckdb_reference(folder)
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
        peak_rss_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        with duckdb.connect(str(Path(home) / "warehouse.duckdb"), read_only=True) as con:
            raw_rows = con.execute("select count(*) from raw.crashes").fetchone()[0]
    rate = ref_rows / seconds
    ref_rate = ref_rows / ref_seconds
    return {
        "records": ref_rows,
        "raw_rows": raw_rows,
        "ingest_seconds": round(seconds, 1),
        "ingest_rows_per_s": round(rate),
        "duckdb_read_ndjson_seconds": round(ref_seconds, 1),
        "duckdb_read_ndjson_rows_per_s": round(ref_rate),
        "ratio_to_duckdb": round(rate / ref_rate, 2),
        "peak_rss_mb": round(peak_rss_mb),
        "targets": {"ratio_to_duckdb": ">= 0.5", "peak_rss_mb": "<= 1536"},
    }


if __name__ == "__main__":
    print(json.dumps(run()))
