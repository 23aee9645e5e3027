"""`marts.agg_crashes_beat_daily`, the day × beat × community area mart the Explore page reads
for its period and area filter: its sums are fct_crashes' counts, and the page's figures from it
are the figures a reader gets from fct_crashes directly."""

# ruff: noqa: S608 - statements composed from this module's constants only
from __future__ import annotations

from datetime import timedelta

import pandas as pd

from dashboard.filters import CrashFilter
from tests.dashboard.conftest import Demo

MEASURES = """count(*), count(*) filter (where is_hit_and_run), count(*) filter (where injuries_total > 0),
    count(*) filter (where injuries_fatal > 0), coalesce(sum(injuries_total), 0), coalesce(sum(injuries_fatal), 0)"""
SUMS = """sum(crash_count), sum(hit_and_run_count), sum(injury_crash_count), sum(fatal_crash_count),
    sum(injuries_total), sum(injuries_fatal)"""


def test_mart_sums_equal_fct_crashes_per_day_beat_and_area(demo: Demo) -> None:
    facts = demo.sql(
        f"select crash_date, beat_of_occurrence, community_area, {MEASURES} from marts.fct_crashes"
        " where crash_date is not null group by all order by all"
    )
    mart = demo.sql(
        f"select crash_date, beat_of_occurrence, community_area, {SUMS} from marts.agg_crashes_beat_daily"
        " group by all order by all"
    )
    assert len(facts) > 100, "the demo holds too few crash cells to compare"
    assert mart == facts
    rows, cells = demo.sql(
        "select count(*), count(distinct (crash_date, beat_of_occurrence, community_area))"
        " from marts.agg_crashes_beat_daily"
    )[0]
    assert rows == cells, "one row per day × beat × community area"
    wrong = demo.one(
        "select count(*) from marts.agg_crashes_beat_daily"
        " where district is distinct from try_cast(beat_of_occurrence as integer) // 100"
    )
    assert wrong == 0, "the district is the beat without its last two digits"


def test_explore_figures_from_the_mart_match_fct_crashes(demo: Demo) -> None:
    from dashboard import queries

    last = demo.one("select max(crash_date) from marts.fct_crashes")
    district = demo.one(
        "select try_cast(beat_of_occurrence as integer) // 100 from marts.fct_crashes"
        " group by 1 order by count(*) desc, 1 limit 1"
    )
    f = CrashFilter(start=last - timedelta(days=120), end=last, districts=(district,))
    where = "crash_date between ? and ? and try_cast(beat_of_occurrence as integer) // 100 = ?"
    args = [f.start, f.end, district]
    crashes, hit_and_run, injury_crashes, _, injured, killed = demo.sql(
        f"select {MEASURES} from marts.fct_crashes where {where}", args
    )[0]
    assert crashes > 0
    assert queries.headline(f) == {
        "crashes": crashes, "hit_and_run": hit_and_run, "injured": injured, "killed": killed,
        "injury_crashes": injury_crashes,
    }  # fmt: skip

    weekly = queries.over_time(f, "week")
    expected = demo.sql(
        "select cast(date_trunc('week', crash_date) as date), count(*), count(*) filter (where is_hit_and_run),"
        f" count(*) filter (where injuries_total > 0) from marts.fct_crashes where {where} group by 1 order by 1",
        args,
    )
    assert [(pd.Timestamp(p), int(c), int(h), int(i)) for p, c, h, i in weekly.itertuples(index=False)] == [
        (pd.Timestamp(p), c, h, i) for p, c, h, i in expected
    ]

    by_district = queries.by_area(f, "districts").set_index("id")["crashes"]
    assert int(by_district[str(district)]) == crashes
    assert int(by_district.drop(str(district)).sum()) == 0
    by_beat = queries.by_area(f, "beats")
    per_beat = dict(
        demo.sql(f"select beat_of_occurrence, count(*) from marts.fct_crashes where {where} group by 1", args)
    )
    shown = {r.id: int(r.crashes) for r in by_beat.itertuples() if r.crashes}
    assert shown == {b: n for b, n in per_beat.items() if b in set(by_beat["id"])}
