"""Every command is in the run history: `crashes ingest`, `build`, `train` and `score` run as
one-stage runs of the engine, so `crashes status`, the dashboard and the alerts see a failed manual
build like a failed scheduled run. And `crashes run --help` names the stages in the order a run
records them."""

from __future__ import annotations

import os
import re
import sqlite3
import subprocess
import sys
from pathlib import Path

from tests.orchestration.conftest import PROJECT, Grown, ReferenceRun, copy_home, run_env

CRASHES = str(PROJECT / ".venv/bin/crashes")
HOLD_WAREHOUSE = "import duckdb, sys, time; c = duckdb.connect(sys.argv[1]); print('held', flush=True); time.sleep(600)"


def _crashes(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([CRASHES, *args], env=run_env(home), capture_output=True, text=True, timeout=900, cwd=PROJECT)


def _runs_after(home: Path, last: int) -> list[tuple[str, str, str, list[tuple[str, str]]]]:
    con = sqlite3.connect(home / "ops.sqlite")
    try:
        found = con.execute("SELECT id, job, trigger, status FROM runs WHERE id > ? ORDER BY id", (last,)).fetchall()
        return [
            (job, trigger, status, con.execute(
                "SELECT name, status FROM stages WHERE run_id = ? ORDER BY position", (run_id,)
            ).fetchall())
            for run_id, job, trigger, status in found
        ]  # fmt: skip
    finally:
        con.close()


def _scores(home: Path) -> tuple[int, int, str]:
    """Crashes in gold, how many have no score, and when the scores were made."""
    import duckdb

    con = duckdb.connect(str(home / "gold.duckdb"), read_only=True)
    try:
        crashes, unscored, scored_at = con.execute(
            "select count(*), count(*) filter (where s.crash_record_id is null), max(s.scored_at)::varchar"
            " from marts.fct_crashes as f left join marts.ml_hit_and_run_scores as s using (crash_record_id)"
        ).fetchone()
    finally:
        con.close()
    return int(crashes), int(unscored), str(scored_at)


def test_ingest_build_train_and_score_are_one_stage_runs(
    tmp_path: Path, reference_run: ReferenceRun, grown: Grown
) -> None:
    home = copy_home(reference_run, tmp_path / "home")
    con = sqlite3.connect(home / "ops.sqlite")
    (last,) = con.execute("SELECT max(id) FROM runs").fetchone()
    con.close()
    n = reference_run.tables["crashes"].num_rows

    ingest = _crashes(home, "ingest", "--base-url", grown.url)
    assert ingest.returncode == 0, ingest.stderr[-3000:]
    build = _crashes(home, "build")
    assert build.returncode == 0 and "build ok" in build.stdout, build.stdout[-3000:] + build.stderr[-3000:]
    built = _scores(home)
    assert built[:2] == (n + grown.added, grown.added), "a build alone publishes the new crashes, not yet scored"

    # A manual build that fails: another process holds the warehouse, as a forgotten notebook would.
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_WAREHOUSE, str(home / "warehouse.duckdb")], stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        failed = _crashes(home, "build")
    finally:
        holder.kill()
        holder.wait()
    assert failed.returncode == 2 and "is locked by another process" in failed.stderr, failed.stderr[-3000:]
    assert re.search(r"recorded as run \d+ \(build\): failed", failed.stderr), failed.stderr

    train = _crashes(home, "train")
    assert train.returncode == 0, train.stderr[-3000:]
    score = _crashes(home, "score")
    assert score.returncode == 0, score.stderr[-3000:]
    crashes, unscored, scored_at = _scores(home)
    assert (crashes, unscored) == (n + grown.added, 0), "`crashes score` alone ends with gold holding the scores"
    assert scored_at > built[2], "gold holds the new scores"

    assert _runs_after(home, last) == [
        ("ingest", "cli", "succeeded", [("ingest", "succeeded")]),
        ("build", "cli", "succeeded", [("build", "succeeded")]),
        ("build", "cli", "failed", [("build", "failed")]),
        ("train", "cli", "succeeded", [("train", "succeeded")]),
        ("score", "cli", "succeeded", [("score", "succeeded")]),
    ]
    status = _crashes(home, "status")
    assert status.returncode == 0, status.stderr
    assert re.search(r"#\d+\s+build\s+cli\s+failed", status.stdout), status.stdout
    assert re.search(r"build: failed — the warehouse .* is locked by another process", status.stdout), status.stdout
    for job in ("ingest", "train", "score"):
        assert re.search(rf"#\d+\s+{job}\s+cli\s+succeeded", status.stdout), status.stdout


def test_run_help_names_the_stages_in_the_order_a_run_records_them(reference_run: ReferenceRun) -> None:
    shown = subprocess.run(
        [CRASHES, "run", "--help"],
        env={**os.environ, "COLUMNS": "240"},
        capture_output=True,
        text=True,
        timeout=60,
        cwd=PROJECT,
    )
    text = " ".join(shown.stdout.split())
    chain = re.search(r"(?:\(?\w+\)? → )+\(?\w+\)?", text)
    assert chain, text
    named = [name.strip("()") for name in chain.group(0).split(" → ")]
    con = sqlite3.connect(reference_run.home / "ops.sqlite")
    try:
        recorded = [r[0] for r in con.execute("SELECT name FROM stages WHERE run_id = 1 ORDER BY position")]
    finally:
        con.close()
    assert named == recorded, f"`crashes run --help` says {' → '.join(named)}; a run does {' → '.join(recorded)}"
