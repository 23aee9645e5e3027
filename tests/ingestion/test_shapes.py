"""The value rules of `ingestion/shapes.py` on small tables: what converts, and what is kept as
delivered (so staging counts it) rather than guessed."""

from __future__ import annotations

import pyarrow as pa

from ingestion.datasets import CRASHES, VEHICLES, identify_dataset
from ingestion.records import to_delivered_table
from ingestion.shapes import SHAPE_COLUMN, detect_values, header_shape, normalise


def _normalised(values: dict[str, list], headers: list[str] | None = None, container: str = "CSV") -> tuple:
    table = to_delivered_table(pa.table({k: pa.array(v, pa.string()) for k, v in values.items()}), CRASHES)
    shape = detect_values(header_shape(CRASHES, headers or list(values), container), table, CRASHES)
    return normalise(table, CRASHES, shape), shape


def test_portal_timestamps_become_the_apis_and_garbage_is_kept() -> None:
    out, shape = _normalised(
        {
            "CRASH_RECORD_ID": ["a", "b", "c", "d", "e", "f"],
            "CRASH_DATE": [
                "09/05/2023 07:05:00 PM",
                "12/31/2023 12:00:00 AM",
                "9/5/2023 7:05 pm",  # lower-case, no seconds, no padding
                "9/5/23 19:05",  # a spreadsheet's display format, two-digit year
                "13/45/2023 07:05:00 PM",  # no such date: kept, staging counts it garbled
                None,
            ],
            "DATE_POLICE_NOTIFIED": ["2023-09-05T19:05:00.000", "2023-09-05 19:05:00", "", None, "45000.5", None],
        }
    )
    assert shape.display_names and shape.timestamps == "us" and shape.kind == "portal CSV export"
    assert out.column("crash_date").to_pylist() == [
        "2023-09-05T19:05:00.000",
        "2023-12-31T00:00:00.000",
        "2023-09-05T19:05:00.000",
        "2023-09-05T19:05:00.000",
        "13/45/2023 07:05:00 PM",
        None,
    ]
    # Not a spreadsheet file (its dates are not numbers): a number stays as delivered.
    assert out.column("date_police_notified").to_pylist() == [
        "2023-09-05T19:05:00.000",
        "2023-09-05T19:05:00.000",
        "",  # empty stays empty (staging reads it as missing; the CSV reader makes it null)
        None,
        "45000.5",
        None,
    ]
    assert set(out.column(SHAPE_COLUMN).to_pylist()) == {"portal CSV export"}


def test_a_spreadsheet_files_serial_days_are_converted_to_the_second() -> None:
    out, shape = _normalised(
        {
            "crash_record_id": ["a", "b", "c", "d"],
            "crash_date": ["45000.5", "45174.7951388889", "45174", "not a date"],
            "hit_and_run_i": ["TRUE", "false", "Y", None],
            "dooring_i": ["N", "", None, "yes"],
        }
    )
    assert shape.timestamps == "serial" and shape.word_flags and shape.kind == "spreadsheet re-save"
    assert out.column("crash_date").to_pylist() == [
        "2023-03-15T12:00:00.000",
        "2023-09-05T19:05:00.000",
        "2023-09-05T00:00:00.000",
        "not a date",
    ]
    assert out.column("hit_and_run_i").to_pylist() == ["Y", "N", "Y", None]
    assert out.column("dooring_i").to_pylist() == ["N", "", None, "Y"]


def test_wkt_points_become_geojson_text_keeping_the_digits() -> None:
    out, shape = _normalised(
        {
            "crash_record_id": ["a", "b", "c", "d"],
            "crash_date": ["2023-09-05T19:05:00.000"] * 4,
            "location": [
                "POINT (-87.709007994011 41.883239287724)",
                " point(-87.6 41.8) ",
                '{"type":"Point","coordinates":[-87.6,41.8]}',
                "somewhere",
            ],
        }
    )
    assert shape.wkt_location and shape.kind == "API CSV"
    assert out.column("location").to_pylist() == [
        '{"type":"Point","coordinates":[-87.709007994011,41.883239287724]}',
        '{"type":"Point","coordinates":[-87.6,41.8]}',
        '{"type":"Point","coordinates":[-87.6,41.8]}',
        "somewhere",
    ]


def test_an_api_shaped_table_passes_untouched() -> None:
    values = {
        "crash_record_id": ["a", "b"],
        "crash_date": ["2023-09-05T19:05:00.000", "2024-01-01T00:00:00.000"],
        "hit_and_run_i": ["Y", None],
        "location": ['{"type":"Point","coordinates":[-87.6,41.8]}', None],
    }
    out, shape = _normalised(values, container="NDJSON")
    assert shape.kind == "API JSON" and not (shape.wkt_location or shape.word_flags or shape.renamed)
    assert {k: out.column(k).to_pylist() for k in values} == values
    assert all(pa.types.is_string(f.type) for f in out.schema if f.name != SHAPE_COLUMN)


def test_former_and_retired_column_names_are_told_apart() -> None:
    older = header_shape(CRASHES, ["crash_record_id", "rd_no", "not_right_of_way_i", "crash_date"], "CSV")
    assert older.renamed == {"not_right_of_way_i": "private_property_i"} and older.retired == ["rd_no"]
    # Today's portal still shows private_property_i as NOT_RIGHT_OF_WAY_I: a display name there.
    portal = header_shape(
        CRASHES, ["CRASH_RECORD_ID", "NOT_RIGHT_OF_WAY_I", "CRASH_DATE", "LOCATION", "Boundaries - ZIP Codes"], "CSV"
    )
    assert portal.display_names and not portal.renamed and not portal.retired
    assert CRASHES.field_for_header("NOT_RIGHT_OF_WAY_I") == CRASHES.field_for_header("not_right_of_way_i")


def test_datasets_are_identified_from_columns() -> None:
    assert identify_dataset(["\ufeffCRASH_RECORD_ID", "CRASH_DATE", "RD_NO"]) == "crashes"
    assert identify_dataset([c.upper() for c in VEHICLES.columns]) == "vehicles"
    assert identify_dataset(["PERSON_ID", "PERSON_TYPE", "CRASH_RECORD_ID", "VEHICLE_ID"]) == "people"
    assert identify_dataset(["id", "name"]) is None
