"""The kill test: SIGKILL a real `crashes run` during ingest and during the build, re-run, and end
with exactly the row counts of an uninterrupted run."""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import time
from pathlib import Path

import pytest

from tests.orchestration.conftest import PROJECT, ReferenceRun, crashes_run, row_counts, run_env


def _kill_during(home: Path, url: str, stage: str, after_s: float) -> None:
    """Start a run and SIGKILL it `after_s` seconds into `stage`."""
    proc = subprocess.Popen(
        [str(PROJECT / ".venv/bin/crashes"), "run", "--base-url", url, "--log-format", "json"],
        env=run_env(home),
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        cwd=PROJECT,
    )
    assert proc.stdout is not None
    try:
        for line in proc.stdout:
            event = json.loads(line)
            assert event["event"] != "run_finished", f"the run ended before reaching {stage}: {event}"
            if event["event"] == "stage_started" and event["stage"] == stage:
                time.sleep(after_s)
                break
        else:
            pytest.fail(f"the run exited before {stage} started")
        assert proc.poll() is None, f"the run finished within {after_s}s of starting {stage}"
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL


def _stage_status(home: Path, run_id: int, stage: str) -> str:
    con = sqlite3.connect(home / "ops.sqlite")
    try:
        (status,) = con.execute("SELECT status FROM stages WHERE run_id = ? AND name = ?", (run_id, stage)).fetchone()
    finally:
        con.close()
    return str(status)


def test_sigkill_during_ingest_and_build_then_rerun_matches_an_uninterrupted_run(
    tmp_path: Path, reference_run: ReferenceRun
) -> None:
    assert (reference_run.home / "gold.duckdb").exists(), (
        f"the reference run published no gold: {reference_run.output()}"
    )
    expected = row_counts(reference_run.home)
    n_crashes = reference_run.tables["crashes"].num_rows
    assert expected["raw.crashes"] == (n_crashes, n_crashes), reference_run.output()
    assert expected["marts.fct_crashes"] == (n_crashes, n_crashes), "the uninterrupted run published gold"

    home = tmp_path / "killed"
    _kill_during(home, reference_run.url, "ingest", after_s=3.0)
    _kill_during(home, reference_run.url, "build", after_s=5.0)
    final = crashes_run(home, reference_run.url)
    # Proof the kills landed inside those stages: the next run found them running and closed them.
    assert _stage_status(home, 1, "ingest") == "interrupted"
    assert _stage_status(home, 2, "build") == "interrupted"
    assert row_counts(home) == expected, final.stdout[-3000:] + final.stderr[-3000:]
    assert final.returncode == reference_run.process.returncode, "the resumed run ends as the uninterrupted one"
