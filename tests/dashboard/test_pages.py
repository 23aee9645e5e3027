"""Each page on the demo warehouse through Streamlit's AppTest: no exception, and what it shows
agrees with the marts, read here straight from gold.duckdb (not through the dashboard's code)."""

from __future__ import annotations

import os
from datetime import datetime
from pathlib import Path

import yaml
from cron_descriptor import get_description
from croniter import croniter

from orchestration import schedules
from tests.dashboard.conftest import Demo

MARTS_DOCS = sorted((Path(__file__).resolve().parents[2] / "dbt_project" / "models" / "marts").rglob("*.yml"))


def _metrics(at) -> dict[str, str]:  # noqa: ANN001 - AppTest
    return {m.label: m.value for m in at.metric}


def _captions(at) -> list[str]:  # noqa: ANN001
    return [c.value for c in at.caption]


def test_overview_shows_gold_totals_health_and_runs(demo: Demo, app) -> None:  # noqa: ANN001
    from orchestration.metrics import start_server

    assert not app.exception
    crashes, hit_and_run, injured, killed = demo.sql(
        "select sum(crash_count), sum(hit_and_run_count), sum(injuries_total), sum(injuries_fatal)"
        " from marts.agg_crashes_daily"
    )[0]
    shown = _metrics(app)
    assert shown["Crashes"] == f"{crashes:,}"
    assert shown["Hit-and-run"] == f"{hit_and_run:,}"
    assert shown["Injuries on crash records"] == f"{injured:,}"
    assert shown["Deaths on crash records"] == f"{killed:,}"
    assert crashes == demo.one("select count(*) from marts.fct_crashes")

    captions = "\n".join(_captions(app))
    n_marts = demo.one("select count(*) from duckdb_tables() where schema_name = 'marts'")
    assert f"OK · opened read-only: {n_marts} marts" in captions
    files = _bronze_files(demo)
    loads = {p.name.split(".")[0] + "." + p.name.split(".")[1] for p in files}
    assert f"OK · {len(files)} parquet files in {len(loads)} loads" in captions
    assert "DOWN · nothing answers there" in captions  # no metrics server is running yet

    # The run that built the demo is listed with its stages.
    runs_shown = next(d.value for d in app.dataframe if "trigger" in d.value.columns)
    assert 1 in runs_shown["id"].tolist()

    # Start the real metrics endpoint: the same check now finds it up.
    server, port = start_server(port=0)
    try:
        os.environ["CRASHES_METRICS_URL"] = f"http://127.0.0.1:{port}/metrics"
        app.run()
        captions = "\n".join(_captions(app))
        assert "OK · HTTP 200" in captions and "crashes_* metric families" in captions
    finally:
        os.environ.pop("CRASHES_METRICS_URL", None)
        server.shutdown()


def test_overview_without_gold_says_what_to_do(crashes_home, monkeypatch) -> None:  # noqa: ANN001
    from streamlit.testing.v1 import AppTest

    from tests.dashboard.conftest import APP

    at = AppTest.from_file(str(APP), default_timeout=60).run()
    assert not at.exception
    assert any("No gold snapshot yet" in w.value for w in at.warning)
    assert "DOWN · no gold snapshot at" in "\n".join(_captions(at))


def _dbt_description(model: str) -> str:
    for path in MARTS_DOCS:
        for node in yaml.safe_load(path.read_text()).get("models", []):
            if node["name"] == model:
                return node["description"]
    raise AssertionError(f"{model} is not documented")


def test_data_page_lists_every_mart_with_its_dbt_description_and_filters(demo: Demo, app) -> None:  # noqa: ANN001
    at = app.switch_page("views/data.py").run()
    assert not at.exception
    listed = at.dataframe[0].value
    expected = dict(demo.sql("select table_name, estimated_size from duckdb_tables() where schema_name = 'marts'"))
    assert set(listed["mart"]) == set(expected)
    for row in listed.itertuples():
        assert row.rows == demo.one(f'select count(*) from marts."{row.mart}"')  # noqa: S608 - catalog names
    assert at.markdown[1].value == " ".join(_dbt_description("fct_crashes").split())

    beat, n_beat = demo.sql(
        "select beat_of_occurrence, count(*) from marts.fct_crashes group by 1 order by 2 desc limit 1"
    )[0]
    at.selectbox(key="data_col_fct_crashes_0").set_value("beat_of_occurrence")
    at.text_input(key="data_val_fct_crashes_0").set_value(beat)
    at.selectbox(key="data_col_fct_crashes_1").set_value("crash_date")
    at.selectbox(key="data_op_fct_crashes_1").set_value("≥")
    at.text_input(key="data_val_fct_crashes_1").set_value("2024-01-01").run()
    assert not at.exception
    expected_n = demo.one(
        "select count(*) from marts.fct_crashes where beat_of_occurrence = ? and crash_date >= date '2024-01-01'",
        [beat],
    )
    total = demo.one("select count(*) from marts.fct_crashes")
    assert 0 < expected_n < n_beat
    assert f"{expected_n:,} of {total:,} rows match; showing {min(expected_n, 100):,}." in _captions(at)

    # A value that cannot be the column's type matches nothing instead of failing.
    at.text_input(key="data_val_fct_crashes_1").set_value("not a date").run()
    assert not at.exception
    assert f"0 of {total:,} rows match; showing 0." in _captions(at)


def test_page_views_are_recorded_for_the_metrics_endpoint(demo: Demo, app) -> None:  # noqa: ANN001
    from orchestration import runs

    def views(page: str) -> int:
        with runs.connect() as con:
            return con.execute(
                "SELECT count(*) FROM events WHERE kind = 'page_view' AND json_extract(detail, '$.page') = ?", (page,)
            ).fetchone()[0]

    before = views("Schedules")
    at = app.switch_page("views/schedules.py").run()
    at.run()  # a rerun of the same page (a widget interaction) is not a new view
    assert views("Schedules") == before + 1
    at.switch_page("views/overview.py").run()
    at.switch_page("views/schedules.py").run()
    assert views("Schedules") == before + 2


def _bronze_files(demo: Demo) -> list[Path]:
    """Bronze data files, found on disk (dlt's layout: <dataset>/<table>/<load_id>.<file>.parquet)."""
    return sorted(p for p in (demo.home / "bronze").rglob("*.parquet") if not p.parent.name.startswith("_dlt"))


def test_data_page_browses_bronze_files(demo: Demo, app) -> None:  # noqa: ANN001
    import pyarrow.parquet as pq

    at = app.switch_page("views/data.py").run()
    assert not at.exception
    rows: dict[str, int] = {}
    for path in _bronze_files(demo):
        rows[path.parent.name] = rows.get(path.parent.name, 0) + pq.ParquetFile(path).metadata.num_rows
    shown = _metrics(at)
    for table, n in rows.items():
        assert shown[table] == f"{n:,} rows"
    assert rows["crashes"] >= demo.one("select count(*) from marts.fct_crashes")  # re-deliveries add rows
    loads = at.dataframe[-2].value
    expected_loads = {p.name.split(".")[0] + "." + p.name.split(".")[1] for p in _bronze_files(demo)}
    assert set(loads["load_id"]) == expected_loads and loads["complete"].all()


def test_schedules_page_shows_the_sentence_while_typing_and_adds_removes(demo: Demo, app) -> None:  # noqa: ANN001
    at = app.switch_page("views/schedules.py").run()
    assert not at.exception
    expression = "*/15 9-17 * * 1-5"
    at.text_input(key="cron_expression").set_value(expression).run()
    assert [s.value for s in at.success] == [
        "**Every 15 minutes, between 09:00 AM and 05:59 PM, Monday through Friday**"
    ]
    it = croniter(expression, datetime.now().astimezone())
    first = it.get_next(datetime)
    assert f"{first:%a %Y-%m-%d %H:%M}" in next(c for c in _captions(at) if c.startswith("Next runs:"))

    at.text_input(key="cron_expression").set_value("61 * * * *").run()
    assert at.error and "invalid cron expression '61 * * * *'" in at.error[0].value
    assert at.button[0].disabled

    before = {s.id for s in schedules.list_schedules()}
    at.text_input(key="cron_expression").set_value("30 2 * * 0").run()
    at.selectbox(key="cron_job").set_value("train")
    at.button[0].click().run()
    assert not at.exception and not at.error
    added = [s for s in schedules.list_schedules() if s.id not in before]
    assert len(added) == 1 and added[0].cron == "30 2 * * 0" and added[0].job == "train"
    table = at.dataframe[0].value
    row = table[table["id"] == added[0].id].iloc[0]
    assert row["meaning"] == get_description("30 2 * * 0") == "At 02:30 AM, only on Sunday"

    at.selectbox[-1].set_value(added[0].id)
    at.button(key="remove_schedule").click().run()
    assert not at.exception
    assert added[0].id not in {s.id for s in schedules.list_schedules()}


def test_schedules_page_refuses_bad_arguments(demo: Demo, app) -> None:  # noqa: ANN001
    at = app.switch_page("views/schedules.py").run()
    at.selectbox(key="cron_job").set_value("backfill")
    at.button[0].click().run()
    assert at.error and "--since" in at.error[0].value  # a backfill without its window is refused


def _filtered(demo: Demo, where: str = "true", params: list | None = None) -> tuple:
    statement = "select count(*), count(*) filter (where is_hit_and_run), sum(injuries_total), sum(injuries_fatal)"
    return demo.sql(f"{statement} from marts.fct_crashes where {where}", params)[0]  # noqa: S608 - test constants


def test_explore_page_figures_match_the_marts_and_filters_apply(demo: Demo, app) -> None:  # noqa: ANN001
    at = app.switch_page("views/explore.py").run()
    assert not at.exception
    n, hnr, injured, killed = _filtered(demo)
    shown = _metrics(at)
    assert (
        shown["Crashes"],
        shown["Hit-and-run"],
        shown["Injuries on crash records"],
        shown["Deaths on crash records"],
    ) == (
        f"{n:,}",
        f"{hnr:,}",
        f"{injured:,}",
        f"{killed:,}",
    )
    assert len(at.get("plotly_chart")) == 5
    injuries = at.dataframe[0].value.set_index("road_user")
    expected = dict(demo.sql("select road_user, sum(person_count) from marts.agg_injuries_by_road_user group by 1"))
    assert injuries["people"].to_dict() == expected

    district = demo.one(
        "select try_cast(beat_of_occurrence as integer) // 100 from marts.fct_crashes"
        " group by 1 order by count(*) desc limit 1"
    )
    at.multiselect[0].set_value([district]).run()
    assert not at.exception
    n_d, hnr_d, *_ = _filtered(demo, "try_cast(beat_of_occurrence as integer) // 100 = ?", [district])
    assert 0 < n_d < n
    assert _metrics(at)["Crashes"] == f"{n_d:,}" and _metrics(at)["Hit-and-run"] == f"{hnr_d:,}"

    for mode in ("points", "beats"):
        at.get("segmented_control")[1].set_value(mode).run()
        assert not at.exception
    assert len(at.get("plotly_chart")) == 5


def test_hexbins_assign_each_crash_to_its_nearest_hexagon(demo: Demo) -> None:
    """The SQL binning against brute force: counting every located crash into the hexagon whose
    center is nearest (a hexagon is exactly the set of points nearest its center) gives the same
    hexagons with the same counts."""
    import math
    from collections import Counter

    from dashboard import queries
    from dashboard.filters import CrashFilter

    first, last = demo.sql("select min(crash_date), max(crash_date) from marts.fct_crashes")[0]
    r = 0.006
    bins = queries.hexbins(CrashFilter(first, last), r)
    scale = math.cos(math.radians(41.84))
    dx, dy = math.sqrt(3) * r, 1.5 * r
    # A center's key: twice its column (odd rows sit half a column over) and its row.
    sql_counts = {
        (round(x * scale / dx * 2), round(y / dy)): n
        for x, y, n in zip(bins["center_lng"], bins["center_lat"], bins["crashes"], strict=True)
    }

    def nearest(x: float, y: float) -> tuple[int, int]:
        j0 = round(y / dy)
        candidates = []
        for j in range(j0 - 2, j0 + 3):
            offset = (j % 2) / 2
            i0 = round(x / dx - offset)
            for i in range(i0 - 2, i0 + 3):
                cx, cy = (i + offset) * dx, j * dy
                candidates.append(((x - cx) ** 2 + (y - cy) ** 2, (round((i + offset) * 2), j)))
        return min(candidates)[1]

    points = demo.sql("select longitude, latitude from marts.fct_crashes where latitude is not null")
    assert len(points) > 1000
    assert Counter(nearest(lng * scale, lat) for lng, lat in points) == sql_counts
