"""`crashes status` reads raw when it can and falls back, never fails, when a writer holds it."""

from __future__ import annotations

import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import duckdb
import pytest

from crashes.gold import STORAGE_COMPATIBILITY
from orchestration import runs
from orchestration.dag import Stage, StageOutcome
from orchestration.flow import run_stages
from orchestration.layers import LayerFacts, parse_timestamp
from orchestration.metrics import registry
from orchestration.status import _freshness_section, status_report

PROJECT = Path(__file__).resolve().parents[2]


def _warehouse(home: Path) -> None:
    """raw and gold in the contract's shape: raw all VARCHAR, gold published as its own file."""
    con = duckdb.connect(str(home / "warehouse.duckdb"))
    con.execute("CREATE SCHEMA raw")
    con.execute(
        """CREATE TABLE raw.crashes AS SELECT 'id' || i AS crash_record_id,
               strftime(TIMESTAMP '2024-03-01 00:00:00' + i * INTERVAL 1 HOUR, '%Y-%m-%dT%H:%M:%S.000') AS crash_date,
               strftime(TIMESTAMP '2024-03-05 00:00:00' + i * INTERVAL 1 MINUTE, '%Y-%m-%dT%H:%M:%S.000Z')
                   AS socrata_updated_at
           FROM range(50) t(i)"""
    )
    con.execute("CREATE TABLE raw.people AS SELECT 'p' || i AS person_id FROM range(120) t(i)")
    con.close()
    gold = duckdb.connect(str(home / "gold.duckdb"), config={"storage_compatibility_version": STORAGE_COMPATIBILITY})
    gold.execute("CREATE SCHEMA marts")
    gold.execute(
        "CREATE TABLE marts.fct_crashes AS SELECT TIMESTAMP '2024-03-01' + i * INTERVAL 1 HOUR AS crash_ts"
        " FROM range(48) t(i)"
    )
    gold.close()


def test_status_reads_raw_gold_and_history(crashes_home: Path) -> None:
    _warehouse(crashes_home)
    run_stages("incremental", {}, lambda: [Stage("ingest", lambda: StageOutcome(summary="ok"))], log_format="plain")
    text = status_report()
    assert "#1    incremental cli       succeeded" in text
    assert "raw crash_date          2024-03-03T01:00:00" in text  # hour 49 after 2024-03-01 00:00
    assert "raw :updated_at         2024-03-05T00:49:00" in text
    assert "gold crash_date         2024-03-02 23:00:00" in text
    assert "crashes 50, people 120" in text and "fct_crashes 48" in text
    assert "Current model: none" in text


def test_status_falls_back_while_a_writer_holds_the_warehouse(crashes_home: Path) -> None:
    _warehouse(crashes_home)
    runs_id = runs.start_run("incremental", {}, "cli", ["ingest"])
    newest = {"crash_date": "2024-02-01T08:00:00.000", "socrata_updated_at": "2024-02-02T00:00:00.000Z"}
    runs.stage_finished(
        runs_id, "ingest", "succeeded", runs.StageFigures(detail={"raw": {"rows": {}, "newest": newest}})
    )
    runs.finish_run(runs_id, "succeeded")
    # Another process writes the warehouse (as dbt does) and keeps it open.
    writer = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import duckdb, sys, time; c = duckdb.connect(sys.argv[1]); c.execute('create table raw.x(i int)');"
            " print('open', flush=True); time.sleep(60)",
            str(crashes_home / "warehouse.duckdb"),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert writer.stdout is not None and writer.stdout.readline().strip() == "open"
        with pytest.raises(duckdb.Error):  # the trap the fallback exists for
            duckdb.connect(str(crashes_home / "warehouse.duckdb"), read_only=True)
        started = time.monotonic()
        text = status_report()
        assert time.monotonic() - started < 10
    finally:
        writer.kill()
        writer.wait()
    assert "warehouse busy" in text
    assert "last ingest crash_date  2024-02-01T08:00:00" in text
    assert "gold crash_date         2024-03-02 23:00:00" in text
    assert "raw: not read while the warehouse is busy" in text


def test_cli_status_answers(crashes_home: Path) -> None:
    out = subprocess.run(
        [str(PROJECT / ".venv/bin/crashes"), "status"], capture_output=True, text=True, timeout=60, check=True
    )
    assert f"CRASHES_HOME {crashes_home}" in out.stdout and "Last runs: none yet" in out.stdout


def test_status_counts_bronze_and_raw_after_a_real_ingest(crashes_home: Path, shared_data: Path) -> None:
    from ingestion.pipeline import ingest

    result = ingest(source="replay", path=shared_data / "linked_2021-12_faithhunja")
    text = status_report()
    for dataset in ("crashes", "vehicles", "people"):
        delivered = result.rows[dataset]
        assert f"{dataset} {delivered:,} rows / 1 files" in text, text
        assert f"{dataset} {result.raw_rows[dataset]:,}" in text
    assert "raw crash_date          2021-12" in text  # the sample is December 2021


def test_status_counts_bronze_on_s3(crashes_home: Path, shared_data: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Bronze on an S3 API (moto's real server on 127.0.0.1, as MinIO in compose), through dlt's variables."""
    import boto3
    from moto.server import ThreadedMotoServer

    from ingestion.pipeline import ingest

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        creds = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing", "region_name": "us-east-1"}
        boto3.client("s3", endpoint_url=f"http://{host}:{port}", **creds).create_bucket(Bucket="bronze-test")
        monkeypatch.setenv("CRASHES_BRONZE_URL", "s3://bronze-test/bronze")
        for key, value in {**creds, "endpoint_url": f"http://{host}:{port}"}.items():
            monkeypatch.setenv(f"DESTINATION__FILESYSTEM__CREDENTIALS__{key.upper()}", value)
        result = ingest(source="replay", path=shared_data / "linked_2021-12_faithhunja" / "traffic_crashes.csv")
        text = status_report()
    finally:
        server.stop()
    assert f"bronze (s3://bronze-test/bronze): crashes {result.rows['crashes']:,} rows / 1 files" in text, text


def test_status_and_metrics_read_a_floating_crash_date_as_chicago_time(crashes_home: Path) -> None:
    newest = {"crash_date": "2024-03-31T23:10:00.000", "socrata_updated_at": "2024-04-01T06:00:00.000Z"}
    chicago = ZoneInfo("America/Chicago")
    assert parse_timestamp(newest["crash_date"], "crash_date") == datetime(2024, 3, 31, 23, 10, tzinfo=chicago)
    assert parse_timestamp(newest["socrata_updated_at"], "socrata_updated_at") == datetime(2024, 4, 1, 6, tzinfo=UTC)
    assert parse_timestamp("2024-04-01 06:00:00", "socrata_updated_at") == datetime(2024, 4, 1, 6, tzinfo=UTC)
    assert parse_timestamp("not a time", "crash_date") is None

    outcome = StageOutcome(detail={"raw": {"rows": {"crashes": 1}, "newest": newest}})
    run_stages("incremental", {}, lambda: [Stage("ingest", lambda: outcome)], log_format="plain")
    # 23:10 CDT on Mar 31 is 04:10 UTC on Apr 1: six hours before 10:10 UTC (not eleven, as UTC).
    now = datetime(2024, 4, 1, 10, 10, tzinfo=UTC)
    text = "\n".join(_freshness_section(None, "busy", LayerFacts(source="gold", newest=newest), now))
    assert "last ingest crash_date  2024-03-31T23:10:00 (6.0 hours ago)" in text
    assert "gold crash_date         2024-03-31T23:10:00 (6.0 hours ago)" in text
    assert "last ingest :updated_at 2024-04-01T06:00:00 (4.2 hours ago)" in text
    scraped = registry().get_sample_value("crashes_newest_record_timestamp_seconds", {"field": "crash_date"})
    assert scraped == datetime(2024, 4, 1, 4, 10, tzinfo=UTC).timestamp(), "metrics agree with status"
