"""`crashes ingest` failures a user can fix: one line naming the URL, the server's own words and
what to do, exit code 2; never a bare `HTTPError: HTTP 404` or a half-minute wait for a dead port."""

from __future__ import annotations

import socket
import subprocess
import time
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest

from ingestion.devserver.generator import generate_crashes
from ingestion.devserver.server import SocrataServer

PROJECT = Path(__file__).resolve().parents[2]
CRASHES = "/resource/85ca-t3if.json"


@pytest.fixture(scope="module")
def server() -> Iterator[SocrataServer]:
    crashes = generate_crashes(date(2024, 1, 1), date(2024, 1, 2), crashes_per_day=20, seed=3)
    with SocrataServer(tables={"crashes": crashes}) as srv:
        yield srv


def _ingest(home: Path, *args: str) -> tuple[int, str, float]:
    started = time.monotonic()
    proc = subprocess.run(
        [str(PROJECT / ".venv/bin/crashes"), "ingest", *args],
        cwd=PROJECT,
        env={"PATH": "/usr/bin:/bin", "CRASHES_HOME": str(home), "RUNTIME__DLTHUB_TELEMETRY": "false"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    lines = [line for line in (proc.stdout + proc.stderr).splitlines() if line.strip()]
    assert len(lines) == 1, f"expected one line, got:\n{proc.stdout}{proc.stderr}"
    return proc.returncode, lines[0], time.monotonic() - started


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_base_url_with_resource_path(server: SocrataServer, tmp_path: Path) -> None:
    code, line, _ = _ingest(tmp_path, "--base-url", f"{server.url}/resource", "--datasets", "crashes")
    assert code == 2
    assert f"{server.url}/resource{CRASHES}" in line
    assert "Dataset 'resource/85ca-t3if' not found" in line  # the server's words
    assert "HTTP 404" in line and "--base-url" in line


def test_page_size_over_the_servers_limit(server: SocrataServer, tmp_path: Path) -> None:
    code, line, _ = _ingest(tmp_path, "--base-url", server.url, "--datasets", "crashes", "--page-size", "60000")
    assert code == 2
    assert f"{server.url}{CRASHES}" in line
    assert "$limit must be at most 50000" in line and "HTTP 400" in line
    assert "--page-size" in line


def test_unreachable_port_fails_fast_with_the_url(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{_free_port()}"
    code, line, seconds = _ingest(tmp_path, "--base-url", url, "--datasets", "crashes")
    assert code == 2
    assert f"{url}{CRASHES}" in line and "refused" in line.lower()
    assert "--base-url" in line
    assert seconds < 20, f"gave up after {seconds:.0f} s"


def test_unknown_dataset(tmp_path: Path) -> None:
    code, line, _ = _ingest(tmp_path, "--datasets", "foo")
    assert code == 2
    assert "foo" in line and "crashes, vehicles, people" in line and "--datasets" in line
    assert "ValueError" not in line
