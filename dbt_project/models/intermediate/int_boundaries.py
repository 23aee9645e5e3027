"""The City's police beats, police districts and community areas as rows (layer, id, name,
GeoJSON geometry as text), read from the simplified files packaged in `crashes.boundaries`
(provenance: crashes/boundaries/PROVENANCE.md). 375 rows: rebuilt on every build, in a fraction of
a second, so a re-derived file never leaves gold behind."""

import json

import pyarrow as pa

from crashes import boundaries


def model(dbt, session):
    dbt.config(materialized="table")
    rows = {"layer": [], "id": [], "name": [], "district": [], "geometry": []}
    for layer in boundaries.LAYERS:
        for feature in boundaries.feature_collection(layer)["features"]:
            props = feature["properties"]
            rows["layer"].append(layer)
            rows["id"].append(str(props["id"]))
            rows["name"].append(props["name"])
            rows["district"].append(props.get("district"))
            rows["geometry"].append(json.dumps(feature["geometry"], separators=(",", ":")))
    return pa.table(
        {
            "layer": pa.array(rows["layer"], type=pa.string()),
            "id": pa.array(rows["id"], type=pa.string()),
            "name": pa.array(rows["name"], type=pa.string()),
            "district": pa.array(rows["district"], type=pa.int32()),
            "geometry": pa.array(rows["geometry"], type=pa.string()),
        }
    )
