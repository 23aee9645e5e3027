"""The Reports page builds a real PDF for the chosen period: it parses, has pages, and states the
period's figures from the marts."""

from __future__ import annotations

from datetime import timedelta

from tests.dashboard.conftest import Demo
from tests.dashboard.pdf_text import page_count, text


def test_reports_page_builds_a_pdf_with_the_periods_figures(demo: Demo, app) -> None:  # noqa: ANN001
    at = app.switch_page("views/reports.py").run()
    assert not at.exception
    last = demo.one("select max(crash_date) from marts.agg_crashes_daily")
    start = last - timedelta(days=90)
    crashes, injured, days = demo.sql(
        "select sum(crash_count), sum(injuries_total), count(*) from marts.agg_crashes_daily"
        " where crash_date between ? and ?",
        [start, last],
    )[0]
    assert any(f"{days:,} days, {crashes:,} crashes" in m.value for m in at.markdown)
    assert {b.label for b in at.download_button} >= {"Crashes per day", "Beat × month", "Data-quality expectations"}

    at.button[0].click().run(timeout=180)
    assert not at.exception
    built_for, pdf = at.session_state["report_pdf"]
    assert (built_for.start, built_for.end) == (start, last)
    assert pdf.startswith(b"%PDF-") and pdf.rstrip().endswith(b"%%EOF")
    assert page_count(pdf) >= 3
    shown = text(pdf)
    assert "Chicago traffic crashes report" in shown
    assert f"{crashes:,}" in shown and f"{injured:,}" in shown
    assert "Data quality" in shown and "The hit-and-run model" in shown
    n_expectations = demo.one("select count(distinct (dataset, expectation, column_name)) from marts.dq_expectations")
    assert f"{n_expectations} checks run on every load" in shown
    assert any(b.label.startswith("Download chicago-crashes_") for b in at.download_button)


def test_pdf_for_an_empty_area_says_so(demo: Demo) -> None:
    from dashboard.filters import CrashFilter
    from dashboard.report_pdf import build_report

    first = demo.one("select min(crash_date) from marts.agg_crashes_daily")
    pdf = build_report(CrashFilter(first, first, beats=("no such beat",)))
    assert page_count(pdf) >= 2 and "No crashes in this period and area." in text(pdf)


def test_pdf_builds_when_a_dataset_has_no_load_time(demo: Demo, tmp_path, monkeypatch) -> None:  # noqa: ANN001
    """A dataset never loaded (or loaded by a load the history lacks) has null times in dq_datasets."""
    import shutil

    import duckdb

    from dashboard.filters import CrashFilter
    from dashboard.report_pdf import build_report
    from dashboard.snapshot import clear

    home = tmp_path / "home"
    shutil.copytree(demo.home, home, ignore=shutil.ignore_patterns("*.lock", "bronze", "pipelines"))
    con = duckdb.connect(str(home / "gold.duckdb"))
    con.execute("update marts.dq_datasets set last_loaded_at = null, latest_crash_ts = null where dataset = 'people'")
    con.close()
    monkeypatch.setenv("CRASHES_HOME", str(home))
    clear()
    last = demo.one("select max(crash_date) from marts.agg_crashes_daily")
    shown = text(build_report(CrashFilter(last - timedelta(days=30), last)))
    cells = shown[shown.index("Data quality") :].splitlines()
    people, crashes = cells.index("people"), cells.index("crashes")
    assert cells[people + 5 : people + 7] == ["-", "-"], cells[people : people + 7]
    assert all(c[:2] == "20" and len(c) == 16 for c in cells[crashes + 5 : crashes + 7]), cells[crashes : crashes + 7]
