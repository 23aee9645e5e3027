"""The Evidence project's SQL against the demo gold snapshot: every source query and every page
query block runs, returns rows, and has the columns the page's components use."""

from __future__ import annotations

from pathlib import Path

from tests.dashboard.conftest import Demo, require_model
from tests.dashboard.evidence_pages import expand, load_sources, page_problems, page_queries, source_queries

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
        problems, n = page_problems(memory, page, skip="gold.model_scores" if unscored else None)
        assert not problems, problems
        checked += n
    assert checked >= 12
    index = next(p for p in page_queries(PROJECT) if p.page == "index.md")
    totals = memory.execute(expand(index.queries["totals"], index.queries)).fetchone()
    assert totals[0] == demo.one("select count(*) from marts.fct_crashes")
    if unscored:
        require_model(demo)  # fails, saying why, when the demo run scored nothing


BROKEN_PAGE = """# Broken

```sql missing_table
select * from gold.nope
```

```sql daily
select crash_date, crash_count from gold.daily
```

<LineChart data={daily} x=crash_date y=no_such_column/>
<BarChart data={not_a_query} x=crash_date y=crash_count/>
"""


def test_a_broken_page_is_caught(demo: Demo, tmp_path: Path) -> None:
    """The check above can fail: a page with a failing query, a column its query lacks and an
    unknown query is rejected on each count by the same harness."""
    (tmp_path / "pages").mkdir()
    (tmp_path / "pages" / "broken.md").write_text(BROKEN_PAGE)
    memory, _ = load_sources(demo.gold, source_queries(PROJECT))
    (page,) = page_queries(tmp_path)
    problems, checked = page_problems(memory, page)
    assert checked == 1 and len(problems) == 3, problems
    assert "query missing_table fails" in problems[0]
    assert "uses columns ['no_such_column'] that daily lacks" in problems[1]
    assert "uses unknown query not_a_query" in problems[2]
