"""dbt at real scale: a full build of the 906,642 real crashes with generated vehicles and
people (≈2.0 and ≈2.1 per crash), then an incremental build after one new day of data.

Raw is written straight in the contract's shape (tests/dbt/raw_fixture.py) so the figures are
dbt's and the publish step's, not ingestion's (bench/ingest_bench.py measures that). The new
day is the last real day, held out of the first load, plus a few hundred amended older crashes,
as an incremental Socrata pull would bring. Targets: full ≤ 45 s, incremental ≤ 10 s.
"""

from __future__ import annotations

import json
import os
import resource
import tempfile
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from bench.real_data import REAL_CRASHES, real_crashes

NEW_DAY = "2024-12-31"
AMENDED = 500
TARGETS = {"full_seconds": 45.0, "incremental_seconds": 10.0}


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _build(label: str, **kwargs: object) -> dict:
    """One build, with the CPU it used and the machine's load: on shared cores the wall clock
    alone says little."""
    from transform import build

    cpu = _cpu_seconds()
    result = build(**kwargs)
    if not result.ok:
        raise SystemExit(f"{label} build failed:\n{result.summary()}")
    return {
        "seconds": round(result.elapsed, 1),
        "gate_seconds": round(result.gate_seconds, 1),
        "dbt_seconds": round(result.dbt_seconds, 1),
        "publish_seconds": round(result.publish_seconds, 1),
        "cpu_seconds": round(_cpu_seconds() - cpu, 1),
        "load_average_1m": round(os.getloadavg()[0], 1),
        "models": result.models_built,
        "tests_passed": result.tests_passed,
        "tests_warned": result.tests_warned,
        "rows_per_mart": result.rows_per_mart,
    }


def run() -> dict:
    folder = REAL_CRASHES
    if not folder.is_dir():
        return {"skipped": f"real crashes not found at {folder}"}
    from ingestion.devserver.generator import generate_units
    from tests.dbt.raw_fixture import RawWarehouse

    prepared = time.perf_counter()
    crashes = real_crashes(folder)
    vehicles, people = generate_units(crashes, seed=7)
    new_day = pc.greater_equal(crashes["crash_date"], NEW_DAY)
    first_ids = pc.filter(crashes["crash_record_id"], pc.invert(new_day))
    in_first = {
        name: pc.is_in(table["crash_record_id"], value_set=first_ids)
        for name, table in (("vehicles", vehicles), ("people", people))
    }
    # Socrata amends older records too: re-deliver some with a newer :updated_at and a change.
    amended = crashes.filter(pc.invert(new_day)).slice(0, AMENDED)
    amended = amended.set_column(
        amended.schema.get_field_index("hit_and_run_i"), "hit_and_run_i", pa.array(["Y"] * amended.num_rows)
    ).append_column("socrata_updated_at", pa.array(["2025-01-01T06:00:00.000Z"] * amended.num_rows))
    day = crashes.filter(new_day).append_column(
        "socrata_updated_at", pa.array(["2025-01-01T06:00:00.000Z"] * int(pc.sum(new_day).as_py()))
    )

    with tempfile.TemporaryDirectory(prefix="crashes-dbt-bench-") as home:
        os.environ["CRASHES_HOME"] = home
        raw = RawWarehouse(Path(home) / "warehouse.duckdb")
        raw.load(
            crashes=crashes.filter(pc.invert(new_day)),
            vehicles=vehicles.filter(in_first["vehicles"]),
            people=people.filter(in_first["people"]),
        )
        prepare_seconds = time.perf_counter() - prepared
        full = _build("full")
        raw.load(
            crashes=pa.concat_tables([day, amended], promote_options="default"),
            vehicles=vehicles.filter(pc.invert(in_first["vehicles"])),
            people=people.filter(pc.invert(in_first["people"])),
        )
        incremental = _build("incremental")
    return {
        "crashes": crashes.num_rows,
        "vehicles": vehicles.num_rows,
        "people": people.num_rows,
        "new_day": {"date": NEW_DAY, "crashes": day.num_rows, "amended_crashes": AMENDED},
        "prepare_raw_seconds": round(prepare_seconds, 1),
        "full": full,
        "incremental": incremental,
        "targets": TARGETS,
        "cores": os.cpu_count(),
    }


if __name__ == "__main__":
    print(json.dumps(run(), indent=2))
