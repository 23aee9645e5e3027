"""Vectorised draws from the distributions in stats.json: whole columns at once, never row loops."""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

STATS_PATH = Path(__file__).with_name("stats.json")


@lru_cache(maxsize=1)
def load_stats() -> dict[str, Any]:
    """The committed statistics (see derive_stats.py); read once per process."""
    return json.loads(STATS_PATH.read_text())


def _cdf(p: np.ndarray) -> np.ndarray:
    """Row-wise cumulative probabilities ending exactly at 1, so every draw lands in a bucket."""
    p = np.asarray(p, dtype=float)
    cdf = np.cumsum(p / p.sum(axis=-1, keepdims=True), axis=-1)
    cdf[..., -1] = 1.0
    return cdf


def draw_codes(rng: np.random.Generator, p: np.ndarray | list[float], n: int) -> np.ndarray:
    """n indices into p, distributed as p."""
    return np.searchsorted(_cdf(np.asarray(p)), rng.random(n), side="right").astype(np.int32)


def draw_rows(rng: np.random.Generator, table: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """One index per element of `rows`, drawn from table[row] (a probability row per parent).

    Shifting each row's cdf by its row number makes one flat, sorted array, so a single
    searchsorted serves every parent at once.
    """
    cdf = _cdf(table)
    k = cdf.shape[1]
    flat = (cdf + np.arange(cdf.shape[0])[:, None]).ravel()
    u = rng.random(len(rows)) + rows
    idx = np.searchsorted(flat, u, side="right") - rows.astype(np.int64) * k
    return np.clip(idx, 0, k - 1).astype(np.int32)


@dataclass
class Coded:
    """A drawn column kept as codes into its vocabulary until the table is assembled.

    Children conditional on it map codes to table rows through a tiny lookup, instead of
    matching millions of strings.
    """

    codes: np.ndarray
    values: list[Any]

    def to_arrow(self) -> pa.Array:
        return decode(self.codes, self.values)

    def __len__(self) -> int:
        return len(self.codes)


def parent_rows(parent: pa.Array | pa.ChunkedArray | Coded, parents: list[Any]) -> np.ndarray:
    """Row of each parent value in a conditional table; unseen values get the extra last row."""
    if isinstance(parent, Coded):
        where = {v: i for i, v in enumerate(parents)}
        lookup = np.array([where.get(v, len(parents)) for v in parent.values], dtype=np.int64)
        return lookup[parent.codes]
    idx = pc.index_in(parent, value_set=pa.array(parents, pa.string()), skip_nulls=False)
    return pc.fill_null(idx, len(parents)).to_numpy(zero_copy_only=False).astype(np.int64)


def decode(codes: np.ndarray, values: list[Any]) -> pa.Array:
    """Codes → strings (a None in the vocabulary becomes a null)."""
    if values == [None]:
        return pa.nulls(len(codes), pa.string())
    return pc.take(pa.array(values, pa.string()), pa.array(codes, pa.int32()))


def categorical(
    rng: np.random.Generator, spec: dict[str, Any], n: int, parent: pa.Array | Coded | None = None
) -> Coded:
    """Draw a column from a marginal spec, or from a conditional one given the parent column."""
    if len(spec["values"]) == 1:  # a constant (often: never filled in the real data); nothing to draw
        return Coded(np.zeros(n, dtype=np.int32), spec["values"])
    if "given" not in spec:
        return Coded(draw_codes(rng, spec["p"], n), spec["values"])
    assert parent is not None, f"{spec['given']} must be drawn before its children"
    table = np.vstack(
        [
            np.asarray(spec["p"], dtype=float).reshape(-1, len(spec["values"])),
            np.asarray(spec["marginal"], dtype=float)[None, :],
        ]
    )
    return Coded(draw_rows(rng, table, parent_rows(parent, spec["parents"])), spec["values"])


def from_percentiles(rng: np.random.Generator, at: list[float], values: list[float], n: int) -> np.ndarray:
    """Inverse-cdf draws from percentiles (`values` at probabilities `at`, linear in between)."""
    return np.interp(rng.random(n) * at[-1], at, values)


def timestamps(seconds: np.ndarray) -> pa.Array:
    """Epoch seconds → 'YYYY-MM-DDTHH:MM:SS.000' (the portal's floating timestamps), built as
    fixed-width ASCII in numpy: Arrow's strftime is several times slower at a million rows."""
    seconds = np.asarray(seconds, dtype=np.int64)
    n = len(seconds)
    day = (seconds // 86400).astype("datetime64[D]")
    month_start = day.astype("datetime64[M]")
    year = day.astype("datetime64[Y]").astype(np.int64) + 1970
    month = month_start.astype(np.int64) % 12 + 1
    dom = (day - month_start.astype("datetime64[D]")).astype(np.int64) + 1
    sod = seconds % 86400
    pairs = np.frombuffer("".join(f"{i:02d}" for i in range(100)).encode(), dtype=np.uint8).reshape(100, 2)
    buf = np.frombuffer(b"0000-00-00T00:00:00.000" * n, dtype=np.uint8).reshape(n, 23).copy()
    for value, at in (
        (year // 100, 0),
        (year % 100, 2),
        (month, 5),
        (dom, 8),
        (sod // 3600, 11),
        (sod // 60 % 60, 14),
        (sod % 60, 17),
    ):
        buf[:, at : at + 2] = pairs[value]
    offsets = np.arange(0, 23 * (n + 1), 23, dtype=np.int64)
    return pa.LargeStringArray.from_buffers(n, pa.py_buffer(offsets), pa.py_buffer(buf)).cast(pa.string())


def hex_ids(rng: np.random.Generator, n: int, nbytes: int = 64) -> pa.Array:
    """n random lower-case hex ids of 2*nbytes characters (the portal's crash ids are 128)."""
    width = 2 * nbytes
    data = rng.bytes(nbytes * n).hex().encode()
    offsets = np.arange(0, width * (n + 1), width, dtype=np.int64)
    return pa.LargeStringArray.from_buffers(n, pa.py_buffer(offsets), pa.py_buffer(data)).cast(pa.string())


def int_strings(values: np.ndarray, valid: np.ndarray | None = None) -> pa.Array:
    """Integers → their decimal strings, null where `valid` is False."""
    arr = pa.array(values, mask=None if valid is None else ~valid)
    return pc.cast(arr, pa.string())
