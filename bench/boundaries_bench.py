"""Point-in-polygon at real scale: the share of real crashes inside their own beat's polygon with
the source (unsimplified) boundaries and with the packaged simplified ones, and the time of the
set-wise assignment on every real crash.

    python -m bench boundaries        (or python bench/boundaries_bench.py)
"""

from __future__ import annotations

import json
import time

import duckdb
import numpy as np

from bench.real_data import REAL_CRASHES, SHARED
from crashes import boundaries
from crashes.boundaries import derive


def located(pattern: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Distinct real crashes (lon, lat, beat), as PROVENANCE.md counts them; lat/lon may be null."""
    with duckdb.connect() as con:
        rows = con.execute(
            "select any_value(try_cast(longitude as double)) as x, any_value(try_cast(latitude as double)) as y,"
            " any_value(beat_of_occurrence) as beat"
            " from read_ndjson(?, columns = {crash_record_id: 'varchar', longitude: 'varchar',"
            " latitude: 'varchar', beat_of_occurrence: 'varchar'}) group by crash_record_id",
            [str(REAL_CRASHES / pattern)],
        ).fetchnumpy()
    x = np.asarray(rows["x"], dtype="float64")
    y = np.asarray(rows["y"], dtype="float64")
    return x, y, np.asarray(rows["beat"], dtype=object)


def in_own_beat_share(x: np.ndarray, y: np.ndarray, beats: np.ndarray, **layers: boundaries.Layer) -> dict:
    keep = np.isfinite(x) & np.isfinite(y) & (x != 0) & (y != 0) & np.array([b is not None for b in beats])
    flags = boundaries.assign(x[keep], y[keep], beats[keep], **layers)["is_in_own_beat"]
    inside = int(np.sum(flags == True))  # noqa: E712 (object array of True/False/None)
    return {"crashes": int(keep.sum()), "in_own_beat": inside, "share": round(float(inside / keep.sum()), 5)}


def source_layer(name: str) -> boundaries.Layer:
    """The unsimplified source file as a layer (the same properties, tolerance 0)."""
    source = json.loads((SHARED / "boundaries" / f"{name}.geojson").read_text())
    return boundaries.from_collection(derive.derive_layer(name, source, tolerance=0))


def main() -> dict:
    x, y, beats = located("crashes_2024.jsonl.gz")
    simplified = in_own_beat_share(x, y, beats)
    source_layers = {"communities": source_layer("community_areas"), "beat_layer": source_layer("police_beats")}
    source = in_own_beat_share(x, y, beats, **source_layers)
    # Crashes the simplification moves to another community area (or out of / into one).
    moved = int(
        np.sum(
            boundaries.assign(x, y, beats)["community_area"]
            != boundaries.assign(x, y, beats, **source_layers)["community_area"]
        )
    )

    ax, ay, abeats = located("*.jsonl.gz")
    boundaries.layer.cache_clear()
    boundaries.feature_collection.cache_clear()
    started = time.perf_counter()
    boundaries.layer("community_areas")
    boundaries.layer("police_beats")
    load_seconds = time.perf_counter() - started
    started = time.perf_counter()
    result = boundaries.assign(ax, ay, abeats)
    assign_seconds = time.perf_counter() - started
    return {
        "tolerance_degrees": derive.DEFAULT_TOLERANCE,
        "in_own_beat_2024_source": source,
        "in_own_beat_2024_simplified": simplified,
        "community_area_changed_by_simplifying_2024": moved,
        "all_crashes": len(ax),
        "all_in_a_community_area": int(np.sum(result["community_area"] != None)),  # noqa: E711
        "layer_load_seconds": round(load_seconds, 2),
        "assign_seconds": round(assign_seconds, 2),
    }


if __name__ == "__main__":
    print(json.dumps(main()))
