"""The pipeline lock: one writer of the warehouse at a time, across processes.

`filelock` uses flock(2), which the kernel releases when the holder dies, so a run killed with
SIGKILL never leaves a stale lock behind.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from filelock import FileLock, Timeout

from crashes.config import get_settings
from crashes.errors import CrashesError
from orchestration import runs

# A short grace period, so a reader that took the lock for a moment (`crashes status`) never
# makes a run refuse.
GRACE_SECONDS = 3.0


def lock_path() -> Path:
    return get_settings().home / "pipeline.lock"


def _holder() -> str:
    run = runs.running_run()
    if run is None:
        return "another process holds the pipeline lock"
    return f"run {run.id} ({run.job}, {run.trigger}) started {run.started[:19]}Z is still running"


@contextmanager
def pipeline_lock(wait: bool, on_wait: Callable[[str], None] = lambda _: None) -> Iterator[None]:
    """Hold the lock for a run; refuse with one clear line, or wait when asked to."""
    path = lock_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    lock = FileLock(path, thread_local=False)
    try:
        lock.acquire(timeout=GRACE_SECONDS)
    except Timeout:
        if not wait:
            raise CrashesError(f"{_holder()}; wait for it, or pass --wait to queue behind it") from None
        on_wait(f"{_holder()}; waiting for it to finish")
        lock.acquire()
    try:
        yield
    finally:
        lock.release()


@contextmanager
def lock_if_idle() -> Iterator[bool]:
    """Take the lock only if no run holds it; yields whether we got it. For short readers."""
    path = lock_path()
    if not path.parent.exists():
        yield True
        return
    lock = FileLock(path, thread_local=False)
    try:
        lock.acquire(timeout=0)
    except Timeout:
        yield False
        return
    try:
        yield True
    finally:
        lock.release()
