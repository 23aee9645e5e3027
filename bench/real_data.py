"""The real-scale inputs every benchmark shares: the real crash records, generated units for
them, and a gold built from those by the real dbt build."""

from __future__ import annotations

import os
from pathlib import Path

import duckdb
import pyarrow as pa

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("CRASHES_SHARED_DATA", ROOT.parent / "shared" / "data" / "chicago"))
REAL_CRASHES = SHARED / "crashes_real"


def real_crashes(folder: Path = REAL_CRASHES) -> pa.Table:
    """Every real crash record as delivered (strings; GeoJSON location as text), repeats dropped
    as raw's merge would, in a fixed order so the generated units are the same every run."""
    with duckdb.connect() as con:
        con.execute(
            "create table delivered as select * from read_ndjson_auto(?, union_by_name = true, sample_size = -1)",
            [str(folder / "*.jsonl.gz")],
        )
        columns = [r[0] for r in con.execute("describe delivered").fetchall()]
        select = ", ".join(
            f'cast(to_json("{c}") as varchar) as "{c}"' if c == "location" else f'cast("{c}" as varchar) as "{c}"'
            for c in columns
        )
        return con.sql(
            f"select {select} from delivered qualify row_number() over (partition by crash_record_id) = 1 "  # noqa: S608
            "order by crash_record_id"
        ).to_arrow_table()


def build_real_gold(home: Path) -> dict[str, int]:
    """Real crashes (with generated units) → raw in the contract's shape → `transform.build()`.
    Raw is written directly (not through dlt) so these benches measure what comes after it."""
    from ingestion.devserver.generator import generate_units
    from tests.dbt.raw_fixture import RawWarehouse
    from transform import build

    os.environ["CRASHES_HOME"] = str(home)
    crashes = real_crashes()
    vehicles, people = generate_units(crashes, seed=7)
    RawWarehouse(home / "warehouse.duckdb").load(crashes=crashes, vehicles=vehicles, people=people)
    result = build()
    if not result.ok:
        raise SystemExit(f"real gold build failed:\n{result.summary()}")
    return {
        "crashes": crashes.num_rows,
        "vehicles": vehicles.num_rows,
        "people": people.num_rows,
        "build_seconds": round(result.elapsed, 1),
    }
