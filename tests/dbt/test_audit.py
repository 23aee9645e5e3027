"""The late-amendment audit (marts/audit) on replays with known amendments: real HTTP to the
project's Socrata server, the real `ingest()` into bronze, real dbt builds of the two audit models.

The server's `upsert` amends records the way the portal does (a new `:updated_at`, a changed
value); the lag window of each incremental load re-delivers unchanged records, which the audit
must report as repeats with no change."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from tests.conftest import PROJECT_ROOT
from tests.dbt.conftest import RealBuild
from tests.dbt.samples import LINKED

AUDIT = ["audit_record_versions", "audit_field_changes"]
PAGE = PROJECT_ROOT / "dashboard" / "views" / "changes.py"
LABELLED = 3  # crashes whose hit_and_run_i is set (null → Y) in the second load
INJURED = 2  # crashes whose injuries grow (two fields) in the second load
# A lag window wider than the data: each incremental load re-delivers every unchanged record.
LAG_SECONDS = 10 * 365 * 86400


@dataclass
class Replay:
    home: Path
    delivered: list[int] = field(default_factory=list)  # crash rows each load delivered
    labelled: list[str] = field(default_factory=list)
    injured: list[str] = field(default_factory=list)
    after: dict[str, list[dict]] = field(default_factory=dict)
    incremental: dict[str, set[tuple]] = field(default_factory=dict)
    full_refresh: dict[str, set[tuple]] = field(default_factory=dict)

    def gold_build(self) -> duckdb.DuckDBPyConnection:
        return duckdb.connect(str(self.home / "gold_build.duckdb"), read_only=True)


def _tables(replay: Replay) -> dict[str, set[tuple]]:
    with replay.gold_build() as con:
        return {t: set(con.execute(f"select * from marts.{t}").fetchall()) for t in AUDIT}  # noqa: S608


def _failures(build) -> str:  # noqa: ANN001 - transform.dbt.DbtRun
    return "\n".join(f"{n.name}: {n.message}" for n in build.nodes if n.status not in ("success", "pass", "skipped"))


def _amend(rows: pa.Table, column: str, values: list[str]) -> pa.Table:
    return rows.set_column(rows.schema.get_field_index(column), column, pa.array(values, pa.string()))


def _grown(rows: pa.Table, column: str) -> list[str]:
    return [str(int(v or 0) + 1) for v in rows[column].to_pylist()]


@pytest.fixture(scope="module")
def replay(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Replay]:
    from ingestion.devserver.generator import generate_crashes
    from ingestion.devserver.server import SocrataServer
    from ingestion.pipeline import ingest
    from transform.dbt import run_dbt

    crashes = generate_crashes(date(2024, 3, 1), date(2024, 3, 3), crashes_per_day=100, seed=19)
    unlabelled = crashes.filter(pc.is_null(crashes["hit_and_run_i"]))
    labelled = unlabelled.slice(0, LABELLED)
    injured = unlabelled.slice(LABELLED, INJURED)
    result = Replay(tmp_path_factory.mktemp("audit") / "home")
    with pytest.MonkeyPatch.context() as mp, SocrataServer(tables={"crashes": crashes}, port=0) as server:
        mp.setenv("CRASHES_HOME", str(result.home))
        mp.delenv("CRASHES_BRONZE_URL", raising=False)
        mp.setenv("SOURCES__SOCRATA__REQUEST_MAX_ATTEMPTS", "2")
        mp.setenv("SOURCES__SOCRATA__LAG_SECONDS", str(LAG_SECONDS))

        def load(build: bool) -> None:
            result.delivered.append(ingest(base_url=server.url, datasets="crashes").rows["crashes"])
            if build:
                built = run_dbt(["build", "--select", *AUDIT])
                assert built.success, built.error or _failures(built)

        load(build=True)
        server.upsert("crashes", _amend(labelled, "hit_and_run_i", ["Y"] * LABELLED))
        grown = _amend(injured, "injuries_total", _grown(injured, "injuries_total"))
        column = "injuries_non_incapacitating"
        grown = _amend(grown, column, _grown(injured, column))
        server.upsert("crashes", grown)
        load(build=False)
        # A third load before the next build: the first injured crash grows again, so that build
        # compares its version 3 with version 2, itself changed since the last build.
        again = grown.slice(0, 1)
        server.upsert("crashes", _amend(again, column, _grown(again, column)))
        load(build=True)
        with result.gold_build() as con:
            result.after = {
                t: con.sql(f"select * from marts.{t}").to_arrow_table().to_pylist()  # noqa: S608
                for t in AUDIT
            }
        result.incremental = _tables(result)
        full = run_dbt(["build", "--select", *AUDIT, "--full-refresh"])
        assert full.success, full.error or _failures(full)
        result.full_refresh = _tables(result)
    result.labelled = labelled["crash_record_id"].to_pylist()
    result.injured = injured["crash_record_id"].to_pylist()
    yield result


def test_every_delivered_row_is_a_version_and_unchanged_redeliveries_are_repeats(replay: Replay) -> None:
    versions = replay.after["audit_record_versions"]
    first, second, third = replay.delivered
    assert second > LABELLED + INJURED and third > 1  # the lag window re-delivered unchanged records too
    assert len(versions) == first + second + third
    assert sum(v["version"] == 1 for v in versions) == first
    assert sum(v["is_repeat"] for v in versions) == (second - LABELLED - INJURED) + (third - 1)
    amended = sorted((v["record_key"], v["version"]) for v in versions if v["version"] > 1 and not v["is_repeat"])
    assert amended == sorted([(k, 2) for k in (*replay.labelled, *replay.injured)] + [(replay.injured[0], 3)])
    assert all(v["updated_at"] is not None and v["loaded_at"] is not None for v in versions)


def test_a_label_set_later_is_one_hit_and_run_change_and_grown_injuries_two(replay: Replay) -> None:
    changes = replay.after["audit_field_changes"]
    assert len(changes) == LABELLED + 2 * INJURED + 1
    labels = [c for c in changes if c["field"] == "hit_and_run_i"]
    assert sorted(c["record_key"] for c in labels) == sorted(replay.labelled)
    assert {(c["old_value"], c["new_value"], c["version"]) for c in labels} == {(None, "Y", 2)}
    injuries = sorted((c["record_key"], c["field"], c["version"]) for c in changes if c["field"] != "hit_and_run_i")
    fields = ("injuries_total", "injuries_non_incapacitating")
    expected = [(k, f, 2) for k in replay.injured for f in fields] + [(replay.injured[0], fields[1], 3)]
    assert injuries == sorted(expected)
    for c in changes:
        if c["field"] != "hit_and_run_i":
            assert int(c["new_value"]) == int(c["old_value"] or 0) + 1


def test_an_incremental_build_equals_a_full_refresh(replay: Replay) -> None:
    assert replay.incremental == replay.full_refresh
    assert len(replay.incremental["audit_record_versions"]) == sum(replay.delivered)
    assert len(replay.incremental["audit_field_changes"]) == LABELLED + 2 * INJURED + 1


def test_the_real_repeated_records_are_repeats_with_no_change(real_build: RealBuild) -> None:
    """The real year repeats some records (paging without `$order`); all are identical copies."""
    facts = real_build.samples
    with real_build.gold() as con:
        repeats, versions, changes = con.execute(
            "select count(*) filter (where is_repeat), count(*), "
            "(select count(*) from marts.audit_field_changes) "
            "from marts.audit_record_versions where dataset = 'crashes'"
        ).fetchall()[0]
    delivered = facts.year_records + 1000  # the real year and the linked sample's crashes
    assert delivered > facts.crashes.count, f"no repeated record in the real year or {LINKED}"
    assert versions == delivered
    assert repeats == delivered - facts.crashes.count
    assert changes == 0


def test_what_changed_page_shows_the_amended_fields_and_one_crash_s_history(
    replay: Replay, monkeypatch: pytest.MonkeyPatch
) -> None:
    from streamlit.testing.v1 import AppTest

    from dashboard.snapshot import clear
    from transform.publish import publish

    monkeypatch.setenv("CRASHES_HOME", str(replay.home))
    monkeypatch.delenv("CRASHES_BRONZE_URL", raising=False)
    publish(replay.home / "gold_build.duckdb", replay.home / "gold.duckdb")
    clear()
    at = AppTest.from_file(str(PAGE), default_timeout=60).run()
    assert not at.exception, at.exception
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Versions delivered"] == f"{sum(replay.delivered):,}"
    assert metrics["Amended records"] == f"{LABELLED + INJURED:,}"
    fields = at.dataframe[0].value.set_index("field")["changes"].to_dict()
    assert fields == {"hit_and_run_i": LABELLED, "injuries_total": INJURED, "injuries_non_incapacitating": INJURED + 1}
    label_line = next(c.value for c in at.caption if "Label delay" in c.value)
    assert f"for {LABELLED:,} of {replay.delivered[0]:,} crashes" in label_line

    at.text_input(key="changes_crash_id").input(replay.labelled[0]).run()
    history = at.dataframe[1].value
    assert history[["field", "old_value", "new_value"]].values.tolist() == [["hit_and_run_i", None, "Y"]]
    # The id is a bound parameter: a quote in it finds nothing and breaks nothing.
    at.text_input(key="changes_crash_id").input("x' or '1'='1").run()
    assert not at.exception, at.exception
    assert any("No crash" in w.value for w in at.warning)
