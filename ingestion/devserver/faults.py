"""Faults the local server injects on demand, so clients' retry and recovery paths get exercised.

Kinds: `429` (with Retry-After), `500`, `503`, `slow` (sleep before answering) and `truncated`
(a cut-off body: Content-Length promised but the connection closes early, or, with
`mode="close"`, no length and a closed connection mid-array) and `amend` (the page is served as it
was, then its first `rows` records are amended in the store, as the portal does all day: a new
`:updated_at` = now and a changed `field`, by default the one in AMEND_FIELDS). Each fault fires
`count` times on the next matching data requests, in the order added.
"""

from __future__ import annotations

import threading
from dataclasses import asdict, dataclass
from typing import Any

KINDS = ("429", "500", "503", "slow", "truncated", "amend")
# A field every record has and analysts read: a number gets one more, Y/N flips, text gets a mark.
AMEND_FIELDS = {"crashes": "injuries_total", "vehicles": "occupant_cnt", "people": "age"}


@dataclass
class Fault:
    kind: str
    count: int = 1
    retry_after: int = 1
    seconds: float = 2.0
    mode: str = "length"
    rows: int = 3
    field: str | None = None
    dataset: str | None = None  # a dataset name or id; None = any

    def matches(self, dataset: str, resource_id: str) -> bool:
        return self.dataset is None or self.dataset in (dataset, resource_id)


class Faults:
    """Thread-safe queue of pending faults, shared by the request handlers."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pending: list[Fault] = []
        self.fired: list[str] = []

    def add(self, kind: str | int, count: int = 1, **opts: Any) -> Fault:
        kind = str(kind)
        if kind not in KINDS:
            raise ValueError(f"unknown fault kind {kind!r}: choose from {', '.join(KINDS)}")
        if count < 1:
            raise ValueError("count must be at least 1")
        unknown = set(opts) - {"retry_after", "seconds", "mode", "rows", "field", "dataset"}
        if unknown:
            raise ValueError(f"unknown fault option(s) {', '.join(sorted(unknown))}")
        if opts.get("mode", "length") not in ("length", "close"):
            raise ValueError("truncated mode must be 'length' or 'close'")
        if int(opts.get("rows", 3)) < 1:
            raise ValueError("amend rows must be at least 1")
        fault = Fault(kind=kind, count=int(count), **opts)
        with self._lock:
            self._pending.append(fault)
        return fault

    def take(self, dataset: str, resource_id: str) -> Fault | None:
        """The fault to apply to this request, if any (consumes one of its count)."""
        with self._lock:
            for fault in self._pending:
                if fault.matches(dataset, resource_id):
                    fault.count -= 1
                    if fault.count == 0:
                        self._pending.remove(fault)
                    self.fired.append(fault.kind)
                    return fault
        return None

    def clear(self) -> None:
        with self._lock:
            self._pending.clear()

    def pending(self) -> list[dict[str, Any]]:
        with self._lock:
            return [asdict(f) for f in self._pending]
