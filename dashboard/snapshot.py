"""Which gold snapshot is current, and caching that is valid for exactly one snapshot.

A query over gold is a pure function of the snapshot file: the publish step never edits it in
place, it renames a new file over it. So a result may be cached under the file's identity
(path, inode, mtime, size) and is dropped from use the moment a new snapshot lands. Nothing else
is cached: connections are opened per query, ops.sqlite (runs, schedules) is always read live.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import ParamSpec, TypeVar

import streamlit as st

from crashes.config import get_settings

P = ParamSpec("P")
R = TypeVar("R")


def gold_version() -> str:
    """Identity of the current snapshot file ("missing" when none has been published)."""
    path = get_settings().gold_path
    try:
        stat = path.stat()
    except FileNotFoundError:
        return f"{path}:missing"
    return f"{path}:{stat.st_ino}:{stat.st_mtime_ns}:{stat.st_size}"


def per_snapshot(fn: Callable[P, R]) -> Callable[P, R]:
    """Cache `fn` per gold snapshot; arguments must be hashable by Streamlit (dates, tuples...)."""

    def with_version(version: str, *args: P.args, **kwargs: P.kwargs) -> R:
        return fn(*args, **kwargs)

    # Streamlit keys a cache by the function's module and qualified name: keep them distinct.
    with_version.__module__ = fn.__module__
    with_version.__qualname__ = f"{fn.__qualname__}@snapshot"
    cached = st.cache_data(max_entries=128, show_spinner=False)(with_version)

    @functools.wraps(fn)
    def call(*args: P.args, **kwargs: P.kwargs) -> R:
        return cached(gold_version(), *args, **kwargs)

    return call


def clear() -> None:
    """Forget every cached result (the benchmark measures cold first runs)."""
    st.cache_data.clear()
