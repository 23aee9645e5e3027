"""The one rule per given value (`ml.inputs.value_of`) is what every path applies: a frame of
objects (JSON records), of text (a CSV read as text), of floats or of booleans gives, row for
row, the value and the problem `value_of` gives for that value alone."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from ml.inputs import KNOWN, convert_frame, convert_values, value_of

GIVEN = [
    None, math.nan, pd.NA, "", "  ", "5", " 5 ", "5.0", "5.5", "two", "24", "-1", "0", "1", "Y", "n", "yes",
    "TRUE", "false", "maybe", "1e1", "inf", "-inf", "nan", "41.9", "-87.6", "40.0", "1_0", "+3", "0x10",
    5, 5.0, 5.5, 0, 1, 2, 24, -1, 41.9, -87.6, math.inf, True, False, np.int64(3), np.float64(41.88),
    "  dark lighted ", "Daylight",
]  # fmt: skip
FRAMES = {
    "objects": pd.Series(GIVEN, dtype=object),
    "text": pd.Series([v for v in GIVEN if isinstance(v, str)], dtype=str),
    "floats": pd.Series([v for v in GIVEN if isinstance(v, int | float) and not isinstance(v, bool)], dtype="float64"),
    "integers": pd.Series([0, 1, 2, 5, 24, -1]),
    "json text": pd.Series(["  dark lighted ", None, "", " ", "Straße", "daylight", "5"], dtype=object),
    "json numbers": pd.Series([1, None, 2.5, 24, -math.inf, 41.9, 7, np.float64(-87.6)], dtype=object),
    "booleans": pd.Series([True, False, True]),
}


def _same(a: object, b: object) -> bool:
    missing = lambda v: v is None or v is pd.NA or (isinstance(v, float) and math.isnan(v))  # noqa: E731
    return (missing(a) and missing(b)) or a == b


@pytest.mark.parametrize("shape", FRAMES)
def test_every_path_applies_the_rule_for_each_value(shape: str) -> None:
    values = FRAMES[shape]
    typed, problems = convert_frame(pd.DataFrame({c: values for c in KNOWN}))
    for column in KNOWN:
        expected = [value_of(column, v) for v in values.tolist()]
        got = typed[column].astype(object).tolist()
        assert all(_same(g, e[0]) for g, e in zip(got, expected, strict=True)), (column, got, expected)
        found = problems[problems["column"] == column]
        assert list(zip(found["index"], found["reason"], found["must"], strict=True)) == [
            (row, *why) for row, (_, why) in enumerate(expected) if why is not None
        ], column
        direct, invalid = convert_values(column, values.tolist())
        assert [row for row, _ in invalid] == list(found["index"]), column
        assert all(_same(a, b) for a, b in zip(pd.Series(direct).astype(object), got, strict=True)), column


@pytest.mark.parametrize(
    ("column", "given", "value", "must"),
    [
        ("crash_hour", " 7 ", 7.0, None),
        ("crash_hour", "7.5", math.nan, "must be a whole number"),
        ("crash_hour", "two", math.nan, "must be a number"),
        ("crash_hour", True, math.nan, "must be a number"),
        ("crash_hour", "1_0", math.nan, "must be a number"),  # Python's float() would read 10
        ("crash_hour", "nan", math.nan, "must be a number"),  # NaN written out is no value anyone means
        ("crash_hour", 24, math.nan, "must be between 0 and 23"),
        ("crash_hour", math.nan, math.nan, None),  # a float column's missing value
        ("num_units", 0, math.nan, "must be between 1 and 99"),
        ("latitude", "inf", math.nan, "must be between 41.64 and 42.03"),
        ("latitude", "41.88", 41.88, None),
        ("is_work_zone", " Yes ", True, None),
        ("is_work_zone", 0, False, None),
        ("is_work_zone", 2, False, "must be true/false (or Y/N)"),
        ("is_work_zone", None, False, None),
        ("weather_condition", "  clear ", "CLEAR", None),
        ("weather_condition", " ", None, None),
    ],
)
def test_one_value(column: str, given: object, value: object, must: str | None) -> None:
    got, why = value_of(column, given)
    assert _same(got, value) and (why[1] if why else None) == must
