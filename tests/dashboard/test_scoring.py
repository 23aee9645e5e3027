"""Checking an uploaded CSV before scoring: bad rows are reported (line, column, value, reason)
and left out, good rows are typed; a file that is not a CSV is one clear message."""

from __future__ import annotations

import pytest

from crashes.errors import CrashesError
from dashboard.scoring import check, read_csv

HEADER = b"crash_record_id,crash_hour,crash_day_of_week,latitude,longitude,lighting_condition,is_intersection_related"
CSV = (
    HEADER
    + b""",note
a,2,7,41.88,-87.63,darkness,Y,kept
b,25,1,41.88,-87.63,DAYLIGHT,N,hour out of range
c,3,x,41.88,-87.63,DAYLIGHT,N,day not a number
d,4,2,40.00,-87.63,DAYLIGHT,maybe,outside Chicago and not Y/N
e,,3,,,,,all unknown but valid
f,1.5,3,41.9,-87.7,DAWN,true,half an hour
"""
)


def test_bad_rows_are_reported_and_left_out() -> None:
    checked = check(read_csv(CSV))
    assert checked.total_rows == 6
    assert list(checked.rows["crash_record_id"]) == ["a", "e"]
    kept = checked.rows.set_index("crash_record_id")
    assert kept.loc["a", "crash_hour"] == 2 and kept.loc["a", "lighting_condition"] == "DARKNESS"
    assert bool(kept.loc["a", "is_intersection_related"]) is True
    assert kept.loc["e", "crash_day_of_week"] == 3
    assert kept.loc["e"].drop(["is_intersection_related", "crash_day_of_week"]).isna().all()
    assert bool(kept.loc["e", "is_intersection_related"]) is False  # missing flag = N, as in the mart
    problems = {(r.line, r.column, r.problem) for r in checked.problems.itertuples()}
    assert problems == {
        (3, "crash_hour", "outside 0–23"),
        (4, "crash_day_of_week", "not a whole number"),
        (5, "latitude", "outside Chicago (41.64…42.03)"),
        (5, "is_intersection_related", "not Y/N (or true/false)"),
        (7, "crash_hour", "not a whole number"),
    }
    assert checked.bad_rows == 4
    assert checked.ignored_columns == ["note"]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "the file is empty"),
        (b"\xff\xfe\x00bad", "not UTF-8"),
        (b"name,colour\nx,red\n", "no feature columns found"),
        (b'crash_hour\n"2\n', "not a readable CSV"),
    ],
)
def test_unreadable_files_are_one_message(data: bytes, message: str) -> None:
    with pytest.raises(CrashesError, match=message):
        check(read_csv(data))


@pytest.mark.parametrize(
    ("column", "value"),
    [
        ("num_units", "0"),
        ("num_units", "1"),
        ("latitude", "40.0"),
        ("longitude", "-80.0"),
        ("latitude", "41.9"),
        ("crash_hour", "2.5"),
        ("crash_hour", "23"),
        ("posted_speed_limit", "0"),
        ("is_work_zone", "maybe"),
        ("is_work_zone", "false"),
        ("first_crash_type", "rear end"),
    ],
)
def test_a_csv_value_is_accepted_exactly_when_a_single_crash_is(column: str, value: str) -> None:
    """The form and `crashes predict` (ml.score.record_frame) and an uploaded CSV share one set of
    value rules: a crash accepted one way is accepted the other, and typed the same."""
    from ml.score import record_frame

    checked = check(read_csv(f"{column}\n{value}\n".encode()))
    try:
        single = record_frame({column: value})
    except CrashesError:
        single = None
    assert (single is None) == (checked.bad_rows == 1)
    if single is not None:
        assert single.loc[0, column] == checked.rows.iloc[0][column]
