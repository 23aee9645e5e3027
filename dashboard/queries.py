"""Every SQL statement the dashboard runs: DuckDB over the gold snapshot, SQLite over ops.sqlite.

Gold is opened read-only per query (`snapshot.connect`: the version file being served) and results
are cached per snapshot file (`snapshot.per_snapshot`), so a build running meanwhile never sees a
reader's lock and a new publish is picked up on the next rerun. User input reaches SQL only as bound parameters;
identifiers (a mart or column name on the Data page) are checked against the catalog first.
"""

# ruff: noqa: S608 - statements are composed only from constants in this module and catalog-checked identifiers
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING, Any

import pandas as pd

from crashes.sql import ident
from dashboard.snapshot import connect, per_snapshot
from orchestration import runs

if TYPE_CHECKING:
    from dashboard.filters import CrashFilter

SCHEMA = "marts"

# The area a filter selects (any table with beat_of_occurrence), and the crashes it selects;
# a filtered query reads `marts.agg_crashes_beat_daily` (or `marts.fct_crashes`) through CRASH_FILTER.
AREA_FILTER = """
    (len($districts::integer[]) = 0
     or list_contains($districts::integer[], try_cast(beat_of_occurrence as integer) // 100))
    and (len($beats::varchar[]) = 0 or list_contains($beats::varchar[], beat_of_occurrence))
"""
CRASH_FILTER = f"crash_date between $start and $end and {AREA_FILTER}"


def filter_params(f: CrashFilter) -> dict[str, Any]:
    return {"start": f.start, "end": f.end, "districts": list(f.districts), "beats": list(f.beats)}


def frame(sql: str, params: dict[str, Any] | list[Any] | None = None) -> pd.DataFrame:
    """Run one statement on a fresh read-only connection to gold."""
    with connect() as con:
        return con.execute(sql, params or []).df()


def _ops_frame(sql: str, params: tuple[Any, ...] = ()) -> pd.DataFrame:
    with runs.connect() as con:
        cursor = con.execute(sql, params)
        names = [d[0] for d in cursor.description]
        return pd.DataFrame([tuple(r) for r in cursor.fetchall()], columns=names)


# --------------------------------------------------------------------------- catalog (Data page)
@per_snapshot
def marts() -> pd.DataFrame:
    """Every gold mart with dbt's description (publish stores it as the table comment)."""
    return frame(
        "select table_name as mart, coalesce(comment, '') as description, column_count as columns "
        "from duckdb_tables() where schema_name = ? order by table_name",
        [SCHEMA],
    )


@per_snapshot
def mart_rows() -> dict[str, int]:
    """Exact rows per mart, in one statement over the catalog's table names."""
    names = marts()["mart"].tolist()
    if not names:
        return {}
    union = " union all ".join(
        f"select {i} as i, count(*) as n from {SCHEMA}.{ident(name)}" for i, name in enumerate(names)
    )
    with connect() as con:
        return {names[i]: int(n) for i, n in con.execute(union).fetchall()}


@per_snapshot
def columns(mart: str) -> pd.DataFrame:
    return frame(
        "select column_name as column, data_type as type, coalesce(comment, '') as description "
        "from duckdb_columns() where schema_name = ? and table_name = ? order by column_index",
        [SCHEMA, mart],
    )


@dataclass(frozen=True)
class ColumnFilter:
    column: str
    op: str  # one of OPERATORS
    value: str


OPERATORS = ("=", "≠", "≥", "≤", "contains", "is empty", "is not empty")
_SAFE_TYPE = re.compile(r"^[A-Z][A-Z0-9_ ,()\[\]]*$")


def _condition(f: ColumnFilter, types: dict[str, str], i: int) -> tuple[str, dict[str, Any]]:
    """One WHERE term: the identifier comes from the catalog, the value is a bound parameter,
    cast to the column's type so `≥ 2024-01-01` compares dates and `≥ 30` compares numbers."""
    if f.column not in types:
        raise ValueError(f"unknown column {f.column!r}")
    if f.op not in OPERATORS:
        raise ValueError(f"unknown operator {f.op!r}")
    col, name = ident(f.column), f"v{i}"
    if f.op == "is empty":
        return f"{col} is null", {}
    if f.op == "is not empty":
        return f"{col} is not null", {}
    if f.op == "contains":
        return f"cast({col} as varchar) ilike '%' || ${name} || '%'", {name: f.value}
    kind = types[f.column].upper()
    typed = f"try_cast(${name} as {kind})" if _SAFE_TYPE.match(kind) else f"${name}"
    sql_op = {"=": "=", "≠": "<>", "≥": ">=", "≤": "<="}[f.op]
    return f"{col} {sql_op} {typed}", {name: f.value}


def preview(mart: str, filters: tuple[ColumnFilter, ...] = (), limit: int = 100) -> tuple[pd.DataFrame, int]:
    """Up to `limit` rows of a mart matching every filter, and how many rows match in all."""
    catalog = columns(mart)
    if catalog.empty:
        raise ValueError(f"no mart named {mart!r} in gold")
    types = dict(zip(catalog["column"], catalog["type"], strict=True))
    terms, params = ["true"], {}
    for i, f in enumerate(filters):
        term, bound = _condition(f, types, i)
        terms.append(term)
        params.update(bound)
    where = " and ".join(terms)
    table = f"{SCHEMA}.{ident(mart)}"
    with connect() as con:
        matched = int(con.execute(f"select count(*) from {table} where {where}", params).fetchone()[0])
        rows = con.execute(
            f"select * from {table} where {where} order by {_newest_first(types)} limit {int(limit)}", params
        ).df()
    for column in (c for c, kind in types.items() if kind == "DATE"):
        if pd.api.types.is_datetime64_any_dtype(rows[column]):
            rows[column] = rows[column].dt.date  # a DATE is a day, not midnight of it
    return rows, matched


def _newest_first(types: dict[str, str]) -> str:
    """A preview's order: the mart's time (its first timestamp, else its first date) newest first,
    then its first column (the key, by the marts' convention), so the same rows come every time."""
    columns = list(types)
    times = [c for c in columns if types[c].startswith("TIMESTAMP")] or [c for c in columns if types[c] == "DATE"]
    order = [f"{ident(times[0])} desc nulls last"] if times else []
    return ", ".join([*order, ident(columns[0])])


# --------------------------------------------------------------------------- overview
@per_snapshot
def totals() -> dict[str, Any]:
    """Headline figures over everything gold holds, from the daily mart."""
    row = frame(
        "select count(*) as days, cast(coalesce(sum(crash_count), 0) as bigint) as crashes,"
        " cast(coalesce(sum(hit_and_run_count), 0) as bigint) as hit_and_run,"
        " cast(coalesce(sum(injuries_total), 0) as bigint) as injured,"
        " cast(coalesce(sum(injuries_fatal), 0) as bigint) as killed,"
        " min(crash_date) as first_day, max(crash_date) as last_day"
        f" from {SCHEMA}.agg_crashes_daily"
    ).iloc[0]
    return {k: (None if pd.isna(v) else v.item() if hasattr(v, "item") else v) for k, v in row.items()}


@per_snapshot
def freshness() -> pd.DataFrame:
    """Per dataset: rows, newest crash, newest Socrata update and when the last load finished."""
    return frame(
        "select dataset, row_count, latest_crash_ts, latest_source_updated_at, last_loaded_at,"
        " garbled_row_count, orphan_row_count, invalid_location_count, rejected_row_count, is_loaded"
        f" from {SCHEMA}.dq_datasets order by dataset"
    )


@per_snapshot
def missing_datasets() -> list[str]:
    """Datasets raw holds no rows of (only the crashes file loaded, say): their figures are unknown."""
    return frame(f"select dataset from {SCHEMA}.dq_datasets where not is_loaded order by dataset")["dataset"].tolist()


@per_snapshot
def date_bounds() -> tuple[date, date] | None:
    row = frame(f"select min(crash_date) as first, max(crash_date) as last from {SCHEMA}.agg_crashes_daily").iloc[0]
    if pd.isna(row["first"]):
        return None
    return pd.Timestamp(row["first"]).date(), pd.Timestamp(row["last"]).date()


@per_snapshot
def beats() -> pd.DataFrame:
    """Beats that have crashes, with their district, for the area filter."""
    return frame(
        "select beat_of_occurrence, any_value(try_cast(beat_of_occurrence as integer) // 100) as district"
        f" from {SCHEMA}.agg_beat_monthly group by 1"
        " order by any_value(try_cast(beat_of_occurrence as integer)) nulls last, beat_of_occurrence"
    )


# --------------------------------------------------------------------------- explore
# Figures that need only day, beat and community area read the mart at that grain (585 k rows
# of a few narrow columns for the 905 k real crashes: a headline over a year and a district took
# 0.09 s there against 0.37 s over fct_crashes on a busy host) instead of scanning every crash.
BEAT_DAILY = f"{SCHEMA}.agg_crashes_beat_daily"


@per_snapshot
def headline(f: CrashFilter) -> dict[str, int]:
    row = frame(
        "select coalesce(sum(crash_count), 0) as crashes, coalesce(sum(hit_and_run_count), 0) as hit_and_run,"
        " coalesce(sum(injuries_total), 0) as injured, coalesce(sum(injuries_fatal), 0) as killed,"
        " coalesce(sum(injury_crash_count), 0) as injury_crashes"
        f" from {BEAT_DAILY} where {CRASH_FILTER}",
        filter_params(f),
    ).iloc[0]
    return {k: int(v) for k, v in row.items()}


GRAINS = ("day", "week", "month")


@per_snapshot
def over_time(f: CrashFilter, grain: str) -> pd.DataFrame:
    if grain not in GRAINS:
        raise ValueError(f"grain must be one of {GRAINS}")
    return frame(
        "select cast(date_trunc($grain, crash_date) as date) as period, sum(crash_count)::bigint as crashes,"
        " sum(hit_and_run_count)::bigint as hit_and_run, sum(injury_crash_count)::bigint as injury_crashes"
        f" from {BEAT_DAILY} where {CRASH_FILTER} group by 1 order by 1",
        {**filter_params(f), "grain": grain},
    )


@per_snapshot
def hour_weekday(f: CrashFilter) -> pd.DataFrame:
    return frame(
        "select crash_day_of_week as day_of_week, crash_hour as hour, count(*) as crashes"
        f" from {SCHEMA}.fct_crashes where {CRASH_FILTER} group by all order by all",
        filter_params(f),
    )


# Pointy-top hexagons on a plane where x = longitude * cos(41.84°) (degrees of latitude), y =
# latitude: d3-hexbin's two-candidate assignment, set-based, but comparing true distances (grid
# units scaled back by dx² = 3r², dy² = 2.25r²; d3 compares them unscaled, which misplaces points
# near a border). $r is the hexagon's circumradius in degrees.
HEXBIN = f"""
with points as (
    select longitude * cos(radians(41.84)) / (sqrt(3) * $r) as gx, latitude / (1.5 * $r) as gy,
           is_hit_and_run
    from {SCHEMA}.fct_crashes
    where {CRASH_FILTER} and latitude is not null and longitude is not null
), nearest as (
    select *, round(gy) as pj, gx - (cast(round(gy) as bigint) & 1) / 2.0 as px from points
), first_guess as (
    select *, round(px) as pi, gy - pj as py1 from nearest
), cell as (
    select *, case when px < pi then -0.5 else 0.5 end as di, case when gy < pj then -1 else 1 end as dj,
           (cast(pj as bigint) & 1) = 1 as odd_row
    from first_guess
), best as (
    select is_hit_and_run,
           abs(py1) * 3 > 1
           and 3 * (px - pi) ** 2 + 2.25 * py1 ** 2
               > 3 * (px - (pi + di)) ** 2 + 2.25 * (gy - (pj + dj)) ** 2 as take_second,
           case when take_second then pi + di + (case when odd_row then 0.5 else -0.5 end) else pi end as ci,
           case when take_second then pj + dj else pj end as cj
    from cell
)
select cast(ci as bigint) as i, cast(cj as bigint) as j,
       (ci + (cast(cj as bigint) & 1) / 2.0) * sqrt(3) * $r / cos(radians(41.84)) as center_lng,
       cj * 1.5 * $r as center_lat,
       count(*) as crashes, avg(is_hit_and_run::int) as hit_and_run_share
from best group by all
"""


@per_snapshot
def hexbins(f: CrashFilter, radius_deg: float) -> pd.DataFrame:
    return frame(HEXBIN, {**filter_params(f), "r": radius_deg})


@per_snapshot
def points(f: CrashFilter, limit: int) -> tuple[pd.DataFrame, int]:
    """A deterministic sample of crash points (hash order), and how many there are in all."""
    params = filter_params(f)
    where = f"{CRASH_FILTER} and latitude is not null and longitude is not null"
    with connect() as con:
        total = int(con.execute(f"select count(*) from {SCHEMA}.fct_crashes where {where}", params).fetchone()[0])
        sample = con.execute(
            "select crash_record_id, crash_ts, latitude, longitude, beat_of_occurrence, is_hit_and_run,"
            " first_crash_type, injuries_total"
            f" from {SCHEMA}.fct_crashes where {where} order by hash(crash_record_id) limit {int(limit)}",
            params,
        ).df()
    return sample, total


HIT_AND_RUN_DIMENSIONS = {
    "lighting_condition": "Lighting",
    "weather_condition": "Weather",
    "roadway_surface_cond": "Road surface",
    "first_crash_type": "First crash type",
}


@per_snapshot
def hit_and_run_by(f: CrashFilter) -> pd.DataFrame:
    """Hit-and-run share per value of each dimension, all four in one pass (grouping sets)."""
    return frame(
        "select case when grouping(lighting_condition) = 0 then 'lighting_condition'"
        "            when grouping(weather_condition) = 0 then 'weather_condition'"
        "            when grouping(roadway_surface_cond) = 0 then 'roadway_surface_cond'"
        "            else 'first_crash_type' end as dimension,"
        " coalesce(lighting_condition, weather_condition, roadway_surface_cond, first_crash_type,"
        "          'UNKNOWN') as value,"
        " count(*) as crashes, count(*) filter (where is_hit_and_run) as hit_and_run,"
        " avg(is_hit_and_run::int) as hit_and_run_share"
        f" from {SCHEMA}.fct_crashes where {CRASH_FILTER}"
        " group by grouping sets ((lighting_condition), (weather_condition), (roadway_surface_cond),"
        "                         (first_crash_type))"
        " order by dimension, crashes desc",
        filter_params(f),
    )


INJURIES_BY_ROAD_USER = f"""
    select road_user, count(*) as people, count(*) filter (where is_injured) as injured,
           count(*) filter (where injury_classification = 'FATAL') as killed,
           count(*) filter (where injury_classification = 'INCAPACITATING INJURY') as incapacitated
    from {SCHEMA}.fct_people
    where crash_ts >= $start::timestamp and crash_ts < $end::timestamp + interval 1 day
"""
IN_AREA = f" and crash_record_id in (select crash_record_id from {SCHEMA}.fct_crashes where {CRASH_FILTER})"


@per_snapshot
def injuries_by_road_user(f: CrashFilter) -> pd.DataFrame:
    """People per road user in the period (by their crash's time), restricted to the area's
    crashes only when an area is chosen: that join costs about a second over Chicago's 2 M people."""
    if f.districts or f.beats:
        return frame(f"{INJURIES_BY_ROAD_USER}{IN_AREA} group by 1 order by people desc", filter_params(f))
    return frame(f"{INJURIES_BY_ROAD_USER} group by 1 order by people desc", {"start": f.start, "end": f.end})


# --------------------------------------------------------------------------- reports: marts for a period
@per_snapshot
def daily(f: CrashFilter) -> pd.DataFrame:
    """agg_crashes_daily for the period (the mart covers all of Chicago; areas do not apply)."""
    return frame(
        f"select * from {SCHEMA}.agg_crashes_daily where crash_date between $start and $end order by crash_date",
        {"start": f.start, "end": f.end},
    )


@per_snapshot
def beat_monthly(f: CrashFilter) -> pd.DataFrame:
    return frame(
        f"select * from {SCHEMA}.agg_beat_monthly where month_start between date_trunc('month', $start::date)"
        f" and $end::date and {AREA_FILTER} order by month_start, beat_of_occurrence",
        filter_params(f),
    )


def _years_of(mart: str, order_by: str, f: CrashFilter) -> pd.DataFrame:
    """A per-year mart's rows for the years the period touches (mart and order are constants)."""
    return frame(
        f"select * from {SCHEMA}.{mart} where crash_year between year($start::date) and year($end::date)"
        f" order by {order_by}",
        {"start": f.start, "end": f.end},
    )


@per_snapshot
def causes(f: CrashFilter) -> pd.DataFrame:
    return _years_of("agg_contributory_causes", "crash_year, crash_count desc", f)


@per_snapshot
def injuries_by_year(f: CrashFilter) -> pd.DataFrame:
    return _years_of("agg_injuries_by_road_user", "crash_year, person_count desc", f)


@per_snapshot
def flagged_in_period(f: CrashFilter) -> dict[str, int]:
    """How many crashes of the period the current scores flag, and how many of those were hit-and-runs."""
    row = frame(
        "select count(*) as scored, count(*) filter (where s.predicted_hit_and_run) as flagged,"
        " count(*) filter (where s.predicted_hit_and_run and c.is_hit_and_run) as flagged_true"
        f" from {SCHEMA}.ml_hit_and_run_scores s"
        f" join (select crash_record_id, is_hit_and_run from {SCHEMA}.fct_crashes where {CRASH_FILTER}) c"
        " using (crash_record_id)",
        filter_params(f),
    ).iloc[0]
    return {k: int(v) for k, v in row.items()}


@per_snapshot
def primary_causes(f: CrashFilter, previous: CrashFilter, limit: int = 10) -> pd.DataFrame:
    """The period's most frequent primary causes, with their hit-and-runs and their count in the
    previous period (same area), in one pass over both periods."""
    return frame(
        "select coalesce(prim_contributory_cause, 'UNKNOWN') as cause,"
        " count(*) filter (where crash_date between $start and $end) as crashes,"
        " count(*) filter (where crash_date between $start and $end and is_hit_and_run) as hit_and_run,"
        " count(*) filter (where crash_date between $prev_start and $prev_end) as previous"
        f" from {SCHEMA}.fct_crashes where crash_date between $prev_start and $end and {AREA_FILTER}"
        f" group by 1 having crashes > 0 order by crashes desc, cause limit {int(limit)}",
        {**filter_params(f), "prev_start": previous.start, "prev_end": previous.end},
    )


@per_snapshot
def risk_bands_in_period(f: CrashFilter) -> pd.DataFrame:
    """The period's scored crashes per risk band, with how many were recorded as hit-and-runs."""
    return frame(
        "select s.risk_band, count(*) as crashes, count(*) filter (where c.is_hit_and_run) as hit_and_run"
        f" from {SCHEMA}.ml_hit_and_run_scores s"
        f" join (select crash_record_id, is_hit_and_run from {SCHEMA}.fct_crashes where {CRASH_FILTER}) c"
        " using (crash_record_id) group by 1",
        filter_params(f),
    )


# --------------------------------------------------------------------------- data quality
@per_snapshot
def dq_expectations() -> pd.DataFrame:
    """The ingestion gate's results per dataset and expectation, over every checked load."""
    return frame(
        "select dataset, expectation, column_name, count(*) as loads_checked,"
        " count(*) filter (where not is_success) as loads_failed, sum(unexpected_count) as unexpected_rows,"
        " sum(element_count) as rows_checked, max(checked_at) as last_checked"
        f" from {SCHEMA}.dq_expectations group by all order by loads_failed desc, dataset, expectation, column_name"
    )


@per_snapshot
def dq_columns(limit: int = 15) -> pd.DataFrame:
    """The columns with the most garbled (present but untypeable) values, then the most missing."""
    return frame(
        "select dataset, column_name, row_count, null_count, null_share, garbled_count"
        f" from {SCHEMA}.dq_columns order by garbled_count desc, null_share desc limit {int(limit)}"
    )


@per_snapshot
def dq_rejected(limit: int = 200) -> tuple[pd.DataFrame, int]:
    """Rows gold leaves out (kept in raw), newest load first, and how many there are in all."""
    rows = frame(
        "select dataset, record_key, column_name, raw_value, reason, load_id, kept_in"
        f" from {SCHEMA}.dq_rejected_records order by load_id desc, dataset, record_key limit {int(limit)}"
    )
    total = frame(f"select count(*) as n from {SCHEMA}.dq_rejected_records")["n"].iloc[0]
    return rows, int(total)


@per_snapshot
def dq_loads() -> pd.DataFrame:
    return frame(f"select * from {SCHEMA}.dq_loads order by loaded_at desc, dataset")


# --------------------------------------------------------------------------- model
@per_snapshot
def score_summary() -> dict[str, Any]:
    row = frame(
        "select count(*) as scored, count(distinct model_version) as versions, max(model_version) as model_version,"
        " max(scored_at) as scored_at, avg(probability) as mean_probability,"
        " avg(predicted_hit_and_run::int) as flagged_share"
        f" from {SCHEMA}.ml_hit_and_run_scores"
    ).iloc[0]
    return {k: (None if pd.isna(v) else (v.item() if hasattr(v, "item") else v)) for k, v in row.items()}


@per_snapshot
def monitoring(version: str) -> pd.DataFrame:
    """The model's figures month by month (marts.ml_monitoring_monthly); empty before the mart exists."""
    if "ml_monitoring_monthly" not in set(marts()["mart"]):
        return pd.DataFrame()
    return frame(
        f"select * from {SCHEMA}.ml_monitoring_monthly where model_version = $version order by month_start",
        {"version": version},
    )


SCORED_YEAR = f"""
    select s.probability, f.is_hit_and_run as label
    from {SCHEMA}.ml_hit_and_run_scores s
    join {SCHEMA}.ml_hit_and_run_features f using (crash_record_id)
    where f.crash_year = $year and s.model_version = $version
"""


@per_snapshot
def pr_curve(year: int, version: str, points_: int = 200) -> pd.DataFrame:
    """Precision and recall at each score threshold on one year, thinned to about `points_` rows."""
    return frame(
        f"""
        with scored as ({SCORED_YEAR}),
        ranked as (
            select probability,
                   sum(label::int) over (order by probability desc rows unbounded preceding) as tp,
                   row_number() over (order by probability desc) as flagged,
                   sum(label::int) over () as positives, count(*) over () as n
            from scored
        )
        select probability as threshold, tp / flagged as precision, tp / nullif(positives, 0) as recall,
               positives / n as prevalence
        from ranked
        where flagged % greatest(1, n // $points) = 0 or flagged = n
        order by recall, precision desc
        """,
        {"year": year, "version": version, "points": points_},
    )


@per_snapshot
def calibration(year: int, version: str, bins: int = 10) -> pd.DataFrame:
    """Mean predicted probability vs observed hit-and-run rate per score decile, on one year."""
    return frame(
        f"""
        with scored as ({SCORED_YEAR})
        select ntile as bin, count(*) as crashes, avg(probability) as mean_predicted, avg(label::int) as observed
        from (select *, ntile($bins) over (order by probability) as ntile from scored)
        group by 1 order by 1
        """,
        {"year": year, "version": version, "bins": bins},
    )


@per_snapshot
def feature_values(column_names: tuple[str, ...], top: int = 40) -> dict[str, list[str]]:
    """The most frequent values of each categorical feature, for the form's choices."""
    present = set(columns("ml_hit_and_run_features")["column"])
    wanted = [c for c in column_names if c in present]
    if not wanted:
        return {}
    union = " union all ".join(
        f"(select {i} as i, cast({ident(c)} as varchar) as v, count(*) as n"
        f" from {SCHEMA}.ml_hit_and_run_features where {ident(c)} is not null group by 2 order by 3 desc"
        f" limit {int(top)})"
        for i, c in enumerate(wanted)
    )
    out: dict[str, list[str]] = {c: [] for c in wanted}
    with connect() as con:
        for i, value, _ in con.execute(union).fetchall():
            out[wanted[i]].append(value)
    return out


@per_snapshot
def feature_medians(column_names: tuple[str, ...]) -> dict[str, float]:
    present = set(columns("ml_hit_and_run_features")["column"])
    wanted = [c for c in column_names if c in present]
    if not wanted:
        return {}
    select = ", ".join(f"median({ident(c)}) as {ident(c)}" for c in wanted)
    row = frame(f"select {select} from {SCHEMA}.ml_hit_and_run_features").iloc[0]
    return {c: float(row[c]) for c in wanted if not pd.isna(row[c])}


# --------------------------------------------------------------------------- ops.sqlite
def run_for_pid(pid: int, since_iso: str) -> runs.RunRecord | None:
    """The run a process we started recorded (runs.pid is the process that ran it)."""
    with runs.connect() as con:
        row = con.execute(
            "SELECT id FROM runs WHERE pid = ? AND started >= ? ORDER BY id DESC LIMIT 1", (pid, since_iso)
        ).fetchone()
    return runs.get_run(int(row["id"])) if row else None


def runs_table(limit: int = 20, trigger: str | None = None) -> pd.DataFrame:
    """Recent runs (optionally of one trigger) with their duration and stages in order."""
    return _ops_frame(
        """SELECT r.id, r.job, r.trigger, r.status, r.started, r.ended,
                  round((julianday(r.ended) - julianday(r.started)) * 86400, 1) AS seconds,
                  r.schedule_id, r.error,
                  (SELECT group_concat(name || ':' || status, ' → ')
                     FROM (SELECT name, status FROM stages s WHERE s.run_id = r.id ORDER BY position)) AS stages
           FROM runs r WHERE (? IS NULL OR r.trigger = ?) ORDER BY r.id DESC LIMIT ?""",
        (trigger, trigger, int(limit)),
    )


def event_counts() -> dict[str, int]:
    with runs.connect() as con:
        return {r["kind"]: int(r["n"]) for r in con.execute("SELECT kind, count(*) AS n FROM events GROUP BY kind")}


# --------------------------------------------------------------------------- area maps (Explore)
# Each level: its gold boundary table, its key there, and how a row of agg_crashes_beat_daily finds it.
AREA_LEVELS = {
    "beats": ("geo_police_beats", "beat_of_occurrence", "beat_of_occurrence"),
    "districts": ("geo_police_districts", "district", "district"),
    "community areas": ("geo_community_areas", "community_area", "community_area"),
}
_AREA_NAMES = {"beats": "beat_name", "districts": "district_name", "community areas": "community_area_name"}


@per_snapshot
def area_boundaries(level: str) -> dict[str, Any]:
    """The level's outlines as a GeoJSON FeatureCollection (feature id = the key as text), for
    Plotly's `geojson=`; cached per snapshot, so the ~0.1–0.25 MB payload is read once."""
    table, key, _ = AREA_LEVELS[level]
    rows = frame(
        f"select cast({key} as varchar) as id, {_AREA_NAMES[level]} as name, geometry_geojson from {SCHEMA}.{table}"
    )
    features = [
        {"type": "Feature", "id": r.id, "properties": {"name": r.name}, "geometry": json.loads(r.geometry_geojson)}
        for r in rows.itertuples()
    ]
    return {"type": "FeatureCollection", "features": features}


@per_snapshot
def by_area(f: CrashFilter, level: str) -> pd.DataFrame:
    """Per area of the level (every area on the map, zero when none matched): crashes,
    hit-and-run share and crashes per km², ranked by crashes."""
    table, key, crash_key = AREA_LEVELS[level]
    return frame(
        f"with counted as (select {crash_key} as id, sum(crash_count)::bigint as crashes,"
        " sum(hit_and_run_count)::bigint as hit_and_run"
        f" from {BEAT_DAILY} where {CRASH_FILTER} group by 1)"
        f" select cast(a.{key} as varchar) as id, a.{_AREA_NAMES[level]} as name,"
        " coalesce(c.crashes, 0) as crashes, coalesce(c.hit_and_run, 0) as hit_and_run,"
        " c.hit_and_run / nullif(c.crashes, 0) as hit_and_run_share,"
        " coalesce(c.crashes, 0) / nullif(a.area_km2, 0) as crashes_per_km2, a.area_km2"
        f" from {SCHEMA}.{table} as a left join counted as c on cast(a.{key} as varchar) = cast(c.id as varchar)"
        " order by crashes desc, id",
        filter_params(f),
    )


# --------------------------------------------------------------------------- record coverage (every page)
@per_snapshot
def record_coverage(f: CrashFilter) -> dict[str, int]:
    """Of the crashes the filter selects, how many have unit and person records in gold: the
    person-level figures count only those, so a partial people load undercounts."""
    row = frame(
        "select count(*) as crashes, count(*) filter (where unit_count > 0) as with_units,"
        f" count(*) filter (where person_count > 0) as with_people from {SCHEMA}.fct_crashes where {CRASH_FILTER}",
        filter_params(f),
    ).iloc[0]
    return {k: int(v) for k, v in row.items()}


# How a crash in fct_crashes finds its area of each level (the report reads crashes themselves).
_CRASH_AREA_KEYS = {
    "beats": "beat_of_occurrence",
    "districts": "try_cast(beat_of_occurrence as integer) // 100",
    "community areas": "community_area",
}


@per_snapshot
def by_area_compared(f: CrashFilter, previous: CrashFilter, level: str) -> pd.DataFrame:
    """`by_area` for the period with each area's crashes in `previous` beside it, in one scan
    over both periods (the report ranks areas and compares them)."""
    table, key, _ = AREA_LEVELS[level]
    crash_key = _CRASH_AREA_KEYS[level]
    now = "crash_date between $start and $end"
    return frame(
        f"with counted as (select {crash_key} as id, count(*) filter (where {now}) as crashes,"
        f" count(*) filter (where {now} and is_hit_and_run) as hit_and_run,"
        " count(*) filter (where crash_date between $prev_start and $prev_end) as previous"
        f" from {SCHEMA}.fct_crashes where crash_date between $prev_start and $end and {AREA_FILTER} group by 1)"
        f" select cast(a.{key} as varchar) as id, a.{_AREA_NAMES[level]} as name,"
        " coalesce(c.crashes, 0) as crashes, coalesce(c.hit_and_run, 0) as hit_and_run,"
        " c.hit_and_run / nullif(c.crashes, 0) as hit_and_run_share, coalesce(c.previous, 0) as previous"
        f" from {SCHEMA}.{table} as a left join counted as c on cast(a.{key} as varchar) = cast(c.id as varchar)"
        " order by crashes desc, id",
        {**filter_params(f), "prev_start": previous.start, "prev_end": previous.end},
    )
