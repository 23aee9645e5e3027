"""What a valid value of each model input is, and how given values become the mart's types.

One table for every way a crash reaches the model — `crashes predict` / the dashboard's form
(`ml.score.record_frame`), a frame (`ml.score.score_frame`) and an uploaded CSV
(`dashboard.scoring.check`) — so a crash accepted by one is accepted by all. The values are those
the feature mart holds (docs/contracts.md): whole hours 0–23, days 1–7 (1 = Sunday), months 1–12,
coordinates inside Chicago's bounding box (the mart imputes any other), at least one unit, flags
Y/N (or true/false, 1/0; missing = N, as in the mart), text trimmed and upper case.

`convert()` works on a whole column at once (pandas, no row loop) and reports every invalid value
by a mask, so a caller can refuse the first one (a record) or set the bad rows aside (a CSV).
"""

from __future__ import annotations

from dataclasses import dataclass

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


@dataclass(frozen=True)
class Invalid:
    """Rows of one column whose given value is not valid: `reason` for a table of problems,
    `must` for a sentence ("crash_hour must be between 0 and 23")."""

    rows: pd.Series  # boolean, aligned with the column
    reason: str
    must: str


def _text_of(values: pd.Series) -> pd.Series:
    """Given values as trimmed text, missing (None, NaN, NA or blank) as NA."""
    text = values.astype("string").str.strip()
    return text.mask(text == "")


def _number(column: str, values: pd.Series) -> tuple[pd.Series, list[Invalid]]:
    if pd.api.types.is_bool_dtype(values.dtype):
        given = values.notna()
        number = pd.Series(np.nan, index=values.index)
        return number, [Invalid(given, "not a number", "must be a number")]
    if pd.api.types.is_numeric_dtype(values.dtype):
        number = pd.Series(values.to_numpy(dtype="float64", na_value=np.nan), index=values.index)
        given = number.notna()
        not_number = pd.Series(False, index=values.index)
    else:
        text = _text_of(values)
        given = text.notna()
        parsed = pd.to_numeric(text, errors="coerce")
        number = pd.Series(parsed.to_numpy(dtype="float64", na_value=np.nan), index=values.index)
        not_number = given & number.isna()
    finite = number.notna() & np.isfinite(number)
    if column in INTEGER_RANGES:
        low, high = INTEGER_RANGES[column]
        whole = finite & (number % 1 == 0)
        problems = [
            Invalid(not_number, "not a whole number", "must be a number"),
            Invalid(number.notna() & ~whole, "not a whole number", "must be a whole number"),
        ]
        inside = whole & number.between(low, high)
        problems.append(Invalid(whole & ~inside, f"outside {low}–{high}", f"must be between {low} and {high}"))
    else:
        problems = [Invalid(not_number, "not a number", "must be a number")]
        low, high = FLOAT_RANGES.get(column, (-np.inf, np.inf))
        inside = finite & number.between(low, high)
        where = f"outside Chicago ({low}…{high})" if column in FLOAT_RANGES else "not finite"
        problems.append(Invalid(number.notna() & ~inside, where, f"must be between {low:g} and {high:g}"))
    return number.where(inside), problems


def _flag(values: pd.Series) -> tuple[pd.Series, list[Invalid]]:
    if pd.api.types.is_bool_dtype(values.dtype):
        return values.fillna(False).astype(bool), []
    if pd.api.types.is_numeric_dtype(values.dtype):
        number = pd.Series(values.to_numpy(dtype="float64", na_value=np.nan), index=values.index)
        bad = number.notna() & ~number.isin((0, 1))
        return (number == 1), [Invalid(bad, "not Y/N (or true/false)", "must be true/false (or Y/N)")]
    lower = _text_of(values).str.lower()
    bad = lower.notna() & ~lower.isin(TRUE | FALSE)
    return lower.isin(TRUE).fillna(False).astype(bool), [
        Invalid(bad, "not Y/N (or true/false)", "must be true/false (or Y/N)")
    ]


def convert(column: str, values: pd.Series) -> tuple[pd.Series, list[Invalid]]:
    """One input column in the mart's type — float (NaN = missing), bool (missing = False) or
    upper-case text (NA = missing) — with its invalid values (set to missing here)."""
    if column in NUMERIC:
        return _number(column, values)
    if column in FLAGS:
        return _flag(values)
    if column in TEXT:
        return _text_of(values).str.upper(), []
    raise KeyError(f"{column} is not a model input")


def convert_frame(frame: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Every input column `frame` has, converted; and its problems (index, column, value, reason,
    must), in column order. Other columns are left out."""
    converted: dict[str, pd.Series] = {}
    found: list[pd.DataFrame] = []
    for column in (c for c in KNOWN if c in frame.columns):
        converted[column], problems = convert(column, frame[column])
        for p in problems:
            bad = p.rows[p.rows].index
            if len(bad):
                found.append(
                    pd.DataFrame(
                        {
                            "index": bad,
                            "column": column,
                            "value": frame[column].loc[bad].to_numpy(dtype=object),
                            "reason": p.reason,
                            "must": p.must,
                        }
                    )
                )
    typed = pd.DataFrame(converted, index=frame.index)  # one frame built at once, not column by column
    columns = ["index", "column", "value", "reason", "must"]
    problems = pd.concat(found, ignore_index=True) if found else pd.DataFrame(columns=columns)
    return typed, problems
