"""Bronze as the Data and Overview pages list it: row counts from parquet footers, each footer
read once (a bronze file never changes), so a page rerun does not re-open every file."""

from __future__ import annotations

import pytest

from tests.dashboard.conftest import Demo


def test_footers_are_read_once_and_counts_match_raw(demo: Demo, monkeypatch: pytest.MonkeyPatch) -> None:
    from dashboard import bronze

    bronze._ROWS.clear()
    first = bronze.list_bronze()
    assert first.reachable and len(first.files) > 0
    assert len(bronze._ROWS) == len(first.files)
    per_table = first.datasets().set_index("table")["rows"].to_dict()
    crashes = demo.one("select count(*) from marts.fct_crashes")
    assert per_table["crashes"] >= crashes  # bronze keeps every delivered row, raw one per key

    def unreadable(*args: object, **kwargs: object) -> None:
        raise OSError("footer opened again")

    monkeypatch.setattr(bronze.pq, "ParquetFile", unreadable)
    again = bronze.list_bronze()
    assert again.files["rows"].tolist() == first.files["rows"].tolist()
