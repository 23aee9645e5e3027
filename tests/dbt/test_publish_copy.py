"""The snapshot copy behind publishing and discarding: byte for byte, whatever the file's size,
through the direct path where the filesystem takes it and through the buffered fallback."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest

from transform import publish

# Sizes around the block and chunk edges, with the chunk shrunk so the files stay small.
CHUNK = 64 * 1024
SIZES = [0, 1, 4095, 4096, 4097, CHUNK, CHUNK + 1, 3 * CHUNK + 4096 + 17]


def _source(folder: Path, size: int) -> Path:
    path = folder / f"source-{size}.duckdb"
    path.write_bytes(os.urandom(size))
    return path


@pytest.mark.parametrize("size", SIZES)
def test_the_direct_copy_is_byte_for_byte(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, size: int) -> None:
    monkeypatch.setattr(publish, "COPY_CHUNK", CHUNK)
    source, target = _source(tmp_path, size), tmp_path / "copy.duckdb"
    target.write_bytes(b"an older, longer file that must not leave its tail behind" * 2000)
    try:
        publish._copy_direct(source, target)
    except OSError as exc:
        if exc.errno != errno.EINVAL:
            raise
        pytest.skip(f"the filesystem under {tmp_path} refuses O_DIRECT; the buffered test covers the copy")
    assert target.read_bytes() == source.read_bytes()


@pytest.mark.parametrize("size", [0, 4097, 3 * CHUNK + 17])
def test_the_buffered_fallback_is_byte_for_byte(tmp_path: Path, size: int) -> None:
    source, target = _source(tmp_path, size), tmp_path / "copy.duckdb"
    publish._copy_buffered(source, target)
    assert target.read_bytes() == source.read_bytes()


def test_publish_replaces_gold_with_the_built_file(tmp_path: Path) -> None:
    """End to end through the public call: a real DuckDB marts file becomes gold, and no
    temporary file is left beside it."""
    import duckdb

    build, gold = tmp_path / "gold_build.duckdb", tmp_path / "gold.duckdb"
    with duckdb.connect(str(build)) as con:
        con.execute("create schema marts")
        con.execute("create table marts.fct_demo as select range as id from range(100000)")
    gold.write_bytes(b"the previous snapshot")
    rows = publish.publish(build, gold)
    assert rows == {"fct_demo": 100000}
    with duckdb.connect(str(gold), read_only=True) as con:
        assert con.execute("select count(*), sum(id) from marts.fct_demo").fetchone() == (100000, 4999950000)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["gold", "gold.duckdb", "gold_build.duckdb"]
    (version,) = (tmp_path / "gold").iterdir()  # one version, no temporary file
    assert [p.name for p in version.iterdir()] == ["gold.duckdb"]
