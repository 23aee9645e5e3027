"""What the real sample files say, computed in plain Python (csv, json, statistics), so the
warehouse's answers are checked against an independent reading of the same files."""

from __future__ import annotations

import csv
import gzip
import json
import re
import statistics
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

# The bounding box the project's dbt vars define (dbt_project.yml: chicago_bbox).
BBOX = (41.64, 42.03, -87.95, -87.52)
LINKED = "linked_2021-12_faithhunja"
YEAR = 2016


def _number(text: str | None) -> float | None:
    try:
        return float(text) if text not in (None, "") else None
    except ValueError:
        return None


def _located(lat: float | None, lng: float | None) -> bool:
    return lat is not None and lng is not None and BBOX[0] <= lat <= BBOX[1] and BBOX[2] <= lng <= BBOX[3]


@dataclass
class CrashFacts:
    """One row per distinct crash id, as the files deliver them."""

    hit_and_run: Counter = field(default_factory=Counter)  # 'Y' / 'N' / '' per crash
    years: Counter = field(default_factory=Counter)
    locations: dict[str, tuple[float | None, float | None, str | None]] = field(default_factory=dict)

    def add(self, record: dict) -> None:
        crash_id = record["crash_record_id"]
        if crash_id in self.locations:
            return
        self.hit_and_run[record.get("hit_and_run_i") or ""] += 1
        self.years[record["crash_date"][:4]] += 1
        self.locations[crash_id] = (
            _number(record.get("latitude")),
            _number(record.get("longitude")),
            record.get("beat_of_occurrence") or None,
        )

    @property
    def count(self) -> int:
        return len(self.locations)

    def beat_medians(self) -> dict[str, tuple[float, float]]:
        by_beat: dict[str, list[tuple[float, float]]] = {}
        for lat, lng, beat in self.locations.values():
            if beat and _located(lat, lng):
                by_beat.setdefault(beat, []).append((lat, lng))  # type: ignore[arg-type]
        return {
            beat: (statistics.median(p[0] for p in points), statistics.median(p[1] for p in points))
            for beat, points in by_beat.items()
        }

    def unusable_locations(self) -> dict[str, str | None]:
        """crash id → beat, for crashes whose location is missing or outside Chicago."""
        return {cid: beat for cid, (lat, lng, beat) in self.locations.items() if not _located(lat, lng)}


@dataclass
class SampleFacts:
    crashes: CrashFacts
    vehicle_crash_ids: set[str]
    vehicle_ids: set[str]
    people_vehicle_ids: list[str]
    people_count: int
    vehicle_count: int
    year_records: int


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def read_samples(shared: Path) -> SampleFacts:
    """The linked 2021-12 sample plus one real year of crashes, as the tests load them."""
    crashes = CrashFacts()
    linked = shared / LINKED
    for row in read_csv(linked / "traffic_crashes.csv"):
        crashes.add(row)
    year_records = 0
    with gzip.open(shared / "crashes_real" / f"crashes_{YEAR}.jsonl.gz", "rt", encoding="utf-8") as handle:
        for line in handle:
            crashes.add(json.loads(line))
            year_records += 1
    vehicles = read_csv(linked / "traffic_crash_vehicle.csv")
    people = read_csv(linked / "traffic_crash_people.csv")
    return SampleFacts(
        crashes=crashes,
        vehicle_crash_ids={v["crash_record_id"] for v in vehicles},
        vehicle_ids={v["vehicle_id"] for v in vehicles if v["vehicle_id"]},
        people_vehicle_ids=[p["vehicle_id"] for p in people if p["vehicle_id"]],
        people_count=len(people),
        vehicle_count=len(vehicles),
        year_records=year_records,
    )


def contract_columns(contracts_md: Path, heading: str) -> dict[str, str]:
    """Column → type from a table under `heading` in docs/contracts.md (rows like
    `| a, b | INTEGER | … |` list several columns of one type)."""
    lines = contracts_md.read_text(encoding="utf-8").splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("#") and heading in line)
    columns: dict[str, str] = {}
    for line in lines[start + 1 :]:
        if line.startswith("#"):
            break
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) < 2 or cells[0] in ("column", "") or set(cells[0]) <= {"-"}:
            continue
        for name in cells[0].split(","):
            columns[name.strip()] = cells[1]
    return columns


def contract_pairs(contracts_md: Path, heading: str) -> dict[str, str]:
    """Column → type from a section that lists them inline: `` `name` TYPE, `name` TYPE ``."""
    text = contracts_md.read_text(encoding="utf-8")
    start = next(m.end() for m in re.finditer(r"^#+ .*$", text, re.M) if heading in m.group(0))
    end = next((m.start() for m in re.finditer(r"^#+ ", text[start:], re.M)), len(text) - start) + start
    return dict(re.findall(r"`(\w+)` ([A-Z]+)", text[start:end]))
