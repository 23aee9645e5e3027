"""Which gold snapshot the dashboard serves, and caching that is valid for exactly one snapshot.

A query over gold is a pure function of the snapshot file: publish never edits one in place, it
writes a new version file and points `gold.duckdb` at it (see `crashes.gold`). So a result is
cached under the served file's identity (path, inode, mtime, size), and the query runs on a
connection to that same file (`connect`, pinned for the call), never on whatever `gold.duckdb`
meant when DuckDB's per-path instance cache first opened it.

Someone opening the current snapshot read-write (an analyst's `duckdb gold.duckdb`) locks every
reader out of that file. The page's first check (`check`) then records the holder, and the
dashboard serves the previous version, which publish keeps, until the lock is gone or the next
publish lands; with no previous version it says what holds the file in one line and stops.
Nothing else is cached: ops.sqlite is always read live, and a connection lives for one script
run at most (`per_run`: the page's queries share it; opening the 0.5 GB real-scale file took
60–200 ms each time, a dozen times a page), so an analyst's read-write open is refused only
while a page is being drawn, never for good.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import ParamSpec, TypeVar

import duckdb
import streamlit as st

from crashes import gold
from crashes.config import get_settings

P = ParamSpec("P")
R = TypeVar("R")

# Version files found locked by a read-write holder, with what holds them; shared by sessions.
_locked: dict[Path, gold.GoldLocked] = {}
# The snapshot a cached call reads, so its connections open the file its cache key names.
_pinned: ContextVar[Path | None] = ContextVar("gold_snapshot", default=None)
# The connections of the script run under way (`per_run`), one per snapshot file it read.
_run: ContextVar[dict[Path, duckdb.DuckDBPyConnection] | None] = ContextVar("gold_run", default=None)


@dataclass(frozen=True)
class Serving:
    """What the dashboard reads now: `path` (None before any publish), and why it is not the
    current snapshot when it is not (`locked`)."""

    path: Path | None
    locked: gold.GoldLocked | None = None

    @property
    def fallback(self) -> bool:
        return self.locked is not None and self.path is not None


def serving() -> Serving:
    """The current snapshot, or the previous one while the current is held read-write."""
    current = gold.current()
    if current is None or current not in _locked:
        return Serving(current)
    return Serving(gold.previous(), _locked[current])


def check() -> Serving:
    """Open the current snapshot once (at the top of a page) to learn whether it is locked."""
    current = gold.current()
    if current is None:
        return Serving(None)
    try:
        _open(current)
    except gold.GoldLocked as exc:
        _locked[current] = exc
    else:
        _locked.pop(current, None)
    return serving()


def _identity(path: Path | None) -> str:
    try:
        stat = path.stat() if path else None
    except FileNotFoundError:
        stat = None
    if path is None or stat is None:
        return f"{get_settings().gold_path}:missing"
    return f"{path}:{stat.st_ino}:{stat.st_mtime_ns}:{stat.st_size}"


def published() -> datetime | None:
    """When the snapshot being served was published (its file's mtime), None without one."""
    path = serving().path
    return datetime.fromtimestamp(path.stat().st_mtime, UTC) if path else None


def gold_version() -> str:
    """Identity of the snapshot being served ("missing" when there is none to serve)."""
    return _identity(serving().path)


def _open(path: Path) -> duckdb.DuckDBPyConnection | None:
    """The run's connection to `path` (opened now if it has none), or, outside a run, a check
    that `path` opens (None: nothing is kept)."""
    held = _run.get()
    if held is None:
        gold.open_read_only(path).close()
        return None
    if path not in held:
        held[path] = gold.open_read_only(path)
    return held[path]


@contextmanager
def per_run() -> Iterator[None]:
    """Around one script run (dashboard/app.py): its queries share one read-only connection per
    snapshot file, closed when the run ends (also on `st.stop()` or an error)."""
    held: dict[Path, duckdb.DuckDBPyConnection] = {}
    token = _run.set(held)
    try:
        yield
    finally:
        _run.reset(token)
        for con in held.values():
            con.close()


@contextmanager
def connect() -> Iterator[duckdb.DuckDBPyConnection]:
    """A read-only connection to the snapshot this call serves, for one unit of work: a cursor
    on the run's connection, or (outside a run, e.g. a fragment's rerun) one of its own."""
    path = _pinned.get() or serving().path
    if path is None:
        with gold.connect() as con:  # says there is no snapshot, and what to run
            yield con
        return
    shared = _open(path) if _run.get() is not None else None
    con = shared.cursor() if shared is not None else gold.open_read_only(path)
    try:
        yield con
    finally:
        con.close()


def per_snapshot(fn: Callable[P, R]) -> Callable[P, R]:
    """Cache `fn` per gold snapshot; arguments must be hashable by Streamlit (dates, tuples...)."""
    return _cached(fn, st.cache_data(max_entries=128, show_spinner=False), "snapshot")


def kept_per_snapshot(fn: Callable[P, R]) -> Callable[P, R]:
    """Like `per_snapshot`, but a hit returns the very object (`st.cache_resource`: no pickled
    copy): for Plotly figures, whose building and validation cost more than their queries and
    which an unpickled copy would validate again. Callers must not change what they get."""
    return _cached(fn, st.cache_resource(max_entries=64, show_spinner=False), "kept")


def _cached(fn: Callable[P, R], cache: Callable, tag: str) -> Callable[P, R]:

    def with_version(version: str, *args: P.args, **kwargs: P.kwargs) -> R:
        return fn(*args, **kwargs)

    # Streamlit keys a cache by the function's module and qualified name: keep them distinct.
    with_version.__module__ = fn.__module__
    with_version.__qualname__ = f"{fn.__qualname__}@{tag}"
    cached = cache(with_version)

    def pinned_call(*args: P.args, **kwargs: P.kwargs) -> R:
        path = _pinned.get() or serving().path  # a nested call reads what its caller reads
        token = _pinned.set(path)
        try:
            return cached(_identity(path), *args, **kwargs)
        finally:
            _pinned.reset(token)

    @functools.wraps(fn)
    def call(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return pinned_call(*args, **kwargs)
        except gold.GoldLocked as exc:
            # Locked since the page's check: remember it, and serve the previous version if kept.
            if exc.path in _locked or gold.previous() is None:
                raise
            _locked[exc.path] = exc
            return pinned_call(*args, **kwargs)

    return call


def clear() -> None:
    """Forget every cached result (the benchmark measures cold first runs) and every lock seen."""
    st.cache_data.clear()
    st.cache_resource.clear()
    _locked.clear()
