"""The Ingest page starts a real pipeline run in another process: the page returns at once, the
run is recorded with trigger "dashboard", the dashboard keeps working while it builds, and the
page shows how it ended."""

from __future__ import annotations

import os
import time

from streamlit.testing.v1 import AppTest

from orchestration import runs
from tests.dashboard.conftest import APP, Demo


def test_ingest_page_runs_the_pipeline_in_a_separate_process(demo: Demo, app) -> None:  # noqa: ANN001
    at = app.switch_page("views/ingest.py").run()
    assert not at.exception
    before = runs.recent_runs(1)[0].id
    crashes_before = demo.one("select count(*) from marts.fct_crashes")
    at.text_input[0].set_value(demo.socrata_url)
    started = time.monotonic()
    next(b for b in at.button if b.label == "Start run").click().run()
    assert time.monotonic() - started < 10, "starting a run must not wait for it"
    assert not at.exception and not at.error
    job = at.session_state["dashboard_job"]
    assert job.pid != os.getpid() and job.alive()

    seen_stages: set[str] = set()
    overview_checked = False
    deadline = time.monotonic() + 480
    while job.alive():
        assert time.monotonic() < deadline, f"the run did not finish in time; log:\n{job.log_tail()}"
        run = job.run()
        if run is not None:
            running = {s.name for s in runs.stages_for(run.id) if s.status == "running"}
            seen_stages |= running
            if "build" in running and not overview_checked:
                # Readers never block the writer: the Overview renders from gold mid-build.
                during = AppTest.from_file(str(APP), default_timeout=60).run()
                assert not during.exception
                assert {m.label for m in during.metric} >= {"Crashes", "Hit-and-run"}
                overview_checked = True
        time.sleep(1)

    run = job.run()
    assert run is not None and run.id > before, job.log_tail()
    assert run.trigger == "dashboard" and run.job == "incremental"
    assert run.args.get("base_url") == demo.socrata_url
    stages = {s.name: s for s in runs.stages_for(run.id)}
    assert stages["ingest"].status == "succeeded", job.log_tail()
    assert stages["build"].status == "succeeded", job.log_tail()
    # Incremental against a server with nothing newer: at most the cursor's boundary records come
    # again, merged on their keys, so the republished gold holds the same crashes.
    assert sum(stages["ingest"].rows_in.values()) <= 3
    assert demo.one("select count(*) from marts.fct_crashes") == crashes_before
    assert "build" in seen_stages and overview_checked
    if demo.run_ok:
        assert run.status == "succeeded", job.log_tail()
        assert job.exit_code() == 0

    at.run()
    assert not at.exception
    shown = "\n".join(m.value for m in at.markdown)
    assert f"**Run #{run.id}**" in shown and "trigger `dashboard`" in shown
    history = at.dataframe[-1].value
    assert history.iloc[0]["id"] == run.id and history.iloc[0]["trigger"] == "dashboard"


def test_ingest_page_refuses_a_backward_window(demo: Demo, app) -> None:  # noqa: ANN001
    from datetime import date

    at = app.switch_page("views/ingest.py").run()
    at.radio[0].set_value("Backfill a date range")
    at.date_input[0].set_value((date(2024, 3, 1), date(2024, 3, 1)))
    count_before = len(runs.recent_runs(100))
    next(b for b in at.button if b.label == "Start run").click().run()
    assert at.error and "must be after the start date" in at.error[0].value
    assert "dashboard_job" not in at.session_state
    assert len(runs.recent_runs(100)) == count_before
