"""Which dataset an export file holds, from its name: the one rule the replay and the devserver share.

Kept free of heavy imports so the devserver can use it without loading dlt.
"""

from __future__ import annotations

from pathlib import Path

SUFFIXES = (".csv", ".json", ".jsonl", ".ndjson", ".parquet")


def base_suffix(path: Path) -> str:
    """The format suffix, looking through a `.gz`: `x.csv.gz` → `.csv`."""
    name = path.name.lower()
    return Path(name[:-3]).suffix if name.endswith(".gz") else path.suffix.lower()


def is_export(path: Path) -> bool:
    return base_suffix(path) in SUFFIXES


def dataset_for_file(path: Path) -> str | None:
    """`people`/`person` → people, `vehicle` → vehicles, `crash` → crashes (checked in that order,
    so `traffic_crash_vehicle.csv` is vehicles); None for other names and for non-export files.
    What to do with a None is the caller's choice (the replay assumes crashes and checks the header)."""
    if not is_export(path):
        return None
    name = path.name.lower()
    if "people" in name or "person" in name:
        return "people"
    if "vehicle" in name:
        return "vehicles"
    if "crash" in name:
        return "crashes"
    return None
