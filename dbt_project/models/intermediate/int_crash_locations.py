"""Per crash: the community area and police beat its location lies in, and whether that beat is
the one the police recorded (point-in-polygon over the packaged City boundaries).

Why a dbt Python model and not a lookup written by ingestion: it sits in dbt's lineage next to
the crashes it reads, takes the same load-id watermark as fct_crashes (only crashes of newer
loads, i.e. new or amended ones, are located), and `--full-refresh` rebuilds it like every other
model, so nothing outside dbt has to be kept in step. The work is set-wise (one STRtree query and
one vectorised `contains_xy` per layer, in `crashes.boundaries`), so an incremental build with a
few thousand new crashes adds well under a second; DuckDB's spatial extension cannot be
installed offline. Only the delivered location is located, never an imputed beat median: every
polygon lies inside the `chicago_bbox` var, so a location outside it (or 0, 0) is in no area.
"""

import pyarrow as pa

from crashes import boundaries


def model(dbt, session):
    dbt.config(materialized="incremental", unique_key="crash_record_id", incremental_strategy="merge")
    crashes = dbt.ref("stg_chicago__crashes")
    if dbt.is_incremental:
        held = session.execute(f"select coalesce(max(load_id), '') from {dbt.this}").fetchall()[0][0]  # noqa: S608
        if not held.replace(".", "").isdigit() and held:
            raise ValueError(f"unexpected load id {held!r} in {dbt.this}")
        crashes = crashes.filter(f"load_id > '{held}'")
    rows = crashes.select("crash_record_id, load_id, latitude, longitude, beat_of_occurrence").fetch_arrow_table()

    latitude = rows["latitude"].to_numpy(zero_copy_only=False).astype("float64")
    longitude = rows["longitude"].to_numpy(zero_copy_only=False).astype("float64")
    found = boundaries.assign(longitude, latitude, rows["beat_of_occurrence"].to_numpy(zero_copy_only=False))
    return pa.table(
        {
            "crash_record_id": rows["crash_record_id"],
            "load_id": rows["load_id"],
            "community_area": pa.array(found["community_area"], type=pa.int32()),
            "located_beat": pa.array(found["located_beat"], type=pa.string()),
            "is_in_own_beat": pa.array(found["is_in_own_beat"], type=pa.bool_()),
        }
    )
