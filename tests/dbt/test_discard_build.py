"""After a failed build the marts file goes back to the published snapshot, or away when there is
none yet, so no untested table is published by a later build."""

from __future__ import annotations

from pathlib import Path

from transform.publish import discard_build


def test_without_a_published_gold_the_build_file_is_removed(tmp_path: Path) -> None:
    build = tmp_path / "gold_build.duckdb"
    build.write_bytes(b"untested marts")
    (tmp_path / "gold_build.duckdb.wal").write_bytes(b"untested changes")
    discard_build(build, tmp_path / "gold.duckdb")
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_with_a_published_gold_the_build_file_becomes_a_copy_of_it(tmp_path: Path) -> None:
    build, gold = tmp_path / "gold_build.duckdb", tmp_path / "gold.duckdb"
    build.write_bytes(b"untested marts")
    (tmp_path / "gold_build.duckdb.wal").write_bytes(b"untested changes")
    gold.write_bytes(b"published marts")
    discard_build(build, gold)
    assert build.read_bytes() == b"published marts"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["gold.duckdb", "gold_build.duckdb"]
