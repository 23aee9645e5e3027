"""A small feature mart in the contract's exact shape with a signal we planted, for fast unit tests.

Hit-and-run odds rise for parked-vehicle crashes, at night, and much more for both together (an
interaction a linear model cannot express), and vary by police beat (visible only through the
beat's history). The contract's columns are parsed from docs/contracts.md, so the frame follows
the contract rather than the model's own column list.
"""

from __future__ import annotations

import re
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd

CONTRACT = Path(__file__).resolve().parents[2] / "docs" / "contracts.md"
SQL_TYPES = {
    "VARCHAR": "varchar",
    "TIMESTAMP": "timestamp",
    "INTEGER": "integer",
    "BOOLEAN": "boolean",
    "DOUBLE": "double",
}


def contract_columns() -> dict[str, str]:
    """`marts.ml_hit_and_run_features` as docs/contracts.md defines it: column → SQL type."""
    text = CONTRACT.read_text()
    section = text.split("### `marts.ml_hit_and_run_features`", 1)[1].split("\n### ", 1)[0]
    columns: dict[str, str] = {}
    for names, sql_type in re.findall(r"^\| ([a-z_, ]+) \| ([A-Z]+) \|", section, flags=re.MULTILINE):
        for name in names.split(","):
            columns[name.strip()] = sql_type
    return columns


def mart_frame(years: range = range(2019, 2024), per_year: int = 3000, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    n = per_year * len(years)
    year = np.repeat(np.asarray(years), per_year)
    day = rng.integers(0, 365, n)
    day[-1] = 364  # the last year runs to 31 December, so it counts as a full year
    hour = rng.integers(0, 24, n)
    ts = pd.to_datetime(year.astype(str), format="%Y") + pd.to_timedelta(day, "D") + pd.to_timedelta(hour, "h")
    crash_types = np.array(["PARKED MOTOR VEHICLE", "REAR END", "TURNING", "ANGLE", "SIDESWIPE SAME DIRECTION"])
    first_crash_type = crash_types[rng.integers(0, len(crash_types), n)]
    beats = np.array([f"{1000 + 11 * i}" for i in range(40)])
    beat_idx = rng.integers(0, len(beats), n)
    beat_effect = np.linspace(-1.2, 1.2, len(beats))[beat_idx]
    parked = first_crash_type == "PARKED MOTOR VEHICLE"
    night = (hour < 6) | (hour >= 22)
    logit = -1.6 + 0.8 * parked + 0.4 * night + 1.6 * (parked & night) + beat_effect
    label = rng.random(n) < 1 / (1 + np.exp(-logit))
    lat = 41.75 + 0.2 * rng.random(n)
    lng = -87.75 + 0.15 * rng.random(n)
    imputed = rng.random(n) < 0.02
    lighting = np.where(night, "DARKNESS, LIGHTED ROAD", np.where(rng.random(n) < 0.9, "DAYLIGHT", "DUSK"))
    dow = ts.dayofweek.to_numpy()  # Monday = 0; the portal's 1 = Sunday
    frame = pd.DataFrame(
        {
            "crash_record_id": [f"{seed:02d}{i:010d}" for i in range(n)],
            "crash_ts": ts,
            "crash_year": year.astype("int32"),
            "is_hit_and_run": label,
            "crash_hour": hour.astype("int32"),
            "crash_day_of_week": ((dow + 1) % 7 + 1).astype("int32"),
            "crash_month": ts.month.astype("int32"),
            "is_weekend": dow >= 5,
            "season": np.array(["winter", "spring", "summer", "autumn"])[(ts.month.to_numpy() % 12) // 3],
            "hour_bin": np.array(["night", "morning", "midday", "evening", "late"])[np.digitize(hour, [6, 10, 16, 20])],
            "latitude": lat,
            "longitude": lng,
            "is_location_imputed": imputed,
            "lat_bin": np.floor(lat * 100) / 100,
            "lng_bin": np.floor(lng * 100) / 100,
            "beat_of_occurrence": beats[beat_idx],
            "posted_speed_limit": rng.choice([20, 25, 30, 35], n).astype("int32"),
            "num_units": np.where(rng.random(n) < 0.85, 2, rng.choice([1, 3], n)).astype("int32"),
            "lane_cnt": pd.array([None] * n, dtype="Int32"),
            "traffic_control_device": rng.choice(["NO CONTROLS", "TRAFFIC SIGNAL", "STOP SIGN/FLASHER"], n),
            "device_condition": rng.choice(["NO CONTROLS", "FUNCTIONING PROPERLY"], n),
            "weather_condition": rng.choice(["CLEAR", "RAIN", "SNOW"], n, p=[0.8, 0.15, 0.05]),
            "lighting_condition": lighting,
            "first_crash_type": first_crash_type,
            "trafficway_type": rng.choice(["NOT DIVIDED", "ONE-WAY", "PARKING LOT"], n),
            "alignment": "STRAIGHT AND LEVEL",
            "roadway_surface_cond": rng.choice(["DRY", "WET"], n),
            "road_defect": "NO DEFECTS",
            "street_direction": rng.choice(["N", "S", "E", "W"], n),
            "street_name": rng.choice([f"STREET {i}" for i in range(60)], n),
            "is_intersection_related": rng.random(n) < 0.2,
            "is_private_property": rng.random(n) < 0.05,
            "is_work_zone": rng.random(n) < 0.01,
            "is_crash_date_estimated": rng.random(n) < 0.05,
            "last_load_id": "1700000000.000000",
        }
    )
    return frame[list(contract_columns())]


def write_gold(frame: pd.DataFrame, path: Path, drop: tuple[str, ...] = ()) -> Path:
    """The frame as `marts.ml_hit_and_run_features` in a DuckDB file, typed as the contract says."""
    types = contract_columns()
    select = ", ".join(f'cast("{c}" as {SQL_TYPES[types[c]]}) as "{c}"' for c in frame.columns if c not in drop)
    con = duckdb.connect(str(path))
    try:
        con.register("frame", frame)
        con.execute("create schema if not exists marts")
        con.execute(f"create or replace table marts.ml_hit_and_run_features as select {select} from frame")  # noqa: S608
    finally:
        con.close()
    return path
