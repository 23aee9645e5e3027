"""Pipeline runs started from the dashboard, each in its own process.

A run takes minutes and holds the pipeline lock; doing it inside Streamlit's script thread would
freeze the page and die with the session. So the page starts `python -m dashboard.jobs ...`,
which runs the job through `orchestration.flow.run_job` (the scheduler's entry point) with
trigger "dashboard" (the CLI's `crashes run` records "cli" and has no train-only job), and the
page follows the run in ops.sqlite by the child's pid. Output goes to a log file under
CRASHES_HOME/dashboard/jobs/ for the page to show.
"""

from __future__ import annotations

import argparse
import os
import shlex
import subprocess
import sys
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from crashes.config import get_settings
from crashes.errors import CrashesError
from orchestration import runs
from orchestration.flow import JOBS

# Children we started, so their exit status is collected (no zombies) and can be shown.
_CHILDREN: dict[int, subprocess.Popen[bytes]] = {}


@dataclass(frozen=True)
class StartedJob:
    pid: int
    job: str
    log: Path
    started: str  # ISO time (UTC) just before the child started: its run starts after it

    def exit_code(self) -> int | None:
        """None while the process runs (or if another server process started it)."""
        child = _CHILDREN.get(self.pid)
        return child.poll() if child is not None else None

    def alive(self) -> bool:
        child = _CHILDREN.get(self.pid)
        if child is not None:
            return child.poll() is None
        try:
            os.kill(self.pid, 0)
        except OSError:
            return False
        return True

    def log_tail(self, lines: int = 30) -> str:
        try:
            text = self.log.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def run(self) -> runs.RunRecord | None:
        from dashboard.queries import run_for_pid

        return run_for_pid(self.pid, self.started)


def command(
    job: str,
    since: date | None = None,
    until: date | None = None,
    datasets: list[str] | None = None,
    base_url: str | None = None,
    retrain: bool = False,
) -> list[str]:
    """The child's command line; validated here so a bad request fails in the page, not the log."""
    if job not in JOBS:
        raise CrashesError(f"unknown job {job!r}: choose from {', '.join(JOBS)}")
    if job == "backfill" and since is None:
        raise CrashesError("a backfill needs a start date")
    if since and until and until <= since:
        raise CrashesError(f"the end date ({until}) must be after the start date ({since})")
    args = [sys.executable, "-m", "dashboard.jobs", job]
    if job == "backfill":
        args += ["--since", since.isoformat()] + (["--until", until.isoformat()] if until else [])
    if job != "train":
        if datasets:
            args += ["--datasets", ",".join(datasets)]
        if base_url:
            args += ["--base-url", base_url]
        if retrain:
            args.append("--train")
    return args


def replay_command(path: Path, dataset: str | None = None, build: bool = True) -> list[str]:
    """The child's command line for an export file saved from an upload (see `save_upload`)."""
    if not path.is_file():
        raise CrashesError(f"no export file at {path}")
    args = [sys.executable, "-m", "dashboard.jobs", "replay", "--path", str(path)]
    return args + (["--dataset", dataset] if dataset else []) + ([] if build else ["--no-build"])


def save_upload(name: str, data: bytes) -> Path:
    """Keep an uploaded export under CRASHES_HOME/uploads/ (named by time and its own base name,
    which keeps its extension for shape detection): bronze gets the rows, this keeps the file."""
    folder = get_settings().home / "uploads"
    folder.mkdir(parents=True, exist_ok=True)
    base = "".join(c if c.isalnum() or c in "._-" else "_" for c in Path(name).name).lstrip(".") or "export"
    target = folder / f"{runs.now_iso()[:19].replace(':', '')}-{base}"
    target.write_bytes(data)
    return target


def _replay(argv: list[str]) -> int:
    from orchestration.flow import run_replay

    parser = argparse.ArgumentParser(prog="python -m dashboard.jobs replay")
    parser.add_argument("--path", required=True)
    parser.add_argument("--dataset")
    parser.add_argument("--no-build", action="store_true")
    parsed = parser.parse_args(argv)
    result = run_replay(parsed.path, parsed.dataset, build=not parsed.no_build, trigger="dashboard")
    return 0 if result.ok else 1


def start(argv: list[str]) -> StartedJob:
    """Start the child in its own session (a page rerun or a closed tab does not stop it)."""
    folder = get_settings().home / "dashboard" / "jobs"
    folder.mkdir(parents=True, exist_ok=True)
    started = runs.now_iso()
    log = folder / f"{started.replace(':', '').replace('+', '_')}-{argv[3]}.log"
    with log.open("wb") as out:
        child = subprocess.Popen(
            argv, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True
        )
    _CHILDREN[child.pid] = child
    return StartedJob(pid=child.pid, job=argv[3], log=log, started=started)


def _main(argv: list[str]) -> int:
    """In the child: run the job through the scheduler's entry point, recorded as "dashboard",
    refusing (not waiting) if another run holds the pipeline lock."""
    if argv and argv[0] == "replay":
        try:
            return _replay(argv[1:])
        except CrashesError as exc:
            print(f"error: {exc}", flush=True)
            return exc.exit_code
    if not argv or argv[0] not in JOBS:
        print(f"usage: python -m dashboard.jobs {{{','.join(JOBS)}}} [job arguments]", flush=True)
        return 2
    from orchestration.flow import run_job

    try:
        result = run_job(argv[0], shlex.join(argv[1:]), trigger="dashboard", wait=False, log_format="plain")
    except CrashesError as exc:
        print(f"error: {exc}", flush=True)
        return exc.exit_code
    return 0 if result.ok else 1


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))
