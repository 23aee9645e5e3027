"""What gold leaves out or lacks, on the pages and in the PDF: the rejected records (count and
rows) and, when units or people were never loaded, one line saying so instead of their figures.

The demo's gold has every dataset and (as generated) no rejects; a copy of it is edited the way a
crashes-only build with two bad rows leaves dq_datasets and dq_rejected_records (tests/dbt builds
that for real)."""

from __future__ import annotations

import shutil
from datetime import timedelta
from pathlib import Path

import duckdb
import pytest

from tests.dashboard.conftest import APP, Demo
from tests.dashboard.pdf_text import text

REJECTED = [
    (
        "crashes",
        "dq-crash-1",
        "crash_date",
        "31/12/2021 2pm",
        "unparseable crash_date",
        "1700000009.000000",
        "raw.crashes",
    ),
    ("crashes", "dq-crash-2", "crash_date", None, "missing crash_date", "1700000009.000000", "raw.crashes"),
]
NOTICE = "No people and vehicles loaded yet"


@pytest.fixture
def crashes_only(demo: Demo, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    from dashboard.snapshot import clear

    home = tmp_path / "home"
    shutil.copytree(demo.home, home, ignore=shutil.ignore_patterns("*.lock", "bronze", "pipelines"))
    with duckdb.connect(str(home / "gold.duckdb")) as con:
        con.execute("update marts.dq_datasets set is_loaded = false, row_count = 0 where dataset <> 'crashes'")
        con.execute("update marts.dq_datasets set rejected_row_count = 2 where dataset = 'crashes'")
        con.executemany("insert into marts.dq_rejected_records values (?, ?, ?, ?, ?, ?, ?)", REJECTED)
    monkeypatch.setenv("CRASHES_HOME", str(home))
    clear()
    return home


def _page(page: str):  # noqa: ANN202 - AppTest
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(APP), default_timeout=60).run()
    return at.switch_page(page).run()


def test_the_data_quality_tab_counts_and_lists_the_rejected_records(crashes_only: Path) -> None:
    at = _page("views/data.py")
    assert not at.exception
    assert any(m.value.startswith("**Rejected records: 2**") for m in at.markdown)
    shown = at.dataframe[-1].value
    assert [tuple(None if v != v else v for v in row) for row in shown.itertuples(index=False)] == REJECTED
    assert any(NOTICE in i.value for i in at.info)


def test_a_demo_with_every_dataset_and_no_rejects_shows_no_notice(demo: Demo, app) -> None:  # noqa: ANN001
    rejected = demo.one("select count(*) from marts.dq_rejected_records")
    assert demo.one("select bool_and(is_loaded) from marts.dq_datasets")
    at = app.switch_page("views/data.py").run()
    assert not at.exception
    assert any(m.value.startswith(f"**Rejected records: {rejected:,}**") for m in at.markdown)
    assert not any("loaded yet" in i.value for i in at.info)
    assert not any("loaded yet" in i.value for i in app.info)


def test_the_pdf_lists_the_rejected_records_and_says_what_is_missing(demo: Demo, crashes_only: Path) -> None:
    from dashboard.filters import CrashFilter
    from dashboard.report_pdf import build_report

    last = demo.one("select max(crash_date) from marts.agg_crashes_daily")
    shown = text(build_report(CrashFilter(last - timedelta(days=30), last)))
    flat = " ".join(shown.split())
    assert "Rejected records: 2 rows kept in raw" in flat
    assert "dq-crash-1" in shown and "unparseable crash_date" in shown and "31/12/2021 2pm" in shown
    assert "not loaded" in shown
    lines = shown.splitlines()
    section = lines[lines.index("Injuries by road user") + 1 : lines.index("Data quality")]
    assert NOTICE in " ".join(" ".join(section).split())
    assert "road user" not in section  # no table of people without people
