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


def test_sqlfluff_lint_passes(real_build: RealBuild) -> None:
    """Every model and singular test passes sqlfluff with the dbt templater (started by the
    real_build fixture on a copy of the built home; see start_lint)."""
    out, err = real_build.lint.communicate(timeout=600)
    files = json.loads(out or "[]")
    violations = [
        f"{f['filepath']}:{v['start_line_no']} {v['code']} {v['description']}" for f in files for v in f["violations"]
    ]
    assert violations == [], "\n".join(violations[:40])
    assert real_build.lint.returncode == 0, err[-2000:]
    linted = {Path(f["filepath"]).name for f in files}
    models = {p.name for p in DBT_DIR.joinpath("models").rglob("*.sql")}
    assert models <= linted


def test_dbt_runs_from_its_own_folder_against_crashes_home(
    at_real_home: RealBuild, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An analyst's `cd dbt_project && dbt show …`: dbt finds dbt_project.yml and profiles.yml
    in the working directory and the warehouse under CRASHES_HOME (target/logs go to tmp so
    the checkout stays clean)."""
    from dbt.cli.main import dbtRunner

    from transform.dbt import release_duckdb

    monkeypatch.chdir(DBT_DIR)
    monkeypatch.delenv("DBT_PROFILES_DIR", raising=False)
    monkeypatch.delenv("DBT_PROJECT_DIR", raising=False)
    try:
        shown = dbtRunner().invoke(
            ["show", "--inline", "select count(*) as crashes from {{ ref('fct_crashes') }}",
             "--target-path", str(tmp_path / "target"), "--log-path", str(tmp_path / "logs"), "--log-level", "none"]
        )  # fmt: skip
    finally:
        release_duckdb()
    with duckdb.connect(str(at_real_home.home / "gold_build.duckdb"), read_only=True) as con:
        built = con.execute("select count(*) from marts.fct_crashes").fetchone()[0]
    assert shown.success, shown.exception
    assert built >= at_real_home.samples.crashes.count
    assert [tuple(row) for row in shown.result.results[0].agate_table.rows] == [(built,)]


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


def test_a_build_leaves_the_files_free_for_the_next_stage(real_build: RealBuild) -> None:
    """dbt-duckdb keeps its DuckDB instance open after an invocation; build() must release it,
    or the next stage (ml scoring, the next ingest) in another process meets a lock."""
    probe = "import duckdb, sys\nfor path in sys.argv[1:]:\n    duckdb.connect(path).close()\nprint('free')"
    done = subprocess.run(
        [sys.executable, "-c", probe, str(real_build.warehouse), str(real_build.home / "gold_build.duckdb")],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.stdout.strip() == "free", done.stderr[-1000:]


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
