"""Derive the statistics the generator draws from, from the real Chicago samples.

Run `python -m ingestion.devserver.derive_stats [--data DIR] [--out FILE]`. It reads the 906 k real
crashes (and the 1000-row linked vehicles/people sample) with DuckDB and writes `stats.json`:
vocabularies with frequencies (some conditional on a parent column, so snow falls in winter and
darkness at night), time and place shapes, injury profiles and a logistic hit-and-run model fitted
on the recent years. Only aggregates leave the data folder; the file is small enough to commit.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import duckdb
import numpy as np

from ingestion.datasets import CRASHES, PEOPLE, VEHICLES

STATS_PATH = Path(__file__).with_name("stats.json")
DEFAULT_DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "chicago"

# Crash columns drawn from a distribution conditional on one parent column (drawn earlier).
CRASH_CONDITIONALS: dict[str, str] = {
    "weather_condition": "crash_month",
    "roadway_surface_cond": "weather_condition",
    "lighting_condition": "crash_hour",
    "num_units": "first_crash_type",
    "traffic_control_device": "trafficway_type",
    "device_condition": "traffic_control_device",
    "intersection_related_i": "traffic_control_device",
    "posted_speed_limit": "trafficway_type",
    "crash_type": "most_severe_injury",
    "damage": "crash_type",
    "report_type": "crash_type",
    "sec_contributory_cause": "prim_contributory_cause",
    "work_zone_type": "work_zone_i",
    "workers_present_i": "work_zone_i",
    "dooring_i": "first_crash_type",
}
# Crash columns drawn from their marginal distribution.
CRASH_MARGINALS = (
    "crash_date_est_i",
    "first_crash_type",
    "trafficway_type",
    "lane_cnt",
    "alignment",
    "road_defect",
    "private_property_i",
    "prim_contributory_cause",
    "photos_taken_i",
    "statements_taken_i",
    "work_zone_i",
)
INJURY_PARTS = (
    "injuries_fatal",
    "injuries_incapacitating",
    "injuries_non_incapacitating",
    "injuries_reported_not_evident",
)
INJURY_PROFILES = 120
# Features of the hit-and-run model: conditions known at the scene, as the brief and real data suggest.
HIT_AND_RUN_FEATURES = (
    "first_crash_type",
    "num_units",
    "lighting_condition",
    "crash_hour",
    "trafficway_type",
    "beat_of_occurrence",
    "crash_day_of_week",
)
HIT_AND_RUN_YEARS = (2022, 2024)  # the current regime: 31-33 % hit-and-run
TOP_STREETS_PER_BEAT = 12
MAX_VOCAB = 80  # per column; the long tail is dropped and the rest renormalised
UNIT_ID_COLUMNS = {
    "crash_unit_id",
    "crash_record_id",
    "crash_date",
    "unit_no",
    "unit_type",
    "vehicle_id",
    "num_passengers",
    "occupant_cnt",
}
PERSON_ID_COLUMNS = {"person_id", "person_type", "crash_record_id", "vehicle_id", "crash_date", "injury_classification"}


def _round(p: np.ndarray | list[float]) -> list[float]:
    """Probabilities with 5 significant digits: small file, no visible loss."""
    return [float(f"{x:.5g}") for x in np.asarray(p, dtype=float)]


def _norm(counts: np.ndarray) -> np.ndarray:
    total = counts.sum()
    return counts / total if total else np.full(len(counts), 1 / max(len(counts), 1))


def marginal(con: duckdb.DuckDBPyConnection, table: str, col: str, where: str = "true") -> dict[str, Any]:
    """Value vocabulary (null included) with frequencies, most frequent first."""
    rows = con.execute(
        f'SELECT "{col}", count(*) AS n FROM {table} WHERE {where} '  # noqa: S608 - names from code
        f"GROUP BY ALL ORDER BY n DESC, 1 NULLS LAST LIMIT {MAX_VOCAB}"
    ).fetchall()
    counts = np.array([r[1] for r in rows], dtype=float)
    return {"values": [r[0] for r in rows], "p": _round(_norm(counts))}


def conditional(
    con: duckdb.DuckDBPyConnection, table: str, col: str, given: str, prior: float = 0.0, where: str = "true"
) -> dict[str, Any]:
    """P(col | given) as one probability row per parent value, plus the marginal for unseen parents.

    `prior` adds that many pseudo-rows of the marginal to each parent (smoothing for small samples).
    """
    base = marginal(con, table, col, where)
    values = base["values"]
    index = {v: i for i, v in enumerate(values)}
    rows = con.execute(
        f'SELECT "{given}", "{col}", count(*) FROM {table} WHERE {where} GROUP BY ALL'  # noqa: S608
    ).fetchall()
    parents: dict[Any, np.ndarray] = {}
    for g, v, n in rows:
        if v in index:
            parents.setdefault(g, np.zeros(len(values)))[index[v]] += n
    marg = np.array(base["p"])
    ordered = sorted(parents, key=lambda g: (g is None, str(g)))
    return {
        "given": given,
        "values": values,
        "marginal": base["p"],
        "parents": ordered,
        "p": [_round(_norm(parents[g] + prior * marg)) for g in ordered],
    }


def load_crashes(con: duckdb.DuckDBPyConnection, data: Path) -> None:
    """Real crashes, deduplicated on the key (unordered paging repeated 1,926 of them)."""
    files = str(data / "crashes_real" / "*.jsonl.gz")
    cols = ", ".join(f'"{c}"' for c in CRASHES.columns if c != "location")
    con.execute(
        f"CREATE TEMP TABLE all_rows AS SELECT {cols} FROM read_ndjson_auto('{files}', "  # noqa: S608
        "union_by_name=true, sample_size=-1)"
    )
    # Of a repeated record, the same copy wins every run (ordering only the repeated few).
    con.execute(
        """
        CREATE TABLE c AS
        WITH dups AS (SELECT crash_record_id FROM all_rows GROUP BY 1 HAVING count(*) > 1)
        SELECT * FROM all_rows WHERE crash_record_id NOT IN (SELECT crash_record_id FROM dups)
        UNION ALL
        SELECT * FROM (SELECT DISTINCT ON (crash_record_id) * FROM all_rows
                       WHERE crash_record_id IN (SELECT crash_record_id FROM dups) ORDER BY ALL)
        """
    )
    con.execute("DROP TABLE all_rows")
    con.execute("ALTER TABLE c ADD COLUMN ts TIMESTAMP")
    con.execute("UPDATE c SET ts = TRY_CAST(crash_date AS TIMESTAMP)")


def time_stats(con: duckdb.DuckDBPyConnection) -> dict[str, Any]:
    """Hour × weekday and month shapes, minutes (reports round to :00/:30) and daily counts."""
    how = np.zeros((7, 24))
    for dow, hour, n in con.execute(
        "SELECT dayofweek(ts), hour(ts), count(*) FROM c WHERE ts IS NOT NULL GROUP BY ALL"
    ).fetchall():
        how[dow, hour] = n
    full_years = "year(ts) BETWEEN 2016 AND 2024"
    month = np.zeros(12)
    for m, n in con.execute(f"SELECT month(ts), count(*) FROM c WHERE {full_years} GROUP BY ALL").fetchall():  # noqa: S608
        month[m - 1] = n
    minute = np.zeros(60)
    for m, n in con.execute("SELECT minute(ts), count(*) FROM c WHERE ts IS NOT NULL GROUP BY ALL").fetchall():
        minute[m] = n
    daily = con.execute(
        "SELECT avg(n), stddev(n) FROM (SELECT ts::DATE d, count(*) n FROM c "
        "WHERE year(ts) BETWEEN 2022 AND 2024 GROUP BY d)"
    ).fetchone()
    assert daily is not None
    return {
        # rows: day of week 0 = Sunday (the portal's crash_day_of_week is this + 1)
        "hour_by_weekday": [_round(_norm(r)) for r in how],
        "weekday": _round(_norm(how.sum(axis=1))),
        "month": _round(_norm(month)),
        "minute": _round(_norm(minute)),
        "crashes_per_day": {"mean": round(daily[0], 1), "sd": round(daily[1], 1), "years": "2022-2024"},
    }


def police_delay(con: duckdb.DuckDBPyConnection) -> dict[str, Any]:
    """Quantiles of crash → police-notified delay (minutes), separately for hit-and-runs."""
    qs = [i / 100 for i in range(100)] + [0.999]
    out = {}
    for label, cond in (("hit_and_run", "hit_and_run_i = 'Y'"), ("other", "hit_and_run_i IS DISTINCT FROM 'Y'")):
        q = con.execute(
            "SELECT quantile_cont(d, ?) FROM (SELECT date_diff('minute', ts, "  # noqa: S608
            f"TRY_CAST(date_police_notified AS TIMESTAMP)) d FROM c WHERE {cond}) WHERE d >= 0",
            [qs],
        ).fetchone()
        assert q is not None
        # the last percentile is years (records amended much later): cap the tail at p99.9
        out[label] = [round(float(x), 1) for x in q[0]]
    return {"at": qs, "minutes": out}


def place_stats(con: duckdb.DuckDBPyConnection) -> dict[str, Any]:
    """Beats with weight, median point and spread; their busiest streets; location gaps."""
    beats = con.execute(
        """
        SELECT beat_of_occurrence, count(*) n, median(lat), median(lng),
               (quantile_cont(lat, 0.75) - quantile_cont(lat, 0.25)) / 1.349,
               (quantile_cont(lng, 0.75) - quantile_cont(lng, 0.25)) / 1.349,
               quantile_disc(TRY_CAST(street_no AS INTEGER), [0.05, 0.25, 0.5, 0.75, 0.95])
        FROM (SELECT *, CASE WHEN ok THEN y END lat, CASE WHEN ok THEN x END lng
              FROM (SELECT *, TRY_CAST(latitude AS DOUBLE) y, TRY_CAST(longitude AS DOUBLE) x,
                           TRY_CAST(latitude AS DOUBLE) BETWEEN 41.6 AND 42.1 ok FROM c))
        WHERE beat_of_occurrence IS NOT NULL
        GROUP BY beat_of_occurrence HAVING count(lat) >= 20
        ORDER BY n DESC, beat_of_occurrence
        """
    ).fetchall()
    streets = con.execute(
        f"""
        SELECT beat_of_occurrence, street_name, street_direction, n FROM (
            SELECT beat_of_occurrence, street_name, street_direction, count(*) n,
                   row_number() OVER (PARTITION BY beat_of_occurrence
                                      ORDER BY count(*) DESC, street_name, street_direction) r
            FROM c WHERE street_name IS NOT NULL GROUP BY beat_of_occurrence, street_name, street_direction)
        WHERE r <= {TOP_STREETS_PER_BEAT} ORDER BY beat_of_occurrence, r
        """  # noqa: S608 - a constant
    ).fetchall()
    by_beat: dict[str, list[list[Any]]] = {}
    for beat, name, direction, n in streets:
        by_beat.setdefault(beat, []).append([name, direction, n])
    total = sum(b[1] for b in beats)
    gaps = con.execute(
        "SELECT avg((latitude IS NULL)::INT), avg((latitude = '0')::INT), "
        "avg((TRY_CAST(latitude AS DOUBLE) NOT BETWEEN 41.6 AND 42.1 AND latitude <> '0')::INT) FROM c"
    ).fetchone()
    assert gaps is not None
    return {
        "beats": [
            {
                "beat": b[0],
                "p": float(f"{b[1] / total:.5g}"),
                "lat": round(b[2], 6),
                "lng": round(b[3], 6),
                "lat_sd": round(min(b[4] or 0.005, 0.02), 6),
                "lng_sd": round(min(b[5] or 0.005, 0.02), 6),
                "street_no_q": [int(x) if x is not None else None for x in b[6]],
                "streets": [[s[0], s[1], float(f"{s[2]:.4g}")] for s in by_beat.get(b[0], [])],
            }
            for b in beats
        ],
        "p_location_missing": round(gaps[0], 6),
        "p_location_zero": round(gaps[1], 6),
        "p_location_outside": round(gaps[2] or 0.0, 6),
    }


def injury_stats(con: duckdb.DuckDBPyConnection) -> dict[str, Any]:
    """The most common injury-count profiles, conditional on first_crash_type, plus no-indication counts."""
    parts = ", ".join(f"COALESCE(TRY_CAST({p} AS INTEGER), 0)" for p in INJURY_PARTS)
    con.execute(
        f"CREATE TEMP TABLE inj AS SELECT first_crash_type, [{parts}] prof, "  # noqa: S608
        "TRY_CAST(injuries_no_indication AS INTEGER) no_ind, TRY_CAST(injuries_unknown AS INTEGER) unk, "
        "injuries_total IS NULL missing FROM c"
    )
    profiles = [
        r[0]
        for r in con.execute(
            f"SELECT prof, count(*) n FROM inj GROUP BY prof ORDER BY n DESC, prof LIMIT {INJURY_PROFILES}"  # noqa: S608
        ).fetchall()
    ]
    index = {tuple(p): i for i, p in enumerate(profiles)}
    table: dict[Any, np.ndarray] = {}
    for fct, prof, n in con.execute("SELECT first_crash_type, prof, count(*) FROM inj GROUP BY ALL").fetchall():
        if tuple(prof) in index:
            table.setdefault(fct, np.zeros(len(profiles)))[index[tuple(prof)]] += n
    parents = sorted(table, key=lambda g: (g is None, str(g)))
    no_ind = con.execute(
        "SELECT no_ind, count(*) FROM inj WHERE no_ind IS NOT NULL GROUP BY ALL ORDER BY 2 DESC, 1 LIMIT 15"
    ).fetchall()
    unk = con.execute("SELECT avg((unk > 0)::INT) FROM inj").fetchone()
    missing = con.execute("SELECT avg(missing::INT) FROM inj").fetchone()
    assert unk is not None and missing is not None
    return {
        "parts": list(INJURY_PARTS),
        "profiles": profiles,
        "given": "first_crash_type",
        "parents": parents,
        "p": [_round(_norm(table[g])) for g in parents],
        "marginal": _round(_norm(sum(table.values()))),
        "no_indication": {"values": [r[0] for r in no_ind], "p": _round(_norm(np.array([r[1] for r in no_ind])))},
        "p_unknown": round(unk[0], 6),
        "p_missing": round(missing[0], 6),
    }


def hit_and_run_model(con: duckdb.DuckDBPyConnection) -> dict[str, Any]:
    """A logistic model of P(hit-and-run | scene conditions), fitted on the recent years.

    One-hot features with L2; the coefficients are the generator's log-odds contributions, so
    generated crashes carry the same dependence the real ones do (what the ML stage must learn).
    """
    from scipy import sparse
    from sklearn.linear_model import LogisticRegression

    lo, hi = HIT_AND_RUN_YEARS
    cols = ", ".join(f'"{f}"' for f in HIT_AND_RUN_FEATURES)
    rows = con.execute(
        f"SELECT {cols}, hit_and_run_i = 'Y' FROM c WHERE year(ts) BETWEEN {lo} AND {hi} ORDER BY crash_record_id"  # noqa: S608
    ).fetchnumpy()
    y = np.asarray(rows["(hit_and_run_i = 'Y')"], dtype=float)
    y = np.nan_to_num(y)
    blocks, vocab = [], []
    for f in HIT_AND_RUN_FEATURES:
        vals = np.asarray(rows[f], dtype=object)
        uniq, codes = np.unique(vals.astype(str), return_inverse=True)
        counts = np.bincount(codes)
        keep = counts >= 30  # rare values get no coefficient of their own (contribution 0)
        col_of = np.cumsum(keep) - 1
        data = keep[codes]
        m = sparse.csr_matrix(
            (np.ones(int(data.sum())), (np.nonzero(data)[0], col_of[codes][data])),
            shape=(len(codes), int(keep.sum())),
        )
        blocks.append(m)
        vocab.append([None if u == "None" else u for u in uniq[keep]])
    x = sparse.hstack(blocks).tocsr()
    model = LogisticRegression(C=1.0, max_iter=500)
    model.fit(x, y)
    coef = model.coef_[0]
    out, start = {}, 0
    for f, vals in zip(HIT_AND_RUN_FEATURES, vocab, strict=True):
        out[f] = {"values": vals, "coef": [round(float(c), 4) for c in coef[start : start + len(vals)]]}
        start += len(vals)
    share_by_type = con.execute(
        f"SELECT first_crash_type, avg(COALESCE(hit_and_run_i = 'Y', false)::INT), count(*) FROM c "  # noqa: S608
        f"WHERE year(ts) BETWEEN {lo} AND {hi} GROUP BY ALL ORDER BY 3 DESC"
    ).fetchall()
    p_no = con.execute(
        f"SELECT avg(COALESCE(hit_and_run_i = 'N', false)::INT) FROM c WHERE hit_and_run_i IS DISTINCT FROM 'Y' "  # noqa: S608
        f"AND year(ts) BETWEEN {lo} AND {hi}"
    ).fetchone()
    assert p_no is not None
    return {
        "years": [lo, hi],
        "share": round(float(y.mean()), 4),
        "intercept": round(float(model.intercept_[0]), 4),
        "features": out,
        # when not a hit-and-run, the flag is 'N' this often and absent otherwise (as delivered)
        "p_flag_n_when_not": round(p_no[0], 5),
        "share_by_first_crash_type": {r[0]: round(r[1], 4) for r in share_by_type if r[2] >= 200},
    }


def _types(data: Path) -> dict[str, dict[str, str]]:
    """Socrata column types (text / number / calendar_date / point), for SoQL comparisons."""
    meta = data / "socrata_metadata_woiny27"
    out: dict[str, dict[str, str]] = {}
    for name, file in (("crashes", "socrata_columns_api.json"), ("vehicles", "socrata_vehicles_api.json")):
        cols = json.loads((meta / file).read_text())
        out[name] = {c["fieldName"]: c["dataTypeName"] for c in cols}
    # No People metadata was published with the samples: the portal's types for its few non-text fields.
    out["people"] = {c: "text" for c in PEOPLE.columns} | {
        "vehicle_id": "number",
        "crash_date": "calendar_date",
        "age": "number",
        "bac_result_value": "number",
    }
    return out


def units_stats(con: duckdb.DuckDBPyConnection, data: Path) -> dict[str, Any]:
    """Vehicles and people vocabularies from the linked sample, conditional on each unit's role.

    Roles: the unit/person type, plus FLEEING for the hit-and-run unit whose make is UNKNOWN (and
    its driver), which is how the portal records a driver who left the scene.
    """
    linked = data / "linked_2021-12_faithhunja"
    for t, f in (
        ("lc", "traffic_crashes.csv"),
        ("lv", "traffic_crash_vehicle.csv"),
        ("lp", "traffic_crash_people.csv"),
    ):
        con.execute(f"CREATE TABLE {t} AS SELECT * FROM read_csv(?, all_varchar=true)", [str(linked / f)])  # noqa: S608
    con.execute(
        """
        CREATE TABLE v AS SELECT lv.*, CASE WHEN lc.hit_and_run_i = 'Y' AND lv.unit_type = 'DRIVER'
            AND lv.make = 'UNKNOWN' THEN 'FLEEING' ELSE COALESCE(lv.unit_type, 'DRIVER') END AS role,
            lc.first_crash_type
        FROM lv LEFT JOIN lc USING (crash_record_id)
        """
    )
    con.execute(
        """
        CREATE TABLE p AS SELECT lp.*, CASE WHEN v.role = 'FLEEING' AND lp.person_type = 'DRIVER'
            THEN 'FLEEING' ELSE lp.person_type END AS role
        FROM lp LEFT JOIN v ON lp.vehicle_id = v.vehicle_id AND lp.person_id LIKE 'O%'
        """
    )
    vcols = [c for c in VEHICLES.columns if c not in UNIT_ID_COLUMNS]
    pcols = [c for c in PEOPLE.columns if c not in PERSON_ID_COLUMNS]
    vehicles = {c: conditional(con, "v", c, "role", prior=0.0) for c in vcols if c != "model"}
    vehicles["model"] = conditional(con, "v", "model", "make")
    vehicles["num_passengers"] = conditional(con, "v", "num_passengers", "role")
    people = {c: conditional(con, "p", c, "role") for c in pcols if c != "zipcode"}
    people["zipcode"] = conditional(con, "p", "zipcode", "city")
    # Later units of a crash: their type depends on how the crash happened (parked car, pedestrian).
    later = conditional(
        con,
        "v",
        "unit_type",
        "first_crash_type",
        prior=3.0,
        where="TRY_CAST(unit_no AS INTEGER) > 1 AND first_crash_type IS NOT NULL",
    )
    first = marginal(con, "v", "unit_type", "TRY_CAST(unit_no AS INTEGER) = 1 AND unit_type IS NOT NULL")
    hr_units = con.execute(
        "SELECT count(DISTINCT crash_record_id) FILTER (WHERE role = 'FLEEING') / count(DISTINCT crash_record_id) "
        "FROM v JOIN lc USING (crash_record_id) WHERE lc.hit_and_run_i = 'Y'"
    ).fetchone()
    # Which roles carry a vehicle id and an 'O' person (driver, pedestrian, cyclist), and its type.
    role_rows = con.execute(
        """
        SELECT role, avg((vehicle_id IS NOT NULL)::INT),
               avg((SELECT count(*) FROM p WHERE p.person_id = 'O' || v.crash_unit_id)::DOUBLE),
               (SELECT mode(p.person_type) FROM p JOIN v v2 ON p.person_id = 'O' || v2.crash_unit_id
                WHERE v2.role = v.role)
        FROM v GROUP BY role ORDER BY role
        """
    ).fetchall()
    assert hr_units is not None
    return {
        "vehicles": vehicles,
        "people": people,
        "unit_type_first": first,
        "unit_type_later": later,
        "p_fleeing_unit_in_hit_and_run": round(hr_units[0], 4),
        "roles": {
            r[0]: {"p_vehicle_id": round(r[1], 4), "p_person": round(r[2], 4), "person_type": r[3]} for r in role_rows
        },
    }


def derive(data: Path) -> dict[str, Any]:
    con = duckdb.connect()
    load_crashes(con, data)
    n_rows = con.execute("SELECT count(*) FROM c").fetchone()
    crashes: dict[str, Any] = {c: marginal(con, "c", c) for c in CRASH_MARGINALS}
    for col, given in CRASH_CONDITIONALS.items():
        crashes[col] = conditional(con, "c", col, given)
    stats = {
        "about": "Aggregates derived from the City of Chicago traffic-crash samples by "
        "ingestion/devserver/derive_stats.py; no records.",
        "source_rows": {"crashes": n_rows[0] if n_rows else 0, "linked_sample": 1000},
        "types": _types(data),
        "crashes": crashes,
        "time": time_stats(con),
        "police_delay": police_delay(con),
        "place": place_stats(con),
        "injuries": injury_stats(con),
        "hit_and_run": hit_and_run_model(con),
        "units": units_stats(con, data),
    }
    return stats


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="the shared chicago folder")
    parser.add_argument("--out", type=Path, default=STATS_PATH)
    args = parser.parse_args()
    if not (args.data / "crashes_real").is_dir():
        raise SystemExit(f"error: no crashes_real folder under {args.data} (pass --data)")
    t0 = time.time()
    stats = derive(args.data)
    args.out.write_text(json.dumps(stats, separators=(",", ":"), ensure_ascii=False) + "\n")
    print(f"wrote {args.out} ({args.out.stat().st_size / 1024:.0f} KiB) in {time.time() - t0:.0f} s")


if __name__ == "__main__":
    main()
