"""`crashes scheduler` and `crashes metrics` as long-running processes: serve, run, stop cleanly."""

from __future__ import annotations

import re
import signal
import subprocess
import time
import urllib.request
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from orchestration import runs, schedules
from tests.orchestration.monitoring import PROJECT, free_port

STAMP = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z ")


def _scrape(url: str, timeout: float = 30.0) -> dict[str, float]:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=5) as resp:
                text = resp.read().decode()
            break
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)
    return {
        s.name + str(sorted(s.labels.items())): s.value for f in text_string_to_metric_families(text) for s in f.samples
    }


def _start(*command: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [str(PROJECT / ".venv/bin/crashes"), *command],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=PROJECT,
    )  # fmt: skip


def _stop(proc: subprocess.Popen[str]) -> str:
    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0, f"did not stop cleanly on SIGTERM: {proc.returncode}\n{out}"
    return out


def test_metrics_command_serves_the_run_history(crashes_home: Path) -> None:
    runs.record_event("prediction", {"probability": 0.5})
    port = free_port()
    proc = _start("metrics", "--port", str(port))
    try:
        samples = _scrape(f"http://127.0.0.1:{port}/metrics")
        assert samples["crashes_predictions_total[]"] == 1
        runs.record_event("prediction", {"probability": 0.7})  # read at scrape time, not at start
        assert _scrape(f"http://127.0.0.1:{port}/metrics")["crashes_predictions_total[]"] == 2
    finally:
        out = _stop(proc)
    assert f"serving metrics on http://127.0.0.1:{port}/metrics" in out


def test_scheduler_serves_metrics_lists_schedules_and_stops_on_sigterm(crashes_home: Path) -> None:
    s = schedules.add_schedule("0 6 * * *", job="incremental")
    port = free_port()
    proc = _start("scheduler", "--port", str(port))
    try:
        samples = _scrape(f"http://127.0.0.1:{port}/metrics")
        assert samples["crashes_ops_up[]"] == 1
    finally:
        out = _stop(proc)
    assert "scheduler: 1 schedule(s)" in out and f"[{s.id}] incremental '0 6 * * *' (At 06:00 AM)" in out
    assert runs.recent_runs(5) == [], "nothing was due, so nothing ran"
    lines = out.splitlines()
    assert lines and all(STAMP.match(line) for line in lines), f"every log line starts with its UTC time:\n{out}"
    assert "stopped" in lines[-1]


def test_scheduler_refuses_an_unknown_log_format(crashes_home: Path) -> None:
    proc = _start("scheduler", "--log-format", "xml")
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 2 and out.strip() == "error: --log-format must be plain or json, got 'xml'", out
