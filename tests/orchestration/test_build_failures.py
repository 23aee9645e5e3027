"""`crashes build` failures say what happened first, in one line: a selection that matches no
dbt node, and a publish that runs out of disk. On a copy of the reference run's home."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from crashes import gold
from tests.orchestration.conftest import PROJECT, ReferenceRun

SMALL_MART = "ml_hit_and_run_scores"


@pytest.fixture(scope="module")
def copied_home(tmp_path_factory: pytest.TempPathFactory, reference_run: ReferenceRun) -> Path:
    """One copy for both tests: the second reuses the dbt parse the first one saved."""
    assert gold.current(reference_run.home / "gold.duckdb"), reference_run.output()
    home = tmp_path_factory.mktemp("build-failures") / "home"
    shutil.copytree(reference_run.home, home, symlinks=True)
    return home


@pytest.fixture
def built_home(copied_home: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("CRASHES_HOME", str(copied_home))
    monkeypatch.delenv("CRASHES_BRONZE_URL", raising=False)
    return copied_home


def test_a_selection_that_matches_nothing_fails_in_one_line(built_home: Path) -> None:
    before = gold.current()
    out = subprocess.run(
        [str(PROJECT / ".venv/bin/crashes"), "build", "--select", "nonexistent"],
        env={**os.environ, "CRASHES_HOME": str(built_home)},
        capture_output=True,
        text=True,
        timeout=300,
        cwd=PROJECT,
    )
    assert out.returncode == 2, out.stdout + out.stderr
    # One line: what went wrong, then which run of the history recorded the failure.
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and "'nonexistent' matches no dbt" in lines[0], out.stderr
    assert lines[0].endswith("(build): failed") and "recorded as run " in lines[0], out.stderr
    assert "gold published" not in out.stdout
    assert gold.current() == before


@pytest.fixture
def full_version_disk(built_home: Path) -> Iterator[Path]:
    """gold/ on a real tmpfs that holds the current snapshot and little more."""
    folder = built_home / "gold"
    current = gold.current()
    size_kb = current.stat().st_size // 1024 + 128
    kept = built_home / "kept-versions"
    folder.rename(kept)
    folder.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size_kb}k", "tmpfs", str(folder)], capture_output=True
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here (needs root): {mounted.stderr.decode().strip()}")
    try:
        shutil.copytree(kept / current.parent.name, folder / current.parent.name)
        yield folder
    finally:
        subprocess.run(["umount", str(folder)], check=True)


def test_a_publish_out_of_disk_names_that_first_and_keeps_gold(built_home: Path, full_version_disk: Path) -> None:
    from orchestration.dag import StageFailed
    from orchestration.stages import build as build_stage

    before = gold.current()
    with pytest.raises(StageFailed) as failed:
        build_stage(select=SMALL_MART).run()
    message = str(failed.value)
    assert message.startswith("no space left on device"), message
    assert "\n" not in message and "publish failed, gold not replaced" in message
    assert gold.current() == before  # readers still get the previous snapshot, whole
    assert [p.name for p in full_version_disk.iterdir()] == [before.parent.name]  # no partial copy left
