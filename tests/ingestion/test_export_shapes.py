"""Every shape of a real export file replays into raw with the API's values, and into gold.

The fixture files are written here from generated records (never copies of shared data): the
portal's "Export → CSV" (display names, `MM/DD/YYYY hh:mm:ss AM`, WKT location, BOM, CRLF),
an older export (former column names, `rd_no`, gzipped, named for no dataset), a spreadsheet
re-save (serial day numbers, `TRUE`/`FALSE` flags), the API's CSV and the API's NDJSON. One
replay through the CLI and one build serve every test of the module.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

import duckdb
import pyarrow as pa
import pytest
from typer.testing import CliRunner

from ingestion.datasets import DATASETS
from tests.ingestion.helpers import raw_query

SPREADSHEET_EPOCH = datetime(1899, 12, 30)
KEY = "crash_record_id"
# Which crashes go to which shape: crash i goes to SHAPES[i % len(SHAPES)].
SHAPES = ("portal", "older", "spreadsheet", "api_csv", "api_json")
# A street name a CSV writer must quote: a comma, a quote and a line break.
AWKWARD_STREET = 'STATE ST, "LOWER"\nLEVEL'
# One a spreadsheet saves in Windows-1252, not UTF-8.
ACCENTED_STREET = "CAÑON ST"


def _iso_to_portal(value: str) -> str:
    return datetime.fromisoformat(value).strftime("%m/%d/%Y %I:%M:%S %p")


def _iso_to_serial(value: str) -> str:
    days = (datetime.fromisoformat(value) - SPREADSHEET_EPOCH).total_seconds() / 86400
    return f"{days:.10f}".rstrip("0").rstrip(".")


def _geojson_to_wkt(value: str) -> str:
    lon, lat = json.loads(value)["coordinates"]
    # The coordinates' own text, not a float round trip: raw must get the API's text back.
    lon_text, lat_text = value.split("[", 1)[1].rstrip("]}").split(",")
    assert float(lon_text) == lon and float(lat_text) == lat
    return f"POINT ({lon_text} {lat_text})"


def _flag_to_bool(value: str | None) -> str | None:
    return {"Y": "TRUE", "N": "FALSE"}.get(value, value) if value else value


def _display(name: str) -> str:
    return "NOT_RIGHT_OF_WAY_I" if name == "private_property_i" else name.upper()


def _export_rows(rows: list[dict], dataset: str, shape: str) -> tuple[list[str], list[list[str]]]:
    """Records (API shape) → (header, rows) as the given export shape writes them."""
    spec = DATASETS[dataset]
    names = list(spec.columns)
    out = []
    for record in rows:
        values = {n: record.get(n) for n in names}
        if shape in ("portal", "spreadsheet", "older", "api_csv") and values.get("location"):
            values["location"] = _geojson_to_wkt(values["location"])
        for ts in spec.timestamp_columns:
            if values.get(ts) and shape == "portal":
                values[ts] = _iso_to_portal(values[ts])
            elif values.get(ts) and shape == "spreadsheet":
                values[ts] = _iso_to_serial(values[ts])
        if shape == "spreadsheet":
            for flag in spec.flag_columns:
                values[flag] = _flag_to_bool(values[flag])
        out.append(values)
    if shape == "older":
        # The pre-2023 export: `rd_no` still there, `private_property_i` under its former name.
        header = [names[0], "rd_no", *names[1:]]
        header = ["not_right_of_way_i" if h == "private_property_i" else h for h in header]
        former = {"not_right_of_way_i": "private_property_i"}
        table = [[r.get(former.get(h, h)) or "" for h in header] for r in out]
        for i, row in enumerate(table):
            row[1] = f"JF{100000 + i}"
        return header, table
    if shape in ("portal", "spreadsheet"):
        # Column order differs from the API's (the portal orders by position, users re-arrange).
        names = names[::-1]
        return [_display(n) for n in names], [[r[n] or "" for n in names] for r in out]
    return names, [[r[n] or "" for n in names] for r in out]


@dataclass(frozen=True)
class Writing:
    """How a file's bytes are written: what portals, browsers and spreadsheets vary."""

    bom: bool = False
    crlf: bool = False
    encoding: str = "utf-8"
    delimiter: str = ","
    gzip: bool = False


def _write_csv(path: Path, header: list[str], rows: list[list[str]], how: Writing) -> None:
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, delimiter=how.delimiter, lineterminator="\r\n" if how.crlf else "\n")
    writer.writerow(header)
    writer.writerows(rows)
    data = (("\ufeff" if how.bom else "") + buffer.getvalue()).encode(how.encoding)
    path.write_bytes(gzip.compress(data) if how.gzip else data)


# Crashes file name per shape: the portal's own names, and names that say nothing (identified
# from the file's columns).
CRASH_FILES = {
    "portal": "Traffic_Crashes_-_Crashes.csv",
    "older": "export_2019.csv.gz",
    "spreadsheet": "crashes (re-saved).csv",
    "api_csv": "85ca-t3if.csv",
    "api_json": "api_page.jsonl",
}
UNIT_FILES = {  # vehicles and people of the crashes of each shape
    "portal": ("Traffic_Crashes_-_Vehicles.csv", "Traffic_Crashes_-_People.csv.gz"),
    "older": ("export_2019_units.csv", "export_2019_persons.csv"),
    "spreadsheet": ("units (re-saved).csv", "people (re-saved).csv"),
    "api_csv": ("68nd-jvt3.csv", "u6pd-qa9d.csv"),
    "api_json": ("vehicles_page.jsonl", "people_page.json"),
}
PORTAL = Writing(bom=True, crlf=True)
WRITING = {  # per file name; others plain UTF-8, LF, commas
    CRASH_FILES["portal"]: PORTAL,
    UNIT_FILES["portal"][0]: PORTAL,
    UNIT_FILES["portal"][1]: Writing(bom=True, crlf=True, gzip=True),
    CRASH_FILES["older"]: Writing(gzip=True),
    CRASH_FILES["spreadsheet"]: Writing(crlf=True, encoding="cp1252"),
    UNIT_FILES["spreadsheet"][0]: Writing(crlf=True, delimiter=";"),
    UNIT_FILES["api_csv"][1]: Writing(gzip=True),  # gzipped, though named .csv
}


@dataclass
class Replayed:
    home: Path
    folder: Path
    tables: dict[str, pa.Table]  # the generated records, API shape
    shape_of: dict[str, str]  # crash_record_id → shape
    output: str  # what `crashes ingest` printed
    exit_code: int

    def expected(self, dataset: str) -> list[dict]:
        return self.tables[dataset].to_pylist()


def _write_shapes(folder: Path, tables: dict[str, pa.Table]) -> dict[str, str]:
    crashes = tables["crashes"].to_pylist()
    crashes[0]["street_name"] = AWKWARD_STREET  # a portal crash
    crashes[SHAPES.index("spreadsheet")]["street_name"] = ACCENTED_STREET
    for i, crash in enumerate(crashes):  # the generator leaves the flag empty; make it tell
        crash["private_property_i"] = ("Y", "N", None)[i // len(SHAPES) % 3]
    tables["crashes"] = pa.Table.from_pylist(crashes, schema=tables["crashes"].schema)
    shape_of = {c["crash_record_id"]: SHAPES[i % len(SHAPES)] for i, c in enumerate(crashes)}
    for shape in SHAPES:
        for dataset, name in zip(DATASETS, (CRASH_FILES[shape], *UNIT_FILES[shape]), strict=True):
            rows = [r for r in tables[dataset].to_pylist() if shape_of[r["crash_record_id"]] == shape]
            if shape == "api_json":
                records = [{k: v for k, v in r.items() if v is not None} for r in rows]
                if name.endswith(".json"):  # a JSON array, as the API pages are
                    (folder / name).write_text(json.dumps(records, indent=2))
                else:
                    (folder / name).write_text("".join(json.dumps(r) + "\n" for r in records))
                continue
            header, table = _export_rows(rows, dataset, shape)
            _write_csv(folder / name, header, table, WRITING.get(name, Writing()))
    return shape_of


@pytest.fixture(scope="module")
def replayed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Replayed]:
    from ingestion.devserver.generator import generate_tables
    from orchestration.cli import app

    base = tmp_path_factory.mktemp("export-shapes")
    folder, home = base / "exports", base / "home"
    folder.mkdir()
    tables = generate_tables(date(2023, 9, 1), date(2023, 9, 6), 12, seed=16)
    shape_of = _write_shapes(folder, tables)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("CRASHES_HOME", str(home))
        for name in ("CRASHES_BRONZE_URL", "SOCRATA_BASE_URL", "SOCRATA_APP_TOKEN"):
            mp.delenv(name, raising=False)
        result = CliRunner().invoke(app, ["ingest", "--source", "replay", "--path", str(folder)])
        output = result.output + (f"\n{result.exception!r}" if result.exception else "")
        yield Replayed(home, folder, tables, shape_of, output, result.exit_code)


def _raw(replayed: Replayed, dataset: str, columns: list[str]) -> dict[str, tuple]:
    key = DATASETS[dataset].key
    rows = raw_query(replayed.home, f"select {key}, {', '.join(columns)} from raw.{dataset}")  # noqa: S608
    return {r[0]: r[1:] for r in rows}


def test_the_replay_succeeds_and_says_which_shape_each_file_was(replayed: Replayed) -> None:
    assert replayed.exit_code == 0, replayed.output
    lines = replayed.output.splitlines()
    said = {name: next((ln for ln in lines if name in ln), "") for name in CRASH_FILES.values()}
    assert "portal CSV export" in said[CRASH_FILES["portal"]]
    assert "MM/DD/YYYY hh:mm:ss AM" in said[CRASH_FILES["portal"]]
    assert "spreadsheet" in said[CRASH_FILES["spreadsheet"]] and "serial" in said[CRASH_FILES["spreadsheet"]]
    assert "not_right_of_way_i" in said[CRASH_FILES["older"]]
    assert "API CSV" in said[CRASH_FILES["api_csv"]]
    assert "API JSON" in said[CRASH_FILES["api_json"]]
    assert all("crashes" in said[name] for name in CRASH_FILES.values())
    assert "cp1252" in said[CRASH_FILES["spreadsheet"]]
    units = next(ln for ln in lines if UNIT_FILES["spreadsheet"][0] in ln)
    assert "vehicles" in units and "';'-delimited" in units
    gzipped = next(ln for ln in lines if UNIT_FILES["api_csv"][1] in ln)
    assert "people" in gzipped and "gzipped" in gzipped


def test_every_record_of_every_shape_reaches_raw_with_the_apis_values(replayed: Replayed) -> None:
    for dataset, spec in DATASETS.items():
        checked = [*spec.timestamp_columns, *spec.flag_columns]
        if dataset == "crashes":
            checked += ["private_property_i", "street_name", "location", "latitude", "beat_of_occurrence"]
        raw = _raw(replayed, dataset, checked)
        expected = {r[spec.key]: tuple(r[c] for c in checked) for r in replayed.expected(dataset)}
        assert len(expected) > 50
        assert raw.keys() == expected.keys(), dataset
        wrong = {k: (raw[k], v) for k, v in expected.items() if raw[k] != v}
        assert not wrong, f"{dataset}: {len(wrong)} rows differ, e.g. {next(iter(wrong.items()))}"
    rejects = raw_query(
        replayed.home,
        "select count(*) from information_schema.tables where table_schema = 'raw' and table_name = 'rejected_rows'",
    )[0][0]
    assert not rejects or raw_query(replayed.home, "select count(*) from raw.rejected_rows")[0][0] == 0


def test_renamed_and_retired_columns(replayed: Replayed) -> None:
    """`not_right_of_way_i` lands in today's `private_property_i`; `rd_no` is kept, not renamed."""
    columns = {
        r[0]
        for r in raw_query(
            replayed.home,
            "select column_name from information_schema.columns where table_schema = 'raw' and table_name = 'crashes'",
        )
    }
    assert "private_property_i" in columns and "not_right_of_way_i" not in columns
    older = [k for k, s in replayed.shape_of.items() if s == "older"]
    rd_no = _raw(replayed, "crashes", ["rd_no"])
    assert all(rd_no[k][0].startswith("JF") for k in older)
    assert all(rd_no[k][0] is None for k, s in replayed.shape_of.items() if s != "older")
    held = [r["private_property_i"] for r in replayed.expected("crashes") if replayed.shape_of[r[KEY]] == "older"]
    assert any(held), "the generated older-shape crashes hold no private_property_i: the test checks nothing"


def test_every_crash_of_every_shape_is_in_gold(replayed: Replayed, monkeypatch: pytest.MonkeyPatch) -> None:
    from transform import build

    monkeypatch.setenv("CRASHES_HOME", str(replayed.home))
    result = build()
    assert result.ok, result.summary()
    expected = {r["crash_record_id"]: r for r in replayed.expected("crashes")}
    with duckdb.connect(str(replayed.home / "gold.duckdb"), read_only=True) as con:
        gold = {
            r[0]: r[1:]
            for r in con.execute(
                "select crash_record_id, strftime(crash_ts, '%Y-%m-%dT%H:%M:%S.000'), is_hit_and_run "
                "from marts.fct_crashes"
            ).fetchall()
        }
        units = con.execute("select count(*) from marts.fct_vehicles").fetchone()[0]
        people = con.execute("select count(*) from marts.fct_people").fetchone()[0]
    assert gold.keys() == expected.keys()
    assert {k: v[0] for k, v in gold.items()} == {k: r["crash_date"] for k, r in expected.items()}
    assert {k: v[1] for k, v in gold.items()} == {k: r["hit_and_run_i"] == "Y" for k, r in expected.items()}
    assert sum(v[1] for v in gold.values()) > 0  # the flags were checked on some hits
    assert units == replayed.tables["vehicles"].num_rows
    assert people == replayed.tables["people"].num_rows
