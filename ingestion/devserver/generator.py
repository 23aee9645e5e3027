"""Realistic synthetic crashes, vehicles and people, shaped by the committed real-data statistics.

Everything is a string, as the Socrata API delivers it. Columns are drawn whole with numpy/Arrow
(see sampling.py) in a fixed order, so the same seed gives byte-identical tables, and dependent
fields are drawn after what they depend on: weather after month, lighting after hour, surface
after weather, crash type after injuries, the hit-and-run flag from a logistic model fitted on the
real crashes, and each unit's details after its role (the fleeing driver is mostly unknown).
"""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from ingestion.datasets import CRASHES, PEOPLE, VEHICLES
from ingestion.devserver import sampling as s

INJURY_CLASSES = (
    "FATAL",
    "INCAPACITATING INJURY",
    "NONINCAPACITATING INJURY",
    "REPORTED, NOT EVIDENT",
)
NO_INJURY = "NO INDICATION OF INJURY"

ID_BLOCK = 10**9  # unit/vehicle/passenger numbers: seed-specific blocks, so batches never collide


def _daily_counts(rng: np.random.Generator, days: np.ndarray, per_day: int, time: dict[str, Any]) -> np.ndarray:
    """Crashes per day with the real weekday and month shape (and a little day-to-day noise)."""
    weekday = np.asarray(time["weekday"]) * 7  # index 0 = Sunday
    month = np.asarray(time["month"]) * 12
    dt = days.astype("datetime64[D]")
    dow0 = (dt.astype(np.int64) + 4) % 7  # 1970-01-01 was a Thursday (index 4 from Sunday)
    mon = dt.astype("datetime64[M]").astype(np.int64) % 12
    lam = per_day * weekday[dow0] * month[mon] * rng.gamma(150.0, 1 / 150.0, len(days))
    return rng.poisson(lam)


Column = pa.Array | s.Coded


def _arrow(col: Column) -> pa.Array:
    return col.to_arrow() if isinstance(col, s.Coded) else col


def _injuries(rng: np.random.Generator, stats: dict[str, Any], cols: dict[str, Column], n: int) -> None:
    """Injury counts from real profiles (given the crash type); total and worst injury follow."""
    inj = stats["injuries"]
    profiles = np.asarray(inj["profiles"], dtype=np.int64)
    table = np.vstack([np.asarray(inj["p"]), np.asarray(inj["marginal"])[None, :]])
    parts = profiles[s.draw_rows(rng, table, s.parent_rows(cols["first_crash_type"], inj["parents"]))]
    no_ind = np.asarray(inj["no_indication"]["values"])[s.draw_codes(rng, inj["no_indication"]["p"], n)]
    unknown = (rng.random(n) < inj["p_unknown"]).astype(np.int64)
    present = rng.random(n) >= inj["p_missing"]
    for name, values in zip(inj["parts"], parts.T, strict=True):
        cols[name] = s.int_strings(values, present)
    cols["injuries_total"] = s.int_strings(parts.sum(axis=1), present)
    cols["injuries_no_indication"] = s.int_strings(no_ind, present)
    cols["injuries_unknown"] = s.int_strings(unknown, present)
    worst = np.where(parts > 0, np.arange(4), 4).min(axis=1)  # first non-zero class, 4 = none
    cols["most_severe_injury"] = s.Coded(np.where(present, worst, 5), [*INJURY_CLASSES, NO_INJURY, None])


def _place(rng: np.random.Generator, stats: dict[str, Any], cols: dict[str, Column], n: int) -> None:
    """Beat, a point around the beat's median, and one of the beat's busiest streets."""
    place = stats["place"]
    beats = place["beats"]
    b = s.draw_codes(rng, [x["p"] for x in beats], n)
    cols["beat_of_occurrence"] = s.Coded(b, [x["beat"] for x in beats])
    centre = np.asarray([[x["lat"], x["lng"]] for x in beats])[b]
    spread = np.asarray([[x["lat_sd"], x["lng_sd"]] for x in beats])[b]
    lat, lng = (centre + rng.standard_normal((n, 2)) * spread).T
    lat, lng = np.round(lat, 12), np.round(lng, 12)
    u = rng.random(n)
    zero = u < place["p_location_zero"]
    missing = (u >= place["p_location_zero"]) & (u < place["p_location_zero"] + place["p_location_missing"])
    lat[zero], lng[zero] = 0.0, 0.0
    valid = pa.array(~missing)
    lat_s = pc.cast(pa.array(np.round(lat, 10)), pa.string())
    lng_s = pc.cast(pa.array(np.round(lng, 10)), pa.string())
    point = pc.binary_join_element_wise(
        '{"type":"Point","coordinates":[',
        pc.cast(pa.array(np.where(zero, 0, lng)), pa.string()),
        ",",
        pc.cast(pa.array(np.where(zero, 0, lat)), pa.string()),
        "]}",
        "",
    )
    # Arrow prints 0.0 as "0"; the portal also writes [0,0] for its zero points.
    nulls = pa.nulls(n, pa.string())
    cols["latitude"] = pc.if_else(valid, lat_s, nulls)
    cols["longitude"] = pc.if_else(valid, lng_s, nulls)
    cols["location"] = pc.if_else(valid, point, nulls)
    width = max(len(x["streets"]) for x in beats)
    weights = np.zeros((len(beats) + 1, width))
    names = np.full((len(beats), width), None, dtype=object)
    dirs = np.full((len(beats), width), None, dtype=object)
    for i, x in enumerate(beats):
        for j, (name, direction, w) in enumerate(x["streets"]):
            weights[i, j], names[i, j], dirs[i, j] = w, name, direction
    weights[:, 0] += weights.sum(axis=1) == 0  # a beat without streets: first slot (null)
    j = s.draw_rows(rng, weights, b)
    cols["street_name"] = pa.array(names[b, j], pa.string())
    cols["street_direction"] = pa.array(dirs[b, j], pa.string())
    q = np.asarray([[v if v is not None else 0 for v in x["street_no_q"]] for x in beats], dtype=float)
    pos = rng.random(n) * (q.shape[1] - 1)
    lo = np.floor(pos).astype(np.int64)
    hi = np.minimum(lo + 1, q.shape[1] - 1)
    street_no = np.round(q[b, lo] + (pos - lo) * (q[b, hi] - q[b, lo])).astype(np.int64)
    cols["street_no"] = s.int_strings(np.maximum(street_no, 1))


def hit_and_run_logit(stats: dict[str, Any], cols: dict[str, Column] | pa.Table) -> np.ndarray:
    """Log-odds of a hit-and-run from the scene conditions, minus the intercept."""
    model = stats["hit_and_run"]
    n = len(cols[next(iter(model["features"]))])
    logit = np.zeros(n)
    for feature, spec in model["features"].items():
        coef = np.append(np.asarray(spec["coef"]), 0.0)  # unseen values contribute nothing
        logit += coef[s.parent_rows(cols[feature], spec["values"])]
    return logit


def _calibrated_intercept(logit: np.ndarray, share: float) -> float:
    """The intercept that makes the mean probability equal the real share (Newton steps)."""
    b = float(np.log(share / (1 - share)))
    for _ in range(30):
        p = 1 / (1 + np.exp(-(logit + b)))
        step = (p.mean() - share) / max(float((p * (1 - p)).mean()), 1e-9)
        b -= step
        if abs(step) < 1e-10:
            break
    return b


def _draw_ready(rng: np.random.Generator, specs: dict[str, Any], cols: dict[str, Column], n: int) -> None:
    """Draw, in stats order, every column whose parent is already drawn (until none is left)."""
    progress = True
    while progress:
        progress = False
        for name, spec in specs.items():
            given = spec.get("given")
            if name not in cols and (given is None or given in cols):
                cols[name] = s.categorical(rng, spec, n, cols[given] if given else None)
                progress = True


def generate_crashes(start: date, end: date, crashes_per_day: int, seed: int) -> pa.Table:
    """Crashes with crash_date in [start, end): every crash column, as strings, like the API."""
    stats = s.load_stats()
    rng = np.random.default_rng([seed, 1])
    days = np.arange(np.datetime64(start, "D"), np.datetime64(end, "D")).astype(np.int64)
    counts = _daily_counts(rng, days, crashes_per_day, stats["time"])
    day = np.repeat(days, counts)
    n = len(day)
    dow0 = (day + 4) % 7
    hour = s.draw_rows(rng, np.asarray(stats["time"]["hour_by_weekday"]), dow0)
    minute = s.draw_codes(rng, stats["time"]["minute"], n)
    seconds = day * 86400 + hour.astype(np.int64) * 3600 + minute.astype(np.int64) * 60
    order = np.argsort(seconds, kind="stable")
    seconds, hour, dow0 = seconds[order], hour[order], dow0[order]
    month = day[order].astype("datetime64[D]").astype("datetime64[M]").astype(np.int64) % 12 + 1

    cols: dict[str, Column] = {
        "crash_record_id": s.hex_ids(rng, n),
        "crash_date": s.timestamps(seconds),
        "crash_hour": s.Coded(hour, [str(h) for h in range(24)]),
        "crash_day_of_week": s.Coded(dow0, [str(d) for d in range(1, 8)]),
        "crash_month": s.Coded(month - 1, [str(m) for m in range(1, 13)]),
    }
    _draw_ready(rng, stats["crashes"], cols, n)
    _injuries(rng, stats, cols, n)
    _draw_ready(rng, stats["crashes"], cols, n)  # crash type after injuries, damage after crash type
    _place(rng, stats, cols, n)

    model = stats["hit_and_run"]
    logit = hit_and_run_logit(stats, cols)
    logit += _calibrated_intercept(logit, model["share"])
    hit = rng.random(n) < 1 / (1 + np.exp(-logit))
    flag_n = rng.random(n) < model["p_flag_n_when_not"]
    cols["hit_and_run_i"] = s.Coded(np.where(hit, 0, np.where(flag_n, 1, 2)), ["Y", "N", None])

    delay = stats["police_delay"]
    minutes = np.where(
        hit,
        s.from_percentiles(rng, delay["at"], delay["minutes"]["hit_and_run"], n),
        s.from_percentiles(rng, delay["at"], delay["minutes"]["other"], n),
    )
    cols["date_police_notified"] = s.timestamps(seconds + np.maximum(np.round(minutes), 1).astype(np.int64) * 60)
    return pa.table({c: _arrow(cols[c]) for c in CRASHES.columns})


def _group_rank(group: np.ndarray) -> np.ndarray:
    """0, 1, 2 … within runs of equal, sorted group ids."""
    idx = np.arange(len(group))
    starts = np.r_[0, np.flatnonzero(np.diff(group)) + 1]
    return idx - np.repeat(starts, np.diff(np.r_[starts, len(group)]))


def _roles(
    rng: np.random.Generator,
    units: dict[str, Any],
    crash_idx: np.ndarray,
    unit_no: np.ndarray,
    first_crash_type: pa.Array,
    hit: np.ndarray,
) -> tuple[np.ndarray, list[str]]:
    """Unit roles as codes into a vocabulary: unit 1 mostly a driver, later units by crash type,
    and in a hit-and-run, often the first driver is the one who left (role FLEEING)."""
    first, later = units["unit_type_first"], units["unit_type_later"]
    vocab = sorted({v for v in (*first["values"], *later["values"]) if v} | {"DRIVER", "FLEEING"})
    code = {v: i for i, v in enumerate(vocab)}
    first_codes = np.array([code.get(v, code["DRIVER"]) if v else code["DRIVER"] for v in first["values"]])
    later_codes = np.array([code.get(v, code["DRIVER"]) if v else code["DRIVER"] for v in later["values"]])
    n = len(crash_idx)
    role_first = first_codes[s.draw_codes(rng, first["p"], n)]
    table = np.vstack([np.asarray(later["p"]), np.asarray(later["marginal"])[None, :]])
    fct = pc.take(first_crash_type, pa.array(crash_idx))
    role_later = later_codes[s.draw_rows(rng, table, s.parent_rows(fct, later["parents"]))]
    role = np.where(unit_no == 1, role_first, role_later)
    flees = hit[crash_idx] & (rng.random(n) < units["p_fleeing_unit_in_hit_and_run"])
    return np.where(flees & (role == code["DRIVER"]) & (unit_no == 1), code["FLEEING"], role), vocab


def _role_flags(units: dict[str, Any], vocab: list[str]) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Per role: carries a vehicle id, carries an 'O' person, and that person's type."""
    info = units["roles"]
    has_vehicle = np.array([info.get(r, {}).get("p_vehicle_id", 1.0) > 0.5 for r in vocab])
    has_person = np.array([info.get(r, {}).get("p_person", 0.0) > 0.5 for r in vocab])
    person_type = [info.get(r, {}).get("person_type") or r for r in vocab]
    return has_vehicle, has_person, person_type


def _columns_by_role(
    rng: np.random.Generator, specs: dict[str, Any], role: s.Coded, n: int, skip: set[str]
) -> dict[str, Column]:
    out: dict[str, Column] = {}
    for name, spec in specs.items():
        if name in skip:
            continue
        parent = role if spec["given"] == "role" else out[spec["given"]]
        out[name] = s.categorical(rng, spec, n, parent)
    return out


def _assign_injuries(
    crashes: pa.Table, crash_idx: np.ndarray, priority: np.ndarray, rng: np.random.Generator
) -> pa.Array:
    """Hand each crash's injury counts to its people, pedestrians and cyclists first."""
    parts = s.load_stats()["injuries"]["parts"]  # fatal, incapacitating, non-incap., reported: worst first
    counts = np.stack([_to_int(crashes[c], 0) for c in parts], axis=1)
    order = np.lexsort((rng.random(len(crash_idx)), priority, crash_idx))
    rank = np.empty(len(crash_idx), dtype=np.int64)
    rank[order] = _group_rank(crash_idx[order])
    bounds = np.cumsum(counts, axis=1)[crash_idx]
    cls = (rank[:, None] >= bounds).sum(axis=1)  # 0..3 injured classes, 4 = none
    return s.decode(cls, [*INJURY_CLASSES, NO_INJURY])


def _to_int(arr: pa.ChunkedArray | pa.Array, default: int) -> np.ndarray:
    """Whole numbers from delivered strings; missing or garbled values (real data has both) → default."""
    digits = pc.if_else(
        pc.match_substring_regex(arr, r"^\s*\d+\s*$"), pc.utf8_trim_whitespace(arr), pa.scalar(None, pa.string())
    )
    return pc.fill_null(pc.cast(digits, pa.int64()), default).to_numpy(zero_copy_only=False)


def generate_units(crashes: pa.Table, seed: int) -> tuple[pa.Table, pa.Table]:
    """Vehicles and people for the given crashes (generated or real), linked as the portal links them."""
    stats = s.load_stats()
    units = stats["units"]
    rng = np.random.default_rng([seed, 2])
    block = (1 + seed % 999) * ID_BLOCK
    n_crash = crashes.num_rows
    num_units = np.clip(_to_int(crashes["num_units"], 1), 1, 20)
    crash_idx = np.repeat(np.arange(n_crash), num_units)
    unit_no = _group_rank(crash_idx) + 1
    n = len(crash_idx)
    hit = pc.fill_null(pc.equal(crashes["hit_and_run_i"], "Y"), False).to_numpy(zero_copy_only=False)
    role, vocab = _roles(rng, units, crash_idx, unit_no, crashes["first_crash_type"].combine_chunks(), hit)
    vehicle_of_role, person_of_role, person_type_of_role = _role_flags(units, vocab)
    has_vehicle, has_person = vehicle_of_role[role], person_of_role[role]
    role_arr = s.Coded(role, vocab)

    crash_id = pc.take(crashes["crash_record_id"], pa.array(crash_idx))
    crash_date = pc.take(crashes["crash_date"], pa.array(crash_idx))
    unit_id = block + np.arange(n, dtype=np.int64)
    vehicle_seq = np.cumsum(has_vehicle) - 1
    vehicle_id = block + ID_BLOCK // 2 + vehicle_seq
    vcols = _columns_by_role(rng, units["vehicles"], role_arr, n, skip={"num_passengers"})
    passengers_spec = units["vehicles"]["num_passengers"]
    drawn = s.categorical(rng, passengers_spec, n, role_arr)
    as_int = np.array([int(float(v)) if v else 0 for v in drawn.values], dtype=np.int64)
    passengers = np.where(has_vehicle, as_int[drawn.codes], 0)
    passengers_s = s.int_strings(passengers, has_vehicle & (passengers > 0))
    vcols |= {
        "crash_unit_id": s.int_strings(unit_id),
        "crash_record_id": crash_id,
        "crash_date": crash_date,
        "unit_no": s.int_strings(unit_no),
        "unit_type": s.decode(role, [v if v != "FLEEING" else "DRIVER" for v in vocab]),
        "num_passengers": passengers_s,
        "vehicle_id": s.int_strings(vehicle_id, has_vehicle),
        "occupant_cnt": s.int_strings(has_person.astype(np.int64) + passengers, has_vehicle),
    }
    vehicles = pa.table({c: _arrow(vcols[c]) for c in VEHICLES.columns})

    # People: the unit's own person ('O' + unit id) and its passengers ('P' + a number).
    own = np.flatnonzero(has_person)
    pas_unit = np.repeat(np.arange(n), passengers)
    person_unit = np.r_[own, pas_unit]
    is_own = np.r_[np.ones(len(own), bool), np.zeros(len(pas_unit), bool)]
    order = np.lexsort((~is_own, person_unit))  # by unit, its driver first
    person_unit, is_own = person_unit[order], is_own[order]
    m = len(person_unit)
    passenger = len(vocab)  # one more role code for passengers
    person_role = np.where(is_own, role[person_unit], passenger)
    person_vocab = [*vocab, "PASSENGER"]
    person_type = s.decode(person_role, [*person_type_of_role, "PASSENGER"])
    pas_no = block + ID_BLOCK // 4 + np.cumsum(~is_own) - 1
    unit_ids = pc.cast(pa.array(unit_id[person_unit]), pa.string())
    person_id = pc.if_else(
        pa.array(is_own),
        pc.binary_join_element_wise("O", unit_ids, ""),
        pc.binary_join_element_wise("P", pc.cast(pa.array(pas_no), pa.string()), ""),
    )
    pcols = _columns_by_role(rng, units["people"], s.Coded(person_role, person_vocab), m, skip=set())
    # pedestrians and cyclists are hurt first; a driver who fled is not examined
    rank_of_role = np.array([{"PEDESTRIAN": 0, "BICYCLE": 0, "FLEEING": 3}.get(r, 1) for r in person_vocab])
    priority = rank_of_role[person_role]
    injury = _assign_injuries(crashes, crash_idx[person_unit], priority, rng)
    pcols |= {
        "person_id": person_id,
        "person_type": person_type,
        "crash_record_id": pc.take(crash_id, pa.array(person_unit)),
        "vehicle_id": pc.take(_arrow(vcols["vehicle_id"]), pa.array(person_unit)),
        "crash_date": pc.take(crash_date, pa.array(person_unit)),
        "injury_classification": injury,
    }
    people = pa.table({c: _arrow(pcols[c]) for c in PEOPLE.columns})
    return vehicles, people


def generate_tables(start: date, end: date, crashes_per_day: int, seed: int) -> dict[str, pa.Table]:
    """Crashes with their vehicles and people, by dataset name (what SocrataServer(tables=...) takes)."""
    crashes = generate_crashes(start, end, crashes_per_day, seed)
    vehicles, people = generate_units(crashes, seed)
    return {"crashes": crashes, "vehicles": vehicles, "people": people}


def generate_to_folder(out: Path, start: date, end: date, crashes_per_day: int, seed: int) -> str:
    """Write crashes/vehicles/people parquet files (the shape `serve-socrata --data` reads)."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    t0 = datetime.now()
    tables = generate_tables(start, end, crashes_per_day, seed)
    for name, table in tables.items():
        pq.write_table(table, out / f"{name}.parquet", compression="zstd")
    return summarize(*tables.values(), out=out, seconds=(datetime.now() - t0).total_seconds())


def summarize(
    crashes: pa.Table, vehicles: pa.Table, people: pa.Table, out: Path | None = None, seconds: float | None = None
) -> str:
    n = crashes.num_rows
    share = pc.sum(pc.equal(crashes["hit_and_run_i"], "Y")).as_py() or 0
    first, last = pc.min(crashes["crash_date"]).as_py(), pc.max(crashes["crash_date"]).as_py()
    where = f" into {out}" if out else ""
    took = f" in {seconds:.1f} s" if seconds is not None else ""
    return (
        f"generated {n:,} crashes, {vehicles.num_rows:,} vehicles and {people.num_rows:,} people{where}{took}; "
        f"hit-and-run share {share / max(n, 1):.1%}; crash_date {first} … {last}; "
        f"{vehicles.num_rows / max(n, 1):.2f} vehicles and {people.num_rows / max(n, 1):.2f} people per crash."
    )
