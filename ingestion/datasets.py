"""The three Socrata datasets: the one place their ids, keys, cursors and columns are defined.
Every stage reads it (sources, raw, quality, the devserver); it imports nothing heavy, dlt least.

Column lists are the portal's API field names (lower case) in portal order. They are *known*
columns, not a closed set: a column the portal adds later still flows through to bronze and raw
(dlt evolves the schema), and a column it drops simply arrives as null.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

# Socrata's system fields come along with `$select=:*,*`; we give them plain SQL names.
SYSTEM_FIELDS: dict[str, str] = {
    ":id": "socrata_id",
    ":created_at": "socrata_created_at",
    ":updated_at": "socrata_updated_at",
}
CURSOR_COLUMN = SYSTEM_FIELDS[":updated_at"]
ROW_ID = ":id"


def column_name(api_field: str) -> str:
    """The SQL column an API field lands in: `:updated_at` → `socrata_updated_at`,
    `:@computed_region_rpca_8um6` → `computed_region_rpca_8um6`, others unchanged."""
    if api_field in SYSTEM_FIELDS:
        return SYSTEM_FIELDS[api_field]
    return api_field.lstrip(":@").lower()


@dataclass(frozen=True)
class DatasetSpec:
    name: str
    resource_id: str
    key: str
    columns: tuple[str, ...]
    # crash_date bounds the backfill window; `:updated_at` drives the incremental cursor.
    date_field: str = "crash_date"
    cursor_field: str = ":updated_at"
    # Columns holding a floating timestamp (Socrata's `calendar_date`): the API writes them ISO
    # (`2023-09-05T19:05:00.000`), portal and spreadsheet exports do not (`ingestion/shapes.py`).
    timestamp_columns: tuple[str, ...] = ("crash_date",)
    # Portal display names that are not simply the upper-cased field name.
    display_name_overrides: dict[str, str] = field(default_factory=dict)
    # Former field name → today's, for older export files (matched case-blind, so the former
    # display name maps too). A column the portal dropped (`rd_no`, 2023-11) is not renamed: it
    # stays an extra column, kept as delivered.
    former_names: dict[str, str] = field(default_factory=dict)

    @property
    def table(self) -> str:
        return self.name

    def text_columns(self) -> dict[str, dict[str, Any]]:
        """dlt column hints: every known column is text, as Socrata delivers it."""
        names = (*self.columns, *SYSTEM_FIELDS.values())
        return {name: {"data_type": "text", "nullable": True} for name in names}

    @property
    def flag_columns(self) -> tuple[str, ...]:
        """The `_i` indicator columns: `Y`/`N` as the API writes them."""
        return tuple(c for c in self.columns if c.endswith("_i"))

    @property
    def order_by(self) -> str:
        """A total, stable order: paging a live dataset without one duplicates and skips rows.
        `:id` (Socrata's row id), not the key, breaks ties: every row has one, even a row whose
        key is missing, so the keyset `(:updated_at, :id)` names each row exactly."""
        return f"{self.cursor_field}, {ROW_ID}"

    def field_for_header(self, header: str) -> str:
        """Map an export header (display name or field name) to the API field name."""
        h = header.strip().strip('"').lstrip("\ufeff")
        if h in SYSTEM_FIELDS:
            return h
        if h in self.display_name_overrides:
            return self.display_name_overrides[h]
        name = h.lower().replace(" ", "_")
        return self.former_names.get(name, name)


CRASHES = DatasetSpec(
    name="crashes",
    resource_id="85ca-t3if",
    key="crash_record_id",
    columns=(
        "crash_record_id",
        "crash_date_est_i",
        "crash_date",
        "posted_speed_limit",
        "traffic_control_device",
        "device_condition",
        "weather_condition",
        "lighting_condition",
        "first_crash_type",
        "trafficway_type",
        "lane_cnt",
        "alignment",
        "roadway_surface_cond",
        "road_defect",
        "report_type",
        "crash_type",
        "intersection_related_i",
        "private_property_i",
        "hit_and_run_i",
        "damage",
        "date_police_notified",
        "prim_contributory_cause",
        "sec_contributory_cause",
        "street_no",
        "street_direction",
        "street_name",
        "beat_of_occurrence",
        "photos_taken_i",
        "statements_taken_i",
        "dooring_i",
        "work_zone_i",
        "work_zone_type",
        "workers_present_i",
        "num_units",
        "most_severe_injury",
        "injuries_total",
        "injuries_fatal",
        "injuries_incapacitating",
        "injuries_non_incapacitating",
        "injuries_reported_not_evident",
        "injuries_no_indication",
        "injuries_unknown",
        "crash_hour",
        "crash_day_of_week",
        "crash_month",
        "latitude",
        "longitude",
        "location",
    ),
    timestamp_columns=("crash_date", "date_police_notified"),
    # socrata_metadata_woiny27 (the portal's columns.json): `NOT_RIGHT_OF_WAY_I` is still the
    # display name of `private_property_i`, the column's name before it was renamed.
    display_name_overrides={"Boundaries - ZIP Codes": ":@computed_region_rpca_8um6"},
    former_names={"not_right_of_way_i": "private_property_i"},
)

VEHICLES = DatasetSpec(
    name="vehicles",
    resource_id="68nd-jvt3",
    key="crash_unit_id",
    columns=(
        "crash_unit_id",
        "crash_record_id",
        "crash_date",
        "unit_no",
        "unit_type",
        "num_passengers",
        "vehicle_id",
        "cmrc_veh_i",
        "make",
        "model",
        "lic_plate_state",
        "vehicle_year",
        "vehicle_defect",
        "vehicle_type",
        "vehicle_use",
        "travel_direction",
        "maneuver",
        "towed_i",
        "fire_i",
        "occupant_cnt",
        "exceed_speed_limit_i",
        "towed_by",
        "towed_to",
        "area_00_i",
        "area_01_i",
        "area_02_i",
        "area_03_i",
        "area_04_i",
        "area_05_i",
        "area_06_i",
        "area_07_i",
        "area_08_i",
        "area_09_i",
        "area_10_i",
        "area_11_i",
        "area_12_i",
        "area_99_i",
        "first_contact_point",
        "cmv_id",
        "usdot_no",
        "ccmc_no",
        "ilcc_no",
        "commercial_src",
        "gvwr",
        "carrier_name",
        "carrier_state",
        "carrier_city",
        "hazmat_placards_i",
        "hazmat_name",
        "un_no",
        "hazmat_present_i",
        "hazmat_report_i",
        "hazmat_report_no",
        "mcs_report_i",
        "mcs_report_no",
        "hazmat_vio_cause_crash_i",
        "mcs_vio_cause_crash_i",
        "idot_permit_no",
        "wide_load_i",
        "trailer1_width",
        "trailer2_width",
        "trailer1_length",
        "trailer2_length",
        "total_vehicle_length",
        "axle_cnt",
        "vehicle_config",
        "cargo_body_type",
        "load_type",
        "hazmat_out_of_service_i",
        "mcs_out_of_service_i",
        "hazmat_class",
    ),
)

PEOPLE = DatasetSpec(
    name="people",
    resource_id="u6pd-qa9d",
    key="person_id",
    columns=(
        "person_id",
        "person_type",
        "crash_record_id",
        "vehicle_id",
        "crash_date",
        "seat_no",
        "city",
        "state",
        "zipcode",
        "sex",
        "age",
        "drivers_license_state",
        "drivers_license_class",
        "safety_equipment",
        "airbag_deployed",
        "ejection",
        "injury_classification",
        "hospital",
        "ems_agency",
        "ems_run_no",
        "driver_action",
        "driver_vision",
        "physical_condition",
        "pedpedal_action",
        "pedpedal_visibility",
        "pedpedal_location",
        "bac_result",
        "bac_result_value",
        "cell_phone_use",
    ),
)

DATASETS: dict[str, DatasetSpec] = {d.name: d for d in (CRASHES, VEHICLES, PEOPLE)}


def identify_dataset(headers: Iterable[str]) -> str | None:
    """The dataset whose key a file's columns hold, the one sharing most columns when several
    do (every dataset has crash_record_id; only vehicles have crash_unit_id, only people
    person_id); None when no key is there."""
    best: tuple[int, str] | None = None
    for spec in DATASETS.values():
        fields = {spec.field_for_header(h) for h in headers}
        if spec.key in fields:
            score = (len(fields & set(spec.columns)), spec.name)
            best = max(best, score) if best else score
    return best[1] if best else None


def parse_datasets(value: str | None) -> list[DatasetSpec]:
    """`crashes,vehicles` → specs; raises ValueError naming the valid choices."""
    if not value:
        return list(DATASETS.values())
    names = [v.strip().lower() for v in value.split(",") if v.strip()]
    unknown = [n for n in names if n not in DATASETS]
    if unknown:
        raise ValueError(f"unknown dataset(s) {', '.join(unknown)}: choose from {', '.join(DATASETS)}")
    return [DATASETS[n] for n in names]
