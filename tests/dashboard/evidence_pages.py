"""Run an Evidence project's SQL the way Evidence does, without Node: every source query against
the DuckDB file, its result stored as table `<source>.<query>`, then every page's query blocks
against those tables (Evidence runs them in DuckDB-WASM over the source results). It also reads
which columns each page component uses, so a test can check the results have them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import yaml

QUERY_BLOCK = re.compile(r"^```sql[ \t]+(\w+)[ \t]*\n(.*?)^```", re.S | re.M)
COMPONENT = re.compile(r"<([A-Z]\w*)\b([^<>]*?)/?>", re.S)
ATTRIBUTE = re.compile(r"(\w+)=(?:\"([^\"]*)\"|\{([^}]*)\}|([^\s/>]+))")
REFERENCE = re.compile(r"\$\{(\w+)\}")
# Component attributes that name a column of their data.
COLUMN_ATTRIBUTES = ("x", "y", "y2", "series", "value", "column", "lat", "long", "pointName", "size", "id")


@dataclass
class Use:
    page: str
    component: str
    query: str
    columns: list[str] = field(default_factory=list)


@dataclass
class PageQueries:
    page: str
    queries: dict[str, str]
    uses: list[Use]


def source_queries(project: Path) -> dict[str, dict[str, str]]:
    """{source name: {query name: SQL}} from sources/<folder>/connection.yaml + *.sql."""
    found: dict[str, dict[str, str]] = {}
    for connection in sorted(project.glob("sources/*/connection.yaml")):
        name = yaml.safe_load(connection.read_text())["name"]
        found[name] = {p.stem: p.read_text() for p in sorted(connection.parent.glob("*.sql"))}
    return found


def page_queries(project: Path) -> list[PageQueries]:
    pages = []
    for path in sorted((project / "pages").rglob("*.md")):
        text = path.read_text()
        queries = {m.group(1): m.group(2) for m in QUERY_BLOCK.finditer(text)}
        prose = QUERY_BLOCK.sub("", text)
        uses, table_data = [], None
        for component, attrs in COMPONENT.findall(prose):
            values = {}
            for key, quoted, braced, bare in ATTRIBUTE.findall(attrs):
                values[key] = quoted or braced or bare
            if "data" in values:
                table_data = values["data"] if component == "DataTable" else table_data
                uses.append(
                    Use(
                        path.name,
                        component,
                        values["data"],
                        [values[k] for k in COLUMN_ATTRIBUTES if k in values and k != "id"],
                    )
                )
            elif component == "Column" and "id" in values and uses and uses[-1].query == table_data:
                uses[-1].columns.append(values["id"])  # a <Column> of the DataTable just opened
        pages.append(PageQueries(path.name, queries, uses))
    return pages


def expand(sql: str, queries: dict[str, str], depth: int = 0) -> str:
    """Evidence's query chaining: `${other}` is the other query block as a subquery."""
    if depth > 10:
        raise ValueError("query references nest too deep (a cycle?)")
    return REFERENCE.sub(lambda m: f"({expand(queries[m.group(1)], queries, depth + 1)})", sql)


def load_sources(gold: Path, sources: dict[str, dict[str, str]]) -> tuple[duckdb.DuckDBPyConnection, dict]:
    """Run each source query on the database file (read-only) and keep the results as tables in
    an in-memory database; returns it and {(source, query): row count}."""
    memory = duckdb.connect()
    counts = {}
    with duckdb.connect(str(gold), read_only=True) as con:
        for source, queries in sources.items():
            memory.execute(f'create schema "{source}"')
            for name, sql in queries.items():
                result = con.sql(sql).to_arrow_table()
                memory.register("_result", result)
                memory.execute(f'create table "{source}"."{name}" as select * from _result')  # noqa: S608
                memory.unregister("_result")
                counts[(source, name)] = result.num_rows
    return memory, counts


def page_problems(
    memory: duckdb.DuckDBPyConnection, page: PageQueries, skip: str | None = None
) -> tuple[list[str], int]:
    """Run every query block of a page on the source tables; returns what is wrong (a query that
    fails or returns no rows, a component naming an unknown query or a column its query lacks)
    and how many component uses were checked. Queries mentioning `skip` (a table that may
    legitimately be empty) are run but not required to return rows, nor their uses checked."""
    problems: list[str] = []
    if not page.queries:
        problems.append(f"{page.page} has no query blocks")
    results = {}
    skipped = set()
    for name, sql in page.queries.items():
        full = expand(sql, page.queries)
        try:
            result = memory.execute(full).df()
        except duckdb.Error as error:
            problems.append(f"{page.page}: query {name} fails: {error}")
            continue
        if skip and skip in full:
            skipped.add(name)
        elif not len(result):
            problems.append(f"{page.page}: query {name} returned no rows")
        else:
            results[name] = result
    checked = 0
    for use in page.uses:
        if use.query in skipped:
            continue
        if use.query not in results:
            if use.query not in page.queries:
                problems.append(f"{page.page}: {use.component} uses unknown query {use.query}")
            continue
        missing = set(use.columns) - set(results[use.query].columns)
        if missing:
            problems.append(f"{page.page}: {use.component} uses columns {sorted(missing)} that {use.query} lacks")
        checked += 1
    return problems, checked
