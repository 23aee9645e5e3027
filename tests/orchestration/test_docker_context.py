"""What the image is built from: the build context of every compose service, as each of
docker-compose's two builders would send it, holds no secrets and no data.

docker-compose's own builder (docker-py, `docker-compose build`) reads only `<context>/.dockerignore`;
BuildKit (`COMPOSE_DOCKER_CLI_BUILD=1`, or `docker compose`) reads `<Dockerfile>.dockerignore` when
one exists and `<context>/.dockerignore` otherwise. The context here is a scratch copy of the
compose file, the Dockerfile and the ignore files, with planted secrets, data and code.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

PROJECT = Path(__file__).resolve().parents[2]
SYSTEM_PYTHON = "/usr/bin/python3"  # where Debian's docker-compose and docker-py live
PLANTED_SECRET = (".dlt/secrets.toml", ".env", "data/gold.duckdb", "data/gold/000001-x.duckdb", "data/ops.sqlite")
PLANTED_CODE = (".dlt/config.toml", "crashes/__init__.py", "dbt_project/dbt_project.yml", "pyproject.toml")

# docker-py's own context: the ignore file read as APIClient.build reads it, then utils.tar.
CLASSIC_CONTEXT = """
import json, os, sys
from docker import utils
from docker.api.build import process_dockerfile

path, dockerfile = sys.argv[1], sys.argv[2]
exclude = None
if os.path.exists(os.path.join(path, ".dockerignore")):
    with open(os.path.join(path, ".dockerignore")) as f:
        exclude = [l.strip() for l in f.read().splitlines() if l.strip() and not l.strip().startswith("#")]
dockerfile = process_dockerfile(dockerfile, path)
with utils.tar(path, exclude=exclude, dockerfile=dockerfile) as tar:
    import tarfile
    print(json.dumps(sorted(m.name for m in tarfile.open(fileobj=tar).getmembers() if m.isfile())))
"""
# BuildKit's choice of ignore file, evaluated with docker-py's port of the same pattern matcher.
BUILDKIT_CONTEXT = """
import json, os, sys
from docker.utils.build import exclude_paths

path, dockerfile = sys.argv[1], sys.argv[2]
specific = os.path.join(path, dockerfile + ".dockerignore")
chosen = specific if os.path.exists(specific) else os.path.join(path, ".dockerignore")
patterns = []
if os.path.exists(chosen):
    with open(chosen) as f:
        patterns = [l.strip() for l in f.read().splitlines() if l.strip() and not l.strip().startswith("#")]
files = [p for p in exclude_paths(path, patterns, dockerfile) if os.path.isfile(os.path.join(path, p))]
print(json.dumps(sorted(files)))
"""


def _scratch_context(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    for name in (
        "docker-compose.yml",
        ".env.example",
        "deploy/Dockerfile",
        ".dockerignore",
        "deploy/Dockerfile.dockerignore",
    ):
        if (PROJECT / name).exists():
            (root / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(PROJECT / name, root / name)
    for name in PLANTED_SECRET + PLANTED_CODE:
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text("planted\n")
    return root


def _builds(root: Path) -> list[tuple[Path, str]]:
    tool = shutil.which("docker-compose")
    if tool is None or not Path(SYSTEM_PYTHON).exists():
        pytest.skip("docker-compose (Debian package, with docker-py) is not installed")
    out = subprocess.run(
        [tool, "--env-file", str(root / ".env.example"), "config"],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    services = yaml.safe_load(out.stdout)["services"]
    builds = {
        (s["build"]["context"], s["build"].get("dockerfile", "Dockerfile")) for s in services.values() if "build" in s
    }
    assert builds, "no service builds an image"
    return [(Path(context), dockerfile) for context, dockerfile in sorted(builds)]


@pytest.mark.parametrize("builder", ["classic", "buildkit"])
def test_the_build_context_holds_no_secrets_and_no_data(tmp_path: Path, builder: str) -> None:
    root = _scratch_context(tmp_path)
    script = CLASSIC_CONTEXT if builder == "classic" else BUILDKIT_CONTEXT
    for context, dockerfile in _builds(root):
        assert context == root  # the repo root, as the Dockerfile's COPY lines expect
        out = subprocess.run(
            [SYSTEM_PYTHON, "-c", script, str(context), dockerfile], capture_output=True, text=True, timeout=60
        )
        assert out.returncode == 0, out.stderr
        sent = set(json.loads(out.stdout))
        assert not sent & set(PLANTED_SECRET), f"{builder} sends {sorted(sent & set(PLANTED_SECRET))}"
        assert set(PLANTED_CODE) <= sent, f"{builder} leaves out code: {sorted(set(PLANTED_CODE) - sent)}"
        assert dockerfile in sent


def test_one_ignore_file_serves_both_builders() -> None:
    """A Dockerfile-specific ignore file would be read by BuildKit alone: the two lists drift."""
    assert (PROJECT / ".dockerignore").is_file()
    assert not (PROJECT / "deploy" / "Dockerfile.dockerignore").exists()
