"""Say what is missing instead of showing wrong numbers: with crashes only (no units or people in
gold) or people for only some of the crashes, every page and the PDF say so and show no counts of
people; the crash records' own injury counts are labelled as such.

Both golds are copies of the demo's, emptied the way a crashes-only build leaves gold (no unit or
person rows, zero per-crash aggregates, dq_datasets saying not loaded: tests/dbt builds that for
real), or with the people of all but the last 30 days removed (a partial people load)."""

from __future__ import annotations

import json
import shutil
from datetime import timedelta
from pathlib import Path

import duckdb
import pytest

from tests.dashboard.conftest import APP, Demo
from tests.dashboard.pdf_text import text

MISSING = "No people and vehicles loaded yet"
PARTIAL = "People records are partial"


def _copy(demo: Demo, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, *statements: str) -> Path:
    from dashboard.snapshot import clear

    home = tmp_path / "home"
    shutil.copytree(demo.home, home, ignore=shutil.ignore_patterns("*.lock", "bronze", "pipelines"))
    with duckdb.connect(str(home / "gold.duckdb")) as con:
        for statement in statements:
            con.execute(statement)
    monkeypatch.setenv("CRASHES_HOME", str(home))
    clear()
    return home


@pytest.fixture
def crashes_only(demo: Demo, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    return _copy(
        demo,
        tmp_path,
        monkeypatch,
        "delete from marts.fct_people",
        "delete from marts.fct_vehicles",
        "delete from marts.agg_injuries_by_road_user",
        "update marts.fct_crashes set unit_count = 0, person_count = 0",
        "update marts.dq_datasets set is_loaded = false, row_count = 0 where dataset <> 'crashes'",
    )


@pytest.fixture
def partial_people(demo: Demo, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    recent = "(select max(crash_date) - interval 30 day from marts.fct_crashes)"
    return _copy(
        demo,
        tmp_path,
        monkeypatch,
        f"delete from marts.fct_people where crash_ts < {recent}",  # noqa: S608 - test constants
        f"update marts.fct_crashes set person_count = 0 where crash_date < {recent}",  # noqa: S608
    )


def _page(page: str):  # noqa: ANN202 - AppTest
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(APP), default_timeout=60).run()
    return at if page == "overview" else at.switch_page(f"views/{page}.py").run()


def _titles(at) -> list[str]:  # noqa: ANN001 - AppTest
    specs = [json.loads(chart.proto.spec) for chart in at.get("plotly_chart")]
    return [s["layout"].get("title", {}).get("text", "") for s in specs]


def _labels(at) -> dict[str, object]:  # noqa: ANN001 - AppTest
    return {m.label: m.proto.help for m in at.metric}


def _notices(at) -> str:  # noqa: ANN001 - AppTest
    return "\n".join(i.value for i in at.info)


def test_crashes_only_every_page_says_what_is_missing_and_hides_counts_of_people(crashes_only: Path) -> None:
    pages = {page: _page(page) for page in ("overview", "explore", "model", "reports")}
    for page, at in pages.items():
        assert not at.exception, (page, at.exception)
        assert MISSING in _notices(at), (page, _notices(at))
    explore = pages["explore"]
    assert not [t for t in _titles(explore) if "road user" in t], _titles(explore)
    assert not any({"road_user", "injured"} <= set(d.value.columns) for d in explore.dataframe)
    # The crash record's own injury figures stay, named for what they are.
    for at in (pages["overview"], explore):
        labels = _labels(at)
        assert "People injured" not in labels and "People killed" not in labels, labels
        assert "crash record" in labels["Injuries on crash records"]
        assert "Deaths on crash records" in labels
    assert "crash records only" in _notices(pages["model"])
    person_level = [b for b in pages["reports"].get("download_button") if "road user" in b.proto.label]
    assert person_level and all(b.proto.disabled for b in person_level)


def test_partial_people_are_said_and_their_counts_hidden(demo: Demo, partial_people: Path) -> None:
    explore = _page("explore")  # the whole demo period: people only for its last 30 days
    assert not explore.exception
    notices = _notices(explore)
    assert PARTIAL in notices and MISSING not in notices
    with_people, crashes = demo.sql(
        "select count(*) filter (where crash_date >= max_date - interval 30 day and person_count > 0), count(*)"
        " from marts.fct_crashes, (select max(crash_date) as max_date from marts.fct_crashes)"
    )[0]
    assert f"only {with_people:,} of the {crashes:,} crashes" in notices
    assert not [t for t in _titles(explore) if "road user" in t]

    from dashboard.filters import CrashFilter
    from dashboard.report_pdf import build_report

    last = demo.one("select max(crash_date) from marts.agg_crashes_daily")
    shown = text(build_report(CrashFilter(last - timedelta(days=59), last)))  # people for half of it
    lines = shown.splitlines()
    section = " ".join(" ".join(lines[lines.index("Injuries by road user") + 1 : lines.index("Data quality")]).split())
    assert PARTIAL in section and "incapacitated" not in section  # no table of people

    # The last 30 days are complete: their road-user chart is shown, labelled as person records.
    recent = _page("explore")
    recent.date_input[0].set_value((last - timedelta(days=20), last)).run()
    assert not recent.exception
    assert PARTIAL not in _notices(recent)
    assert "Injuries by road user (person records)" in _titles(recent)


def test_complete_demo_shows_the_people_figures_without_a_notice(app) -> None:  # noqa: ANN001
    explore = app.switch_page("views/explore.py").run()
    assert not explore.exception
    assert not [n for n in (PARTIAL, MISSING) if n in _notices(explore)]
    assert "Injuries by road user (person records)" in _titles(explore)
