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


def _caret_ok(version: str, spec: str) -> bool:
    """npm's `^X.Y.Z` for the plain releases pinned here: same major, not older."""
    want = tuple(int(p) for p in spec.removeprefix("^").split("-")[0].split("."))
    have = tuple(int(p) for p in version.split("-")[0].split("."))
    return have[0] == want[0] and have >= want


def test_package_pins_install_and_the_lock_resolves_them() -> None:
    """`npm install` failed with ERESOLVE (TypeScript 7 against svelte2tsx's `^4.9.4 || ^5.0.0`):
    TypeScript 5 and duckdb-wasm are pinned, and the committed lock resolves exactly those, in sync
    with package.json (what `npm ci` checks), with every platform's DuckDB binding."""
    import json

    package = json.loads((PROJECT / "package.json").read_text())
    lock = json.loads((PROJECT / "package-lock.json").read_text())
    pinned = {**package["dependencies"], **package.get("devDependencies", {})}
    typescript, wasm = pinned["typescript"], pinned["@duckdb/duckdb-wasm"]
    assert typescript.split(".")[0] == "5" and typescript.replace(".", "").isdigit(), typescript
    assert wasm.replace(".", "").isdigit(), f"duckdb-wasm is not pinned to one version: {wasm}"
    assert package["overrides"]["typescript"] == "$typescript"

    packages = lock["packages"]
    root = packages[""]
    assert root["dependencies"] == package["dependencies"]
    assert root.get("devDependencies", {}) == package.get("devDependencies", {})
    tss = {k: v["version"] for k, v in packages.items() if k.endswith("node_modules/typescript")}
    assert set(tss.values()) == {typescript}, tss
    assert packages["node_modules/svelte2tsx"]["peerDependencies"]["typescript"] == "^4.9.4 || ^5.0.0"
    wasms = {k: v["version"] for k, v in packages.items() if k.endswith("node_modules/@duckdb/duckdb-wasm")}
    assert set(wasms.values()) == {wasm}, wasms
    needs = [v["dependencies"]["@duckdb/duckdb-wasm"] for v in packages.values()
             if "@duckdb/duckdb-wasm" in v.get("dependencies", {})]  # fmt: skip
    assert needs and all(_caret_ok(wasm, spec) for spec in needs), needs
    bindings = packages["node_modules/@duckdb/node-bindings"]["optionalDependencies"]
    assert {f"node_modules/{name}" for name in bindings} <= set(packages), "a platform's binding is not locked"
    assert all(v.get("resolved", "https://registry.npmjs.org/").startswith("https://registry.npmjs.org/")
               for v in packages.values())  # fmt: skip
