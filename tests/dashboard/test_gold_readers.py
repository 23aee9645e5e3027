"""The dashboard against what real readers do to gold: an analyst's process holding gold.duckdb
read-write (the default way to open it), and publishes landing while the dashboard's process has
a connection open. Snapshots are the demo's marts, published into a home of the test's own."""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb

from crashes import gold
from tests.dashboard.conftest import APP, Demo
from transform.publish import publish

HOLD = "import duckdb, sys, time; con = duckdb.connect(sys.argv[1]); print('holding', flush=True); time.sleep(600)"


def _publish_demo(demo: Demo, home: Path, drop_days: int = 0) -> int:
    """Publish the demo's marts (less the first `drop_days` days of the daily mart); the crashes
    that snapshot's daily mart counts."""
    build = home / "gold_build.duckdb"
    shutil.copyfile(demo.gold.resolve(), build)
    with duckdb.connect(str(build)) as con:
        con.execute(
            "delete from marts.agg_crashes_daily where crash_date < "
            "(select min(crash_date) + cast(? as integer) from marts.agg_crashes_daily)",
            [drop_days],
        )
        crashes = con.execute("select sum(crash_count) from marts.agg_crashes_daily").fetchone()[0]
    publish(build, home / "gold.duckdb")
    return int(crashes)


@contextmanager
def holding(gold_link: Path) -> Iterator[subprocess.Popen[str]]:
    """Another process with gold.duckdb open read-write, as `duckdb gold.duckdb` would have it."""
    proc = subprocess.Popen([sys.executable, "-c", HOLD, str(gold_link)], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "holding"
        yield proc
    finally:
        proc.kill()
        proc.wait(timeout=30)


def _run_app():  # noqa: ANN202 - AppTest
    from streamlit.testing.v1 import AppTest

    from dashboard.snapshot import clear

    clear()
    return AppTest.from_file(str(APP), default_timeout=60).run()


def _crashes_shown(at) -> str:  # noqa: ANN001 - AppTest
    return next(m.value for m in at.metric if m.label == "Crashes")


def test_a_read_write_holder_is_named_and_the_previous_snapshot_served(demo: Demo, crashes_home: Path) -> None:
    older = _publish_demo(demo, crashes_home, drop_days=30)
    newer = _publish_demo(demo, crashes_home)
    assert older < newer
    at = _run_app()
    assert not at.exception and _crashes_shown(at) == f"{newer:,}"

    with holding(crashes_home / "gold.duckdb") as proc:
        at.run()
        assert not at.exception, at.exception
        lines = [w.value for w in at.warning if "read-write" in w.value]
        assert len(lines) == 1 and "\n" not in lines[0], lines
        assert f"PID {proc.pid}" in lines[0] and "previous snapshot" in lines[0]
        assert _crashes_shown(at) == f"{older:,}"  # the previous version, read while the current is held
        at.switch_page("views/data.py").run()
        assert not at.exception, at.exception
        assert any(f"PID {proc.pid}" in w.value for w in at.warning)

    at.switch_page("views/overview.py").run()
    assert not at.exception
    assert not [w.value for w in at.warning if "read-write" in w.value]
    assert _crashes_shown(at) == f"{newer:,}"  # back on the current snapshot once it is released


def test_with_no_previous_snapshot_the_page_says_what_holds_gold_in_one_line(demo: Demo, crashes_home: Path) -> None:
    _publish_demo(demo, crashes_home)
    with holding(crashes_home / "gold.duckdb") as holder:
        at = _run_app()
        assert not at.exception, at.exception
        errors = [e.value for e in at.error]
        assert len(errors) == 1 and f"PID {holder.pid}" in errors[0] and "\n" not in errors[0], errors
        assert "crashes sql" in errors[0]  # and the read-only way to open it
        assert not [m for m in at.metric if m.label == "Crashes"]


def test_cached_queries_follow_each_publish_while_a_connection_is_open(demo: Demo, crashes_home: Path) -> None:
    from dashboard import queries, snapshot

    snapshot.clear()
    older = _publish_demo(demo, crashes_home, drop_days=30)
    assert queries.totals()["crashes"] == older
    with gold.connect():  # any open connection kept DuckDB's instance of the old file alive
        newer = _publish_demo(demo, crashes_home)
        assert queries.totals()["crashes"] == newer
        assert queries.mart_rows()["agg_crashes_daily"] > 0
        third = _publish_demo(demo, crashes_home, drop_days=10)
        assert queries.totals()["crashes"] == third
    assert older < third < newer
