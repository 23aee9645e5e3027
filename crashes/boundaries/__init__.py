"""Chicago's police beats, police districts and community areas, and the point-in-polygon lookup.

The polygons are a simplified, gzipped derivative of the real City of Chicago boundaries (see
PROVENANCE.md here and `derive.py`, which rebuilds them from the shared data). Every feature carries
`id` and `name` properties (beats also `district`), the same keys in all three layers, so readers
never need to know the portal's field names.

The lookup is set-wise: one STRtree over a layer's polygons finds the candidate polygons of every
point's bounding box at once, and shapely's vectorised `contains_xy` tests all (point, candidate)
pairs in one call. 904 k real crashes take about a second per layer.
"""

from __future__ import annotations

import functools
import gzip
import json
from dataclasses import dataclass
from importlib import resources
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import shapely

LAYERS = ("police_beats", "police_districts", "community_areas")
# Features per layer in the City's current maps (PROVENANCE.md).
FEATURE_COUNTS = {"police_beats": 275, "police_districts": 23, "community_areas": 77}


def path(layer: str) -> Any:
    """The packaged file of `layer` (an importlib Traversable)."""
    if layer not in LAYERS:
        raise ValueError(f"unknown boundary layer {layer!r}; expected one of {', '.join(LAYERS)}")
    return resources.files(__package__) / f"{layer}.geojson.gz"


@functools.cache
def feature_collection(layer: str) -> dict[str, Any]:
    """The layer as a GeoJSON FeatureCollection (WGS84 lon/lat)."""
    with path(layer).open("rb") as raw, gzip.open(raw, "rt", encoding="utf-8") as text:
        return json.load(text)


@dataclass(frozen=True)
class Layer:
    """A layer's ids and polygons, indexed for point lookups."""

    ids: np.ndarray
    polygons: np.ndarray
    tree: shapely.STRtree

    def locate(self, longitude: np.ndarray, latitude: np.ndarray) -> np.ndarray:
        """The index of the polygon each point lies in, -1 outside all (or with no location).

        A point on a shared edge can be inside two polygons only through rounding; the lower
        index wins, so the answer does not depend on the order of the points."""
        x = np.asarray(longitude, dtype="float64")
        y = np.asarray(latitude, dtype="float64")
        found = np.full(len(x), -1, dtype="int64")
        usable = np.flatnonzero(np.isfinite(x) & np.isfinite(y))
        if not len(usable):
            return found
        points, candidates = self.tree.query(shapely.points(x[usable], y[usable]))
        point_rows = usable[points]
        inside = shapely.contains_xy(self.polygons[candidates], x[point_rows], y[point_rows])
        point_rows, candidates = point_rows[inside], candidates[inside]
        # Reverse so that, for a point inside two polygons, the lower index is written last.
        order = np.lexsort((-candidates, point_rows))
        found[point_rows[order]] = candidates[order]
        return found

    def contains(self, index: np.ndarray, longitude: np.ndarray, latitude: np.ndarray) -> np.ndarray:
        """Whether each point lies inside the polygon at `index` (False where index is -1)."""
        index = np.asarray(index, dtype="int64")
        result = np.zeros(len(index), dtype=bool)
        known = np.flatnonzero(index >= 0)
        x = np.asarray(longitude, dtype="float64")[known]
        y = np.asarray(latitude, dtype="float64")[known]
        result[known] = shapely.contains_xy(self.polygons[index[known]], x, y)
        return result


def from_collection(collection: dict[str, Any]) -> Layer:
    """A layer from a FeatureCollection whose features have an `id` property."""
    features = collection["features"]
    polygons = shapely.from_geojson([json.dumps(f["geometry"]) for f in features])
    shapely.prepare(polygons)
    ids = np.array([f["properties"]["id"] for f in features], dtype=object)
    return Layer(ids=ids, polygons=polygons, tree=shapely.STRtree(polygons))


@functools.cache
def layer(name: str) -> Layer:
    """The packaged layer `name`, its polygons prepared for fast repeated tests."""
    return from_collection(feature_collection(name))


def assign(
    longitude: np.ndarray,
    latitude: np.ndarray,
    beats: np.ndarray,
    communities: Layer | None = None,
    beat_layer: Layer | None = None,
) -> dict[str, np.ndarray]:
    """Per crash: the community area it lies in, the beat it lies in, and whether that is its own.

    Returns arrays aligned with the input: `community_area` (float, NaN outside every area),
    `located_beat` (object, None outside every beat) and `is_in_own_beat` (object: True/False,
    None when the crash has no location or no beat that is on the map). The layers default to
    the packaged ones; the benchmark passes the unsimplified source layers to compare."""
    communities = communities or layer("community_areas")
    beat_layer = beat_layer or layer("police_beats")
    area_index = communities.locate(longitude, latitude)
    community_area = np.where(area_index >= 0, communities.ids[np.maximum(area_index, 0)], None)
    beat_index = beat_layer.locate(longitude, latitude)
    located_beat = np.where(beat_index >= 0, beat_layer.ids[np.maximum(beat_index, 0)], None)

    # Crashes write beats unpadded ('111'), the map pads them ('0111'): pad, then look up, in Arrow.
    padded = pc.utf8_lpad(pa.array(beats, type=pa.string()), width=4, padding="0")
    own = pc.fill_null(pc.index_in(padded, value_set=pa.array(list(beat_layer.ids), type=pa.string())), -1)
    own = own.to_numpy().astype("int64")
    x = np.asarray(longitude, dtype="float64")
    y = np.asarray(latitude, dtype="float64")
    checkable = (own >= 0) & np.isfinite(x) & np.isfinite(y)
    in_own = beat_layer.contains(np.where(checkable, own, -1), x, y)
    is_in_own_beat = np.where(checkable, in_own, None)
    return {
        "community_area": community_area,
        "located_beat": located_beat,
        "is_in_own_beat": is_in_own_beat,
    }
