"""The City's police beats, police districts and community areas as rows (layer, id, name,
GeoJSON geometry as text), read from the simplified files packaged in `crashes.boundaries`
(provenance: crashes/boundaries/PROVENANCE.md). 375 rows: rebuilt on every build, in a fraction of
a second, so a re-derived file never leaves gold behind."""

import json
import math

import numpy as np
import pyarrow as pa
import shapely

from crashes import boundaries

KM_PER_DEGREE_LATITUDE = 110.574
KM_PER_DEGREE_LONGITUDE_AT_EQUATOR = 111.320


def area_km2(geometry: dict) -> float:
    """Area on a local equirectangular projection at the shape's own latitude: within 0.1 % at
    the size of a community area, and no projection library needed."""
    shape = shapely.from_geojson(json.dumps(geometry))
    scale = np.array(
        [KM_PER_DEGREE_LONGITUDE_AT_EQUATOR * math.cos(math.radians(shape.centroid.y)), KM_PER_DEGREE_LATITUDE]
    )
    return float(shapely.transform(shape, lambda xy: xy * scale).area)


def model(dbt, session):
    dbt.config(materialized="table")
    rows = {"layer": [], "id": [], "name": [], "district": [], "area_km2": [], "geometry": []}
    for layer in boundaries.LAYERS:
        for feature in boundaries.feature_collection(layer)["features"]:
            props = feature["properties"]
            rows["layer"].append(layer)
            rows["id"].append(str(props["id"]))
            rows["name"].append(props["name"])
            rows["district"].append(props.get("district"))
            rows["area_km2"].append(area_km2(feature["geometry"]))
            rows["geometry"].append(json.dumps(feature["geometry"], separators=(",", ":")))
    return pa.table(
        {
            "layer": pa.array(rows["layer"], type=pa.string()),
            "id": pa.array(rows["id"], type=pa.string()),
            "name": pa.array(rows["name"], type=pa.string()),
            "district": pa.array(rows["district"], type=pa.int32()),
            "area_km2": pa.array(rows["area_km2"], type=pa.float64()),
            "geometry": pa.array(rows["geometry"], type=pa.string()),
        }
    )
