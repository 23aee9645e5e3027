"""What a valid value of each model input is, and how given values become the mart's types.

One table for every way a crash reaches the model — `crashes predict` / the dashboard's form
(`ml.score.record_frame`), a frame (`ml.score.score_frame`) and an uploaded CSV
(`dashboard.scoring.check`) — so a crash accepted by one is accepted by all. The values are those
the feature mart holds (docs/contracts.md): whole hours 0–23, days 1–7 (1 = Sunday), months 1–12,
coordinates inside Chicago's bounding box (the mart imputes any other), at least one unit, flags
Y/N (or true/false, 1/0; missing = N, as in the mart), text trimmed and upper case.

`value_of()` is the one rule per value; `convert_values()` applies it to a column, converting
each distinct value once, and reports every invalid row, so a caller can refuse the first one (a
record) or set the bad rows aside (a CSV). No pandas per column on the way: for one crash
scored over HTTP, per-column pandas calls cost more than the model (≈ 40 ms of a 100 ms request).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from ml.features import CATEGORICAL, FLAGS, NUMERIC, PLACE

INTEGER_RANGES: dict[str, tuple[int, int]] = {
    "crash_hour": (0, 23),
    "crash_day_of_week": (1, 7),
    "crash_month": (1, 12),
    "posted_speed_limit": (0, 99),
    "num_units": (1, 99),  # a crash record has at least one unit (real crashes: 1–18)
}
# The mart's coordinates are inside Chicago (others are imputed from the beat), so are the model's.
FLOAT_RANGES: dict[str, tuple[float, float]] = {"latitude": (41.64, 42.03), "longitude": (-87.95, -87.52)}
TRUE: frozenset[str] = frozenset({"y", "yes", "true", "1", "t"})
FALSE: frozenset[str] = frozenset({"n", "no", "false", "0", "f"})
TEXT: tuple[str, ...] = (*CATEGORICAL, *PLACE)
KNOWN: tuple[str, ...] = (*NUMERIC, *FLAGS, *CATEGORICAL, *PLACE)


# Why a value is invalid: (reason for a table of problems, sentence after the column's name).
Why = tuple[str, str]
NOT_A_FLAG: Why = ("not Y/N (or true/false)", "must be true/false (or Y/N)")


def _missing(value: Any) -> bool:
    return value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value))


def _text(value: Any) -> str | None:
    """A given value as trimmed text; missing (None, NaN, NA or blank) as None."""
    if _missing(value):
        return None
    text = str(value).strip()
    return text or None


def _parse_number(value: Any) -> float | None:
    """A number as given (None: not one). Text is read as a decimal number; NaN written out is
    not a value anyone means."""
    if isinstance(value, bool | np.bool_):
        return None
    if isinstance(value, int | float | np.number):
        return float(value)
    if not isinstance(value, str) or "_" in value:  # float() would read "1_000"
        return None
    try:
        number = float(value)
    except ValueError:
        return None
    return None if math.isnan(number) else number


def _given_number(value: Any) -> float | None:
    """A given value as a float (NaN: missing), or None when it is no number at all."""
    text = _text(value) if isinstance(value, str) else value
    return math.nan if _missing(text) else _parse_number(text)


def _flag(value: Any) -> tuple[bool, Why | None]:
    if isinstance(value, bool | np.bool_):
        return bool(value), None
    if isinstance(value, int | float | np.number):
        if math.isnan(value):
            return False, None
        return value == 1, None if value in (0, 1) else NOT_A_FLAG
    text = _text(value)
    if text is None:
        return False, None
    lower = text.lower()
    if lower in TRUE:
        return True, None
    return False, None if lower in FALSE else NOT_A_FLAG


def value_of(column: str, value: Any) -> tuple[Any, Why | None]:
    """One given value in the mart's type — float (NaN = missing), bool (missing = False) or
    upper-case text (None = missing) — or missing with why it is invalid."""
    if column in NUMERIC:
        number, invalid = _numbers(column, [value])
        return float(number[0]), (invalid[0][1] if invalid else None)
    if column in FLAGS:
        return _flag(value)
    if column in TEXT:
        text = _text(value)
        return (None if text is None else text.upper()), None
    raise KeyError(f"{column} is not a model input")


PLAIN_NUMBERS = frozenset({int, float, type(None), np.float64, np.int64})


def _numbers(column: str, values: Sequence[Any]) -> tuple[np.ndarray, list[tuple[int, Why]]]:
    """A number column: each value parsed on its own (JSON numbers at once), then the ranges
    checked on the whole array, the one place the rule for numbers is written."""
    if set(map(type, values)) <= PLAIN_NUMBERS:
        parsed = [math.nan if v is None else v for v in values]
        not_numbers: list[int] = []
    else:
        given = [_given_number(v) for v in values]
        not_numbers = [row for row, n in enumerate(given) if n is None]
        parsed = [math.nan if n is None else n for n in given]
    number, invalid = _checked_numbers(column, np.array(parsed, dtype="float64"))
    if not_numbers:
        why = ("not a whole number" if column in INTEGER_RANGES else "not a number", "must be a number")
        invalid = sorted(invalid + [(row, why) for row in not_numbers])
    return number, invalid


def _checked_numbers(column: str, number: np.ndarray) -> tuple[np.ndarray, list[tuple[int, Why]]]:
    """The ranges on a float array (NaN = missing): whole numbers in their range, coordinates
    inside Chicago, anything else finite."""
    given = ~np.isnan(number)
    finite = np.isfinite(number)
    whys: list[tuple[np.ndarray, Why]] = []
    if column in INTEGER_RANGES:
        low, high = INTEGER_RANGES[column]
        whole = finite & (np.mod(number, 1, where=finite, out=np.ones_like(number)) == 0)
        inside = whole & (number >= low) & (number <= high)
        whys.append((given & ~whole, ("not a whole number", "must be a whole number")))
        whys.append((whole & ~inside, (f"outside {low}–{high}", f"must be between {low} and {high}")))
    else:
        low, high = FLOAT_RANGES.get(column, (-math.inf, math.inf))
        inside = finite & (number >= low) & (number <= high)
        where = f"outside Chicago ({low}…{high})" if column in FLOAT_RANGES else "not finite"
        whys.append((given & ~inside, (where, f"must be between {low:g} and {high:g}")))
    invalid = sorted((int(row), why) for rows, why in whys for row in np.flatnonzero(rows))
    return np.where(inside, number, np.nan), invalid


def convert_values(column: str, values: Sequence[Any]) -> tuple[Any, list[tuple[int, Why]]]:
    """A column of given values in the mart's type (numpy float/bool, or pandas "string"), and
    its invalid rows. Each distinct value is converted once: a column repeats its values."""
    if column in NUMERIC:
        return _numbers(column, values)
    if column in TEXT and set(map(type, values)) <= {str, type(None)}:  # JSON text: _text's rule in one comprehension
        return pd.array([v.strip().upper() or None if v is not None else None for v in values], dtype="string"), []
    seen: dict[tuple[type, Any], tuple[Any, Why | None]] = {}
    out: list[Any] = []
    invalid: list[tuple[int, Why]] = []
    for row, value in enumerate(values):
        try:
            key = (type(value), value)
            done = seen.get(key)
        except TypeError:  # unhashable (a list or dict given as a value)
            key, done = None, None
        if done is None:
            done = value_of(column, value)
            if key is not None:
                seen[key] = done
        out.append(done[0])
        if done[1] is not None:
            invalid.append((row, done[1]))
    return _typed(column, out), invalid


def _typed(column: str, values: list[Any]) -> Any:
    if column in NUMERIC:
        return np.array(values, dtype="float64")
    if column in FLAGS:
        return np.array(values, dtype=bool)
    return pd.array(values, dtype="string")


def convert_frame(frame: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Every input column `frame` has, converted; and its problems (index, column, value, reason,
    must), in column order. Other columns are left out. A typed column (text read from a CSV, a
    float) is factorised first, so each distinct value is checked once, however many rows."""
    converted: dict[str, Any] = {}
    found: list[pd.DataFrame] = []
    for column in (c for c in KNOWN if c in frame.columns):
        values = frame[column]
        if values.dtype == object or (column in NUMERIC and pd.api.types.is_numeric_dtype(values.dtype)):
            converted[column], invalid = convert_values(column, values.tolist())
            rows = np.array([row for row, _ in invalid], dtype=np.int64)
            whys = [why for _, why in invalid]
        else:
            codes, uniques = pd.factorize(values, use_na_sentinel=True)
            # Position len(uniques) is the missing value's (code -1 wraps to it).
            done, invalid = convert_values(column, [*uniques.tolist(), None])
            converted[column] = done.take(codes)
            by_code = dict(invalid)
            bad = np.flatnonzero(np.isin(codes, list(by_code)))
            rows, whys = bad, [by_code[c] for c in codes[bad]]
        if len(rows):
            found.append(
                pd.DataFrame(
                    {
                        "index": frame.index[rows],
                        "column": column,
                        "value": values.iloc[rows].to_numpy(dtype=object),
                        "reason": [w[0] for w in whys],
                        "must": [w[1] for w in whys],
                    }
                )
            )
    typed = pd.DataFrame(converted, index=frame.index)  # one frame built at once, not column by column
    columns = ["index", "column", "value", "reason", "must"]
    problems = pd.concat(found, ignore_index=True) if found else pd.DataFrame(columns=columns)
    return typed, problems
