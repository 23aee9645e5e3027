"""The Evidence project's SQL against the demo gold snapshot: every source query and every page
query block runs, returns rows, and has the columns the page's components use."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.dashboard.conftest import Demo, require_model
from tests.dashboard.evidence_pages import expand, load_sources, page_queries, source_queries

PROJECT = Path(__file__).resolve().parents[2] / "dashboard" / "evidence"


def test_project_files_are_complete() -> None:
    import json

    package = json.loads((PROJECT / "package.json").read_text())
    assert {"@evidence-dev/evidence", "@evidence-dev/duckdb", "@evidence-dev/core-components"} <= set(
        package["dependencies"]
    )
    assert (PROJECT / "evidence.config.yaml").is_file() and (PROJECT / "README.md").is_file()
    pages = {p.page for p in page_queries(PROJECT)}
    assert {"index.md", "trends.md", "beats.md", "hit-and-run.md"} <= pages


def test_every_source_and_page_query_returns_the_columns_its_page_uses(demo: Demo) -> None:
    sources = source_queries(PROJECT)
    assert set(sources) == {"gold"} and len(sources["gold"]) >= 5
    memory, counts = load_sources(demo.gold, sources)
    # Scores exist only once a model has scored gold; everything else must have rows regardless.
    unscored = demo.one("select count(*) from marts.ml_hit_and_run_scores") == 0
    empty = [name for name, n in counts.items() if n == 0 and not (unscored and name == ("gold", "model_scores"))]
    assert not empty, f"source queries returned no rows on the demo gold: {empty}"
    # The sources reproduce the marts they read (not a filtered or broken copy).
    assert memory.execute("select sum(crash_count) from gold.daily").fetchone()[0] == demo.one(
        "select count(*) from marts.fct_crashes"
    )

    checked = 0
    for page in page_queries(PROJECT):
        assert page.queries, f"{page.page} has no query blocks"
        results = {}
        for name, sql in page.queries.items():
            full = expand(sql, page.queries)
            result = memory.execute(full).df()
            if unscored and "gold.model_scores" in full:
                continue  # checked once a model exists (see the end)
            assert len(result), f"{page.page}: query {name} returned no rows"
            results[name] = result
        for use in page.uses:
            if unscored and use.query not in results and use.query in page.queries:
                continue
            assert use.query in results, f"{page.page}: {use.component} uses unknown query {use.query}"
            missing = set(use.columns) - set(results[use.query].columns)
            assert not missing, f"{page.page}: {use.component} uses columns {missing} that {use.query} lacks"
            checked += 1
    assert checked >= 12
    index = next(p for p in page_queries(PROJECT) if p.page == "index.md")
    totals = memory.execute(expand(index.queries["totals"], index.queries)).fetchone()
    assert totals[0] == demo.one("select count(*) from marts.fct_crashes")
    if unscored:
        require_model(demo)  # skips, saying why, until ml is in the tree; fails if it is and scored nothing


@pytest.mark.parametrize("bad", ["select * from gold.nope", "select nope from gold.daily"])
def test_a_broken_page_query_is_caught(demo: Demo, bad: str) -> None:
    """The check above can fail: the same harness rejects a query the snapshot cannot answer."""
    import duckdb

    memory, _ = load_sources(demo.gold, source_queries(PROJECT))
    with pytest.raises(duckdb.Error):
        memory.execute(bad)
