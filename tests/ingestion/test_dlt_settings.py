"""The project's dlt settings: secrets stay out of git, and the secrets file `make install` creates
keeps dlt from importing Streamlit (to look for its secrets) on every run."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DLT_DIR = ROOT / ".dlt"

# One replay in a fresh process; prints whether Streamlit was imported and raw's row count.
_RUN = """
import json, sys
from pathlib import Path
from ingestion.pipeline import ingest
result = ingest(source="replay", path=Path(sys.argv[1]))
print(json.dumps({"streamlit": "streamlit" in sys.modules, "raw": result.raw_rows.get("crashes")}))
"""


def test_example_secrets_hold_no_values_and_the_real_file_is_ignored() -> None:
    example = (DLT_DIR / "example.secrets.toml").read_text()
    assert tomllib.loads(example) == {}, "the example is a commented template, never live values"
    assert "app_token" in example and "aws_secret_access_key" in example, "it documents each secret"
    ignored = subprocess.run(["git", "check-ignore", "-q", ".dlt/secrets.toml"], cwd=ROOT, check=False)
    assert ignored.returncode == 0, ".dlt/secrets.toml must be git-ignored"


def _replay_in_subprocess(project: Path, home: Path, export: Path) -> dict:
    # dlt's global folder too (a user's ~/.dlt/secrets.toml would count): an empty one per run.
    env = {**os.environ, "DLT_PROJECT_DIR": str(project), "DLT_DATA_DIR": str(home / "dlt"), "CRASHES_HOME": str(home)}
    out = subprocess.run(
        [sys.executable, "-c", _RUN, str(export)], cwd=ROOT, env=env, capture_output=True, text=True, check=True
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_a_secrets_file_keeps_streamlit_out_of_the_pipeline(tmp_path: Path) -> None:
    export = tmp_path / "crashes.jsonl"
    export.write_text(json.dumps({"crash_record_id": "a1", "crash_date": "2024-05-01T10:00:00.000"}) + "\n")
    with_secrets, without = tmp_path / "with" / ".dlt", tmp_path / "without" / ".dlt"
    for folder in (with_secrets, without):
        folder.mkdir(parents=True)
        shutil.copy(DLT_DIR / "config.toml", folder / "config.toml")
    shutil.copy(DLT_DIR / "example.secrets.toml", with_secrets / "secrets.toml")

    kept_out = _replay_in_subprocess(with_secrets.parent, tmp_path / "home1", export)
    assert kept_out == {"streamlit": False, "raw": 1}
    # The control: the same run without the file is what costs the import (≈ 1 s a command).
    pulled_in = _replay_in_subprocess(without.parent, tmp_path / "home2", export)
    assert pulled_in == {"streamlit": True, "raw": 1}
