"""The dbt project as people use it: from its own folder, linted, documented, and `build()`'s
answer when there is nothing to build."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from pathlib import Path

import duckdb
import pytest

from crashes.errors import CrashesError
from tests.conftest import PROJECT_ROOT
from tests.dbt.conftest import RealBuild

DBT_DIR = PROJECT_ROOT / "dbt_project"
BIN = Path(sys.executable).parent
DOCS_PORT = 18817


def _env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "CRASHES_BRONZE_URL"}
    return env | {"CRASHES_HOME": str(home), "DO_NOT_TRACK": "1"}


def test_sqlfluff_lint_passes(at_real_home: RealBuild) -> None:
    """The dbt templater compiles every file against a real profile: the built home."""
    done = subprocess.run(
        [str(BIN / "sqlfluff"), "lint", "models", "tests", "macros", "--format", "json", "--nocolor"],
        cwd=DBT_DIR, env=_env(at_real_home.home), capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    files = json.loads(done.stdout or "[]")
    violations = [
        f"{f['filepath']}:{v['start_line_no']} {v['code']} {v['description']}" for f in files for v in f["violations"]
    ]
    assert violations == [], "\n".join(violations[:40])
    assert done.returncode == 0, done.stderr[-2000:]
    assert len(files) >= 25  # every model, test and macro file was linted


def test_dbt_runs_from_its_own_folder_against_crashes_home(at_real_home: RealBuild, tmp_path: Path) -> None:
    """An analyst's `cd dbt_project && dbt …` finds profiles.yml there and the warehouse under
    CRASHES_HOME (target/logs sent to tmp so the checkout stays clean)."""
    done = subprocess.run(
        [str(BIN / "dbt"), "show", "--inline", "select count(*) as crashes from {{ ref('fct_crashes') }}",
         "--output", "json", "--target-path", str(tmp_path / "target"), "--log-path", str(tmp_path / "logs")],
        cwd=DBT_DIR, env=_env(at_real_home.home), capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    shown = json.loads(done.stdout[done.stdout.index("{") : done.stdout.rindex("}") + 1])
    with duckdb.connect(str(at_real_home.home / "gold_build.duckdb"), read_only=True) as con:
        built = con.execute("select count(*) from marts.fct_crashes").fetchone()[0]
    assert built >= at_real_home.samples.crashes.count
    assert shown["show"] == [{"crashes": built}]


def test_docs_are_generated_offline_and_served_on_localhost(at_real_home: RealBuild) -> None:
    from transform.docs import generate, make_server

    site = generate()
    catalog = json.loads((site / "catalog.json").read_text())
    manifest = json.loads((site / "manifest.json").read_text())
    exposures = {e["name"]: e["type"] for e in manifest["exposures"].values()}
    assert "model.chicago_crashes.fct_crashes" in catalog["nodes"]
    assert exposures == {"crash_dashboard": "application", "hit_and_run_model": "ml", "evidence_pages": "dashboard"}

    server = make_server(site, DOCS_PORT)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{DOCS_PORT}/", timeout=10) as response:
            page = response.read().decode()
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(f"http://127.0.0.1:{DOCS_PORT}/run_results.json", timeout=10)
    finally:
        server.shutdown()
        server.server_close()
    assert "dbt" in page.lower() and len(page) > 1000
    assert refused.value.code == 404


def test_build_without_raw_data_is_one_clear_error(crashes_home: Path) -> None:
    from transform import build

    with pytest.raises(CrashesError, match="run `crashes ingest` first"):
        build()
    assert not (crashes_home / "gold.duckdb").exists()


def test_cli_build_says_what_to_do_in_one_line(crashes_home: Path) -> None:
    done = subprocess.run(
        [str(BIN / "crashes"), "build"], env=_env(crashes_home), capture_output=True, text=True, timeout=120
    )
    assert done.returncode != 0
    assert done.stderr.strip().count("\n") == 0 and "crashes ingest" in done.stderr
