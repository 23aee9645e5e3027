"""The packaged boundary files and the set-wise point-in-polygon lookup."""

from __future__ import annotations

import gzip
import hashlib
import json
import re
from pathlib import Path

import numpy as np
import pytest

from crashes import boundaries
from crashes.boundaries import derive

PACKAGE = Path(boundaries.__file__).parent
# Real places: State & Madison (the Loop's zero point), Willis Tower, Evanston's Fountain Square
# (outside the city), O'Hare's terminals, and one with no location.
STATE_AND_MADISON = (-87.6278, 41.8820)
WILLIS_TOWER = (-87.6359, 41.8789)
EVANSTON = (-87.6811, 42.0480)
OHARE = (-87.9048, 41.9786)


@pytest.mark.parametrize("layer", boundaries.LAYERS)
def test_each_packaged_file_is_under_1_mb_and_holds_every_feature(layer: str) -> None:
    data = (PACKAGE / f"{layer}.geojson.gz").read_bytes()
    assert len(data) < 1_000_000
    collection = json.loads(gzip.decompress(data))
    ids = [f["properties"]["id"] for f in collection["features"]]
    assert len(ids) == len(set(ids)) == boundaries.FEATURE_COUNTS[layer]
    assert all(f["id"] == f["properties"]["id"] and f["properties"]["name"] for f in collection["features"])
    assert {f["geometry"]["type"] for f in collection["features"]} <= {"Polygon", "MultiPolygon"}


def test_community_areas_are_numbered_1_to_77_and_beats_are_padded() -> None:
    areas = {f["id"]: f["properties"]["name"] for f in boundaries.feature_collection("community_areas")["features"]}
    assert sorted(areas) == list(range(1, 78))
    assert (areas[32], areas[76], areas[8]) == ("LOOP", "OHARE", "NEAR NORTH SIDE")
    beats = boundaries.layer("police_beats").ids
    assert all(re.fullmatch("[0-9]{4}", b) for b in beats) and "0111" in beats and "3100" in beats


def test_points_get_their_community_area_and_beat_set_wise() -> None:
    points = [STATE_AND_MADISON, WILLIS_TOWER, EVANSTON, OHARE, (np.nan, np.nan)]
    x = np.array([p[0] for p in points])
    y = np.array([p[1] for p in points])
    beats = boundaries.layer("police_beats")
    located = beats.ids[beats.locate(x, y)[:2]]
    found = boundaries.assign(x, y, np.array([located[0].lstrip("0"), "1234", "111", None, "111"], dtype=object))
    assert list(found["community_area"]) == [32, 32, None, 76, None]
    assert found["located_beat"][0] == located[0] and found["located_beat"][2] is None
    assert found["located_beat"][3].startswith("16")  # O'Hare is district 16
    # Own beat ('122' written unpadded) holds the point; Willis Tower is not in beat 1234; Evanston
    # is in no beat; no beat or no location: unknown.
    assert list(found["is_in_own_beat"]) == [True, False, False, None, None]


def test_a_beat_code_not_on_the_map_is_unknown_not_outside() -> None:
    found = boundaries.assign(np.array([WILLIS_TOWER[0]]), np.array([WILLIS_TOWER[1]]), np.array(["1650"]))
    assert found["is_in_own_beat"][0] is None and found["community_area"][0] == 32


def test_the_lookup_is_set_wise_and_agrees_with_one_polygon_at_a_time() -> None:
    """20,000 random points in the city's box: the STRtree + contains_xy answer equals testing
    every point against every polygon with shapely's scalar `contains`."""
    import shapely

    rng = np.random.default_rng(18)
    x = rng.uniform(-87.94, -87.52, 20_000)
    y = rng.uniform(41.64, 42.03, 20_000)
    communities = boundaries.layer("community_areas")
    index = communities.locate(x, y)
    brute = np.full(len(x), -1)
    for i, polygon in enumerate(communities.polygons):
        brute[(brute < 0) & shapely.contains(polygon, shapely.points(x, y))] = i
    assert (index == brute).all() and (index >= 0).mean() > 0.3  # the lake fills much of the box


def test_derive_rebuilds_the_packaged_files_byte_for_byte(shared_data: Path, tmp_path: Path) -> None:
    assert derive.main([str(shared_data / "boundaries"), "--out", str(tmp_path)]) == 0
    for layer in boundaries.LAYERS:
        assert (tmp_path / f"{layer}.geojson.gz").read_bytes() == (PACKAGE / f"{layer}.geojson.gz").read_bytes()


def test_provenance_names_the_sha256_of_each_source_file(shared_data: Path) -> None:
    text = (PACKAGE / "PROVENANCE.md").read_text()
    for layer in boundaries.LAYERS:
        digest = hashlib.sha256((shared_data / "boundaries" / f"{layer}.geojson").read_bytes()).hexdigest()
        assert f"`{layer}.geojson`" in text and digest in text


def test_derive_refuses_a_missing_source_folder(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert derive.main([str(tmp_path / "nowhere"), "--out", str(tmp_path)]) == 2
    assert "pass the shared boundaries folder" in capsys.readouterr().err
