"""The project's dlt settings: secrets stay out of git, the (empty) secrets file `make install`
creates keeps dlt from importing Streamlit (to look for its secrets) on every run, the ingesting
thread imports pandas before any reader thread can (dlt peeks at it), and loaded packages keep no
copy of the data."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pyarrow.parquet as pq

from tests.ingestion.helpers import bronze_files, raw_count

ROOT = Path(__file__).resolve().parents[2]
DLT_DIR = ROOT / ".dlt"

# One replay in a fresh process; prints whether Streamlit was imported, raw's row count and the
# thread that imported pandas (pyarrow imports it lazily, wherever its first scalar is made).
_RUN = """
import json, sys, threading
from pathlib import Path
importers = []
class Watch:  # sees every import, also those made from compiled code
    def find_spec(self, name, path=None, target=None):
        if name == "pandas":
            importers.append(threading.current_thread().name)
        return None
sys.meta_path.insert(0, Watch())
from ingestion.pipeline import ingest
result = ingest(source="replay", path=Path(sys.argv[1]))
print(json.dumps({"streamlit": "streamlit" in sys.modules, "raw": result.raw_rows.get("crashes"),
                  "pandas_imported_by": sorted(set(importers))}))
"""


def _make_secrets_file(folder: Path) -> Path:
    """The secrets file as `make install` creates it, in a scratch copy of the Makefile's folder."""
    shutil.copy(ROOT / "Makefile", folder / "Makefile")
    (folder / ".dlt").mkdir(exist_ok=True)
    subprocess.run(["make", "-s", ".dlt/secrets.toml"], cwd=folder, check=True, capture_output=True)
    return folder / ".dlt" / "secrets.toml"


def test_make_creates_an_empty_secrets_file_never_overwrites_it_and_git_ignores_it(tmp_path: Path) -> None:
    secrets = _make_secrets_file(tmp_path)
    assert tomllib.loads(secrets.read_text()) == {}, "created without live values"
    secrets.write_text('[sources.socrata]\napp_token = "mine"\n')
    _make_secrets_file(tmp_path)
    assert "mine" in secrets.read_text(), "a filled-in file is never overwritten"
    layout = (DLT_DIR / "config.toml").read_text()
    assert "app_token" in layout and "aws_secret_access_key" in layout, "config.toml documents each secret"
    ignored = subprocess.run(["git", "check-ignore", "-q", ".dlt/secrets.toml"], cwd=ROOT, check=False)
    assert ignored.returncode == 0, ".dlt/secrets.toml must be git-ignored"
    tracked = subprocess.run(["git", "ls-files", ".dlt"], cwd=ROOT, capture_output=True, text=True, check=True)
    assert "secrets" not in tracked.stdout, "no secrets file, not even a template, is tracked"


def _replay_in_subprocess(project: Path, home: Path, export: Path) -> dict:
    # dlt's global folder too (a user's ~/.dlt/secrets.toml would count): an empty one per run.
    env = {**os.environ, "DLT_PROJECT_DIR": str(project), "DLT_DATA_DIR": str(home / "dlt"), "CRASHES_HOME": str(home)}
    out = subprocess.run(
        [sys.executable, "-c", _RUN, str(export)], cwd=ROOT, env=env, capture_output=True, text=True, check=True
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_a_secrets_file_keeps_streamlit_out_of_the_pipeline(tmp_path: Path) -> None:
    # A point location: turning it into GeoJSON text is the reader's first Arrow compute call.
    record = {
        "crash_record_id": "a1",
        "crash_date": "2024-05-01T10:00:00.000",
        "location": {"type": "Point", "coordinates": [-87.6, 41.9]},
    }
    export = tmp_path / "crashes.jsonl"
    export.write_text(json.dumps(record) + "\n")
    with_secrets, without = tmp_path / "with" / ".dlt", tmp_path / "without" / ".dlt"
    for folder in (with_secrets, without):
        folder.mkdir(parents=True)
        shutil.copy(DLT_DIR / "config.toml", folder / "config.toml")
    _make_secrets_file(with_secrets.parent)

    kept_out = _replay_in_subprocess(with_secrets.parent, tmp_path / "home1", export)
    # Same run, second check: pandas came in on the main thread, not the replay's reader thread.
    assert kept_out == {"streamlit": False, "raw": 1, "pandas_imported_by": ["MainThread"]}
    # The control: the same run without the file is what costs the import (≈ 1 s a command).
    pulled_in = _replay_in_subprocess(without.parent, tmp_path / "home2", export)
    assert pulled_in["streamlit"] is True and pulled_in["raw"] == 1


def test_loaded_packages_keep_no_copy_of_the_data(crashes_home: Path, tmp_path: Path) -> None:
    """Each run's package holds a second copy of its delivery (bronze's) or of raw's rows: dlt
    keeps it unless told not to, and a scheduled ingest would fill the disk with them."""
    from ingestion.pipeline import ingest

    for n, key in enumerate(("a1", "a2")):
        export = tmp_path / f"crashes_{n}.jsonl"
        export.write_text(json.dumps({"crash_record_id": key, "crash_date": "2024-05-01T10:00:00.000"}) + "\n")
        ingest(source="replay", path=export)

    packages = crashes_home / "pipelines"
    loaded = sorted(p.name for p in packages.glob("*/load/loaded/*"))
    assert len(loaded) >= 4, "two runs, each a bronze and a raw package"
    data_files = [p for p in packages.rglob("*") if p.suffix in {".parquet", ".jsonl", ".insert_values", ".gz"}]
    assert data_files == []
    assert sum(pq.read_table(f).num_rows for f in bronze_files(crashes_home, "crashes")) == 2
    assert raw_count(crashes_home, "crashes") == 2
