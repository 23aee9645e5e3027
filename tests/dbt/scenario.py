"""A second, small load on top of the real sample, written as export files for `ingest(replay)`:
amendments, new crashes with their units and people, a garbled crash, an orphan unit and a unit
whose type changed, new crashes that move the median location of a beat where an older
crash has no location of its own, and crashes (one new, one amended) whose crash_date cannot be
parsed. Everything an incremental build has to get right, in ~60 rows."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from tests.dbt.samples import LINKED, read_csv

UPDATED_AT = "2026-01-02T00:00:00.000Z"
AMENDED = 20
NEW = 30
# New crashes put at the city's north-east edge, in the beat of an older crash without a location:
# the beat's median moves, and so must that crash's imputed location, though no load touched it.
RELOCATING = 5
NORTH_EAST = ("42.02", "-87.53")


@dataclass
class SecondLoad:
    folder: Path
    amended: dict[str, bool] = field(default_factory=dict)  # crash id → is_hit_and_run after
    new_crashes: list[str] = field(default_factory=list)
    garbled_crash: str = "scenario-garbled-crash"
    garbled_beat: str = ""
    orphan_unit: str = "scenario-orphan-unit"
    retyped_vehicle_id: str = ""
    retyped_unit_type: str = "DRIVERLESS"
    retyped_people: list[str] = field(default_factory=list)
    unlocated_crash: str = ""
    relocating_beat: str = ""
    undatable_new_crash: str = "scenario-crash-with-an-unparseable-date"
    undatable_amended_crash: str = ""  # an older crash, without units or people, amended so


def _write(path: Path, records: list[dict]) -> None:
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")


def write_second_load(shared: Path, folder: Path) -> SecondLoad:
    folder.mkdir(parents=True, exist_ok=True)
    linked = shared / LINKED
    crashes = sorted(read_csv(linked / "traffic_crashes.csv"), key=lambda r: r["crash_record_id"])
    vehicles = read_csv(linked / "traffic_crash_vehicle.csv")
    people = read_csv(linked / "traffic_crash_people.csv")
    load = SecondLoad(folder)

    def as_delivered(row: dict[str, str]) -> dict[str, str]:
        return {k: v for k, v in row.items() if v != "" and k != "rd_no"}

    out_crashes: list[dict] = []
    for row in crashes[:AMENDED]:
        flipped = "N" if row["hit_and_run_i"] == "Y" else "Y"
        out_crashes.append(as_delivered(row) | {"hit_and_run_i": flipped, ":updated_at": UPDATED_AT})
        load.amended[row["crash_record_id"]] = flipped == "Y"
    # An older crash this load does not touch (not amended, not copied), with a beat but no location.
    unlocated = next(r for r in crashes[AMENDED + NEW :] if r["beat_of_occurrence"] and not r["latitude"])
    load.unlocated_crash, load.relocating_beat = unlocated["crash_record_id"], unlocated["beat_of_occurrence"]
    for i, row in enumerate(crashes[AMENDED : AMENDED + NEW]):
        crash_id = f"scenario-new-crash-{i:02d}"
        delivered = as_delivered(row) | {"crash_record_id": crash_id, ":updated_at": UPDATED_AT}
        if i < RELOCATING:
            latitude, longitude = NORTH_EAST
            delivered |= {
                "beat_of_occurrence": load.relocating_beat,
                "latitude": latitude,
                "longitude": longitude,
                "location": f"POINT ({longitude} {latitude})",
            }
        out_crashes.append(delivered)
        load.new_crashes.append(crash_id)
    located = next(r for r in crashes if r["latitude"] and r["beat_of_occurrence"])
    load.garbled_beat = located["beat_of_occurrence"]
    out_crashes.append(
        as_delivered(located)
        | {
            "crash_record_id": load.garbled_crash,
            "latitude": "abc",
            "longitude": "not a number",
            "posted_speed_limit": "fast",
            "hit_and_run_i": "maybe",
            ":updated_at": UPDATED_AT,
        }
    )

    # Rejected by staging, so out of gold: a new crash, and an amendment of an older one (which an
    # incremental build must take out of the facts that hold it, as a full refresh never has it).
    out_crashes.append(
        as_delivered(located) | {"crash_record_id": load.undatable_new_crash, "crash_date": "2021-12-32"}
    )
    linked_crashes = {v["crash_record_id"] for v in vehicles} | {p["crash_record_id"] for p in people}
    amended = next(r for r in reversed(crashes) if r["crash_record_id"] not in linked_crashes | {load.unlocated_crash})
    load.undatable_amended_crash = amended["crash_record_id"]
    out_crashes.append(as_delivered(amended) | {"crash_date": "not a date", ":updated_at": UPDATED_AT})

    out_vehicles: list[dict] = [
        {
            "crash_unit_id": f"scenario-unit-{i:02d}",
            "crash_record_id": crash_id,
            "crash_date": out_crashes[AMENDED + i]["crash_date"],
            "unit_no": "1",
            "unit_type": "DRIVER",
            "vehicle_id": f"scenario-vehicle-{i:02d}",
            ":updated_at": UPDATED_AT,
        }
        for i, crash_id in enumerate(load.new_crashes)
    ]
    out_vehicles.append(
        {
            "crash_unit_id": load.orphan_unit,
            "crash_record_id": "scenario-crash-that-never-arrived",
            "unit_type": "DRIVER",
            ":updated_at": UPDATED_AT,
        }
    )
    linked_people = {p["vehicle_id"] for p in people if p["vehicle_id"]}
    retyped = next(v for v in vehicles if v["vehicle_id"] in linked_people and v["unit_type"] != load.retyped_unit_type)
    load.retyped_vehicle_id = retyped["vehicle_id"]
    load.retyped_people = [p["person_id"] for p in people if p["vehicle_id"] == retyped["vehicle_id"]]
    out_vehicles.append(as_delivered(retyped) | {"unit_type": load.retyped_unit_type, ":updated_at": UPDATED_AT})

    out_people = [
        {
            "person_id": f"scenario-person-{i:02d}",
            "person_type": "DRIVER",
            "crash_record_id": crash_id,
            "vehicle_id": f"scenario-vehicle-{i:02d}",
            "crash_date": out_crashes[AMENDED + i]["crash_date"],
            "injury_classification": "NO INDICATION OF INJURY",
            ":updated_at": UPDATED_AT,
        }
        for i, crash_id in enumerate(load.new_crashes)
    ]
    _write(folder / "crashes.jsonl", out_crashes)
    _write(folder / "vehicles.jsonl", out_vehicles)
    _write(folder / "people.jsonl", out_people)
    return load
