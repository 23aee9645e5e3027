"""Rebuild the packaged boundary files from the shared real data (run by hand, not by builds).

    python -m crashes.boundaries.derive [SHARED_BOUNDARIES_DIR] [--tolerance DEGREES]

Keeps one `id` and `name` per feature (beats also `district`), simplifies each shape with
shapely's topology-preserving Douglas–Peucker at `--tolerance` degrees (it keeps original
vertices, so nothing moves), rounds to 6 decimals (≈ 0.1 m) and writes compact gzipped GeoJSON
with a fixed gzip header, so the same input gives byte-identical files. Prints the sizes and the
sha256 of every source file for PROVENANCE.md.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import io
import json
import sys
from pathlib import Path
from typing import Any

import shapely

from crashes.boundaries import FEATURE_COUNTS, LAYERS

DEFAULT_SOURCE = Path(__file__).resolve().parents[3] / "shared" / "data" / "chicago" / "boundaries"
# ≈ 1.1 m of latitude: small enough that the share of real 2024 crashes inside their own beat moves
# by less than 0.01 points (measured in PROVENANCE.md), big enough to drop ~⅔ of the vertices.
DEFAULT_TOLERANCE = 0.00001
MAX_BYTES = 1_000_000


def properties(name: str, props: dict[str, Any]) -> dict[str, Any]:
    """The portal's field names mapped to one shape for all layers."""
    if name == "police_beats":
        return {"id": props["beat_num"], "name": f"Beat {props['beat_num']}", "district": int(props["district"])}
    if name == "police_districts":
        return {"id": int(props["dist_num"]), "name": f"District {props['dist_label']}"}
    return {"id": int(props["area_numbe"]), "name": props["community"]}


def derive_layer(name: str, source: dict[str, Any], tolerance: float) -> dict[str, Any]:
    features = []
    for feature in source["features"]:
        shape = shapely.from_geojson(json.dumps(feature["geometry"]))
        if tolerance > 0:
            shape = shapely.simplify(shape, tolerance, preserve_topology=True)
        geometry = json.loads(shapely.to_geojson(shapely.orient_polygons(shape)))
        props = properties(name, feature["properties"])
        features.append({"type": "Feature", "id": props["id"], "properties": props, "geometry": geometry})
    if len(features) != FEATURE_COUNTS[name]:
        raise SystemExit(f"{name}: {len(features)} features, expected {FEATURE_COUNTS[name]}")
    return {"type": "FeatureCollection", "features": features}


def rounded(value: Any) -> Any:
    if isinstance(value, float):
        return round(value, 6)
    if isinstance(value, list):
        return [rounded(v) for v in value]
    if isinstance(value, dict):
        return {k: rounded(v) for k, v in value.items()}
    return value


def gzipped(collection: dict[str, Any]) -> bytes:
    text = json.dumps(rounded(collection), separators=(",", ":"), ensure_ascii=False).encode()
    buffer = io.BytesIO()
    with gzip.GzipFile(fileobj=buffer, mode="wb", compresslevel=9, mtime=0, filename="") as out:
        out.write(text)
    return buffer.getvalue()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source", nargs="?", type=Path, default=DEFAULT_SOURCE)
    parser.add_argument("--tolerance", type=float, default=DEFAULT_TOLERANCE)
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent)
    args = parser.parse_args(argv)
    for name in LAYERS:
        source_file = args.source / f"{name}.geojson"
        if not source_file.is_file():
            print(f"missing {source_file}: pass the shared boundaries folder", file=sys.stderr)
            return 2
        raw = source_file.read_bytes()
        data = gzipped(derive_layer(name, json.loads(raw), args.tolerance))
        if len(data) >= MAX_BYTES:
            print(f"{name}: {len(data):,} bytes, over the 1 MB limit: raise --tolerance", file=sys.stderr)
            return 1
        (args.out / f"{name}.geojson.gz").write_bytes(data)
        print(f"{name}: source {len(raw):,} B sha256 {hashlib.sha256(raw).hexdigest()} → {len(data):,} B gzipped")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
