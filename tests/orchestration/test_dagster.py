"""The Dagster engine (orchestration/dagster_defs.py) over the data `crashes run` ran on: the whole
graph materialised in-process gives the same gold, a failed dbt test leaves gold untouched, and the
stored cron schedules are Dagster schedules of the same jobs."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import pytest

from tests.orchestration.conftest import PIPELINE_MODULES, ReferenceRun, file_digest, require, row_counts

dg = pytest.importorskip("dagster", reason="the dagster extra is not installed: pip install -e '.[dagster]'")

# Columns that say when or by which load/model a row was made, not what the data is.
RUN_COLUMNS = {
    "load_id",
    "last_load_id",
    "unit_last_load_id",
    "person_last_load_id",
    "latest_load_id",
    "last_loaded_at",
    "hours_since_last_load",
    "checked_at",
    "scored_at",
    "model_version",
    "loaded_at",  # the audit's: when a version was delivered, in which bronze file and where in it
    "bronze_file",
    "bronze_row",  # rows reach a bronze file in the order dlt's extraction yields them
}
# Marts with a row per load (the two engines' histories differ by nature), as in conftest.
PER_LOAD = {"dq_loads", "dq_expectations"}
FUTURE_CRASH = "dagster-crash-from-the-future"


def mart_digests(gold: Path, by_column: bool = False) -> dict[str, str]:
    """An md5 over each mart's sorted rows, leaving out the columns that record the run (with
    `by_column`, one per mart and column: what differs, when two golds do)."""
    digests = {}
    with duckdb.connect(str(gold), read_only=True) as con:
        marts = con.execute(
            "select table_name from information_schema.tables where table_schema = 'marts' order by 1"
        ).fetchall()
        for (mart,) in marts:
            if mart in PER_LOAD:
                continue
            columns = con.execute(f'describe marts."{mart}"').fetchall()
            # Parallel sums of doubles differ in their last bits from one build to the next.
            kept = {
                c: f'round("{c}", 9) as "{c}"' if kind in ("DOUBLE", "FLOAT") else f'"{c}"'
                for c, kind, *_ in columns
                if c not in RUN_COLUMNS
            }
            for name, selected in (
                {f"{mart}.{c}": [e] for c, e in kept.items()} if by_column else {mart: list(kept.values())}
            ).items():
                sql = f"select md5(coalesce(string_agg(r::varchar, chr(10) order by r::varchar), '')) from (select {', '.join(selected)} from marts.\"{mart}\") r"  # noqa: E501, S608 - catalog names
                digests[name] = con.execute(sql).fetchone()[0]
    return digests


@dataclass(frozen=True)
class DagsterHome:
    home: Path
    result: object


@pytest.fixture(scope="module")
def dagster_home(tmp_path_factory: pytest.TempPathFactory, reference_run: ReferenceRun) -> Iterator[DagsterHome]:
    """The `incremental` job over the reference run's server, in this process, in a new home."""
    require(*PIPELINE_MODULES)
    from orchestration.dagster_defs import build_defs

    home = tmp_path_factory.mktemp("dagster") / "home"
    with pytest.MonkeyPatch.context() as env:
        env.setenv("CRASHES_HOME", str(home))
        env.setenv("CRASHES_PAGE_SIZE", "500")  # as `crashes run` was given (conftest.run_env)
        env.delenv("CRASHES_BRONZE_URL", raising=False)
        job = build_defs().resolve_job_def("incremental")
        config = {"ops": {"ingest": {"config": {"base_url": reference_run.url}}}}
        result = job.execute_in_process(run_config=config, instance=dg.DagsterInstance.ephemeral())
        yield DagsterHome(home, result)


def test_the_whole_graph_publishes_the_same_gold_as_crashes_run(
    dagster_home: DagsterHome, reference_run: ReferenceRun
) -> None:
    assert reference_run.process.returncode == 0, reference_run.output()
    result = dagster_home.result
    assert result.success
    done = {e.asset_key.to_user_string() for e in result.get_asset_materialization_events()}
    assert {"chicago/crashes", "ingestion/quality_results", "marts/fct_crashes", "ml/model"} <= done
    assert {"ml/hit_and_run_scores", "marts/ml_hit_and_run_scores", "gold"} <= done
    home, reference = dagster_home.home, reference_run.home
    counts = row_counts(home)
    assert counts == row_counts(reference)
    assert counts["marts.ml_hit_and_run_scores"][0] == reference_run.tables["crashes"].num_rows
    ours, theirs = mart_digests(home / "gold.duckdb"), mart_digests(reference / "gold.duckdb")
    if ours != theirs:
        columns = mart_digests(home / "gold.duckdb", by_column=True)
        differ = [c for c, d in mart_digests(reference / "gold.duckdb", by_column=True).items() if columns.get(c) != d]
        pytest.fail(f"marts differ from crashes run's in the columns {differ}")


def _add_crash_in_the_future(warehouse: Path) -> None:
    with duckdb.connect(str(warehouse)) as con:
        last = con.execute("select max(_dlt_load_id) from raw.crashes").fetchone()[0]
        con.execute(
            "insert into raw.crashes (crash_record_id, crash_date, _dlt_load_id) values (?, ?, ?)",
            [FUTURE_CRASH, "2099-01-01T00:00:00.000", f"{float(last) + 1:.6f}"],
        )


def test_a_failed_dbt_test_fails_the_run_and_leaves_gold_untouched(
    dagster_home: DagsterHome, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from crashes import gold
    from orchestration.dagster_defs import GOLD_KEY, build_defs

    home = tmp_path / "home"
    shutil.copytree(dagster_home.home, home, symlinks=True, ignore=shutil.ignore_patterns("pipeline.lock"))
    monkeypatch.setenv("CRASHES_HOME", str(home))
    _add_crash_in_the_future(home / "warehouse.duckdb")
    published, digest = gold.current(home / "gold.duckdb"), file_digest(home / "gold.duckdb")

    defs = build_defs()
    # The crash fact (its singular test fails) and the publish after it; nothing else needs rebuilding.
    selection = [dg.AssetKey(["staging", "stg_chicago__crashes"]), dg.AssetKey(["marts", "fct_crashes"]), GOLD_KEY]
    job = defs.resolve_implicit_global_asset_job_def()
    result = job.execute_in_process(
        asset_selection=selection, raise_on_error=False, instance=dg.DagsterInstance.ephemeral()
    )

    assert not result.success
    checks = {c.check_name: c.passed for c in result.get_asset_check_evaluations()}
    assert checks.get("assert_no_crash_in_the_future") is False, checks
    assert GOLD_KEY not in {e.asset_key for e in result.get_asset_materialization_events()}
    assert gold.current(home / "gold.duckdb") == published and file_digest(home / "gold.duckdb") == digest
    # The untested marts dbt wrote are discarded: the build file is the published snapshot again.
    assert file_digest(home / "gold_build.duckdb") == digest


def test_stored_schedules_are_dagster_schedules_of_the_same_jobs(
    dagster_home: DagsterHome, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from orchestration.dagster_defs import build_defs
    from orchestration.schedules import Schedule, add_schedule

    home = tmp_path / "home"
    shutil.copytree(dagster_home.home / "dbt", home / "dbt")  # the manifest: no dbt parse
    monkeypatch.setenv("CRASHES_HOME", str(home))
    monkeypatch.setenv("TZ", "America/Chicago")
    daily = add_schedule("0 6 * * *", "incremental", "--datasets crashes --train")
    weekly = add_schedule("30 2 * * 0", "train")
    window = add_schedule("0 1 1 * *", "backfill", "--since 2024-01-01 --until 2024-02-01")

    defs = build_defs()
    for stored, job in ((daily, "incremental"), (weekly, "train"), (window, "backfill")):
        schedule = defs.resolve_schedule_def(f"schedule_{stored.id}_{stored.job}")
        assert (schedule.cron_schedule, schedule.job_name) == (stored.cron, job)
        assert schedule.execution_timezone == "America/Chicago"
        assert defs.resolve_job_def(job) is not None

    def ops(stored: Schedule) -> dict[str, Any]:
        schedule = defs.resolve_schedule_def(f"schedule_{stored.id}_{stored.job}")
        (request,) = schedule.evaluate_tick(dg.build_schedule_context()).run_requests or []
        return request.run_config.get("ops", {})

    assert ops(daily) == {"ingest": {"config": {"datasets": "crashes"}}, "ml__model": {"config": {"retrain": True}}}
    assert ops(window)["ingest"]["config"] == {"since": "2024-01-01", "until": "2024-02-01"}
    assert ops(weekly) == {}  # the job's own config: retrain on the published gold
