"""SIGTERM ends a run the way Ctrl-C does.

docker, systemd and compose stop a process with SIGTERM, whose default action kills Python on the
spot: the run stays `running` in ops.sqlite until a later run finds it. While a run (or a wait for
the pipeline lock) is in progress, SIGTERM and SIGINT both raise KeyboardInterrupt in the main
thread, so the stage in progress stops and the engine records it and the run `interrupted`; the
CLI then exits 128 + the signal's number (143 for SIGTERM, 130 for SIGINT), as a shell reports a
process the signal ended.

dlt, while it normalizes and loads, puts its own handler in place, drains its job pools and raises
a KeyboardInterrupt of its own, which says which signal came (see `caught`).

The handler calls the one it replaced first (the scheduler's, which stops taking new jobs), and
raises only once: a second signal during the few writes that record the interruption is ignored.

Inside native code that calls back into Python (XGBoost's data iterator), a KeyboardInterrupt
raised in the callback leaves the library's state broken: glibc aborted the process (exit -6, not
143). `deferred()` holds such code: a signal is recorded there, the code asked to stop
(`stop_requested`), and the interruption raised when the block ends.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Any

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)

_received: int | None = None
_deferring = False
_pending = False  # a signal came while deferring: raise when the deferred block ends


def received() -> int | None:
    """The signal that interrupted the current (or last) run of this process, if one did."""
    return _received


def stop_requested() -> bool:
    """Whether a stop signal has come during the current run: asked before a commit point."""
    return _received is not None


def caught(exc: BaseException) -> None:
    """Note the signal behind a KeyboardInterrupt our handler did not see: dlt puts its own in
    place while it normalizes and loads, drains its job pools, then raises a KeyboardInterrupt
    that carries the signal (`signal_code`). One without is Ctrl-C."""
    global _received
    if _received is None:
        _received = int(getattr(exc, "signal_code", 0) or signal.SIGINT)


def exit_code() -> int:
    """What the CLI exits with after an interruption: 128 + the signal (Ctrl-C when none was seen)."""
    return 128 + (_received or signal.SIGINT)


def _chain(previous: Any, signum: int, frame: FrameType | None) -> None:
    if callable(previous) and previous is not signal.default_int_handler:
        previous(signum, frame)


@contextmanager
def interruptible() -> Iterator[None]:
    """While held, SIGTERM/SIGINT raise KeyboardInterrupt (once). Only the main thread can take
    signals; elsewhere (a dashboard thread) this does nothing."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    global _received
    _received = None
    previous = {sig: signal.getsignal(sig) for sig in STOP_SIGNALS}

    def handler(signum: int, frame: FrameType | None) -> None:
        global _received, _pending
        _chain(previous[signal.Signals(signum)], signum, frame)
        if _received is not None:
            return
        _received = signum
        if _deferring:
            _pending = True
            return
        raise KeyboardInterrupt(signal.Signals(signum).name)

    for sig in STOP_SIGNALS:
        signal.signal(sig, handler)
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


@contextmanager
def deferred() -> Iterator[None]:
    """While held, a stop signal is only recorded (`stop_requested()` turns true); it is raised as
    KeyboardInterrupt when the block ends, unless the block is already ending with an exception."""
    global _deferring, _pending
    if _deferring:
        yield
        return
    _deferring, _pending = True, False
    try:
        yield
    finally:
        _deferring = False
    if _pending:
        _pending = False
        raise KeyboardInterrupt(signal.Signals(_received or signal.SIGINT).name)
