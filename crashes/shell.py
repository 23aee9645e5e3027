"""`crashes sql`: analysts' SQL on the current gold snapshot, read-only.

Opening `gold.duckdb` the default way (read-write, as `duckdb gold.duckdb` or
`duckdb.connect("gold.duckdb")` do) locks every other reader out, the dashboard included, until
that session ends. This shell opens the current version file read-only, so it blocks nobody,
refuses writes, and keeps its snapshot for the whole session even if a publish lands meanwhile.
"""

from __future__ import annotations

import contextlib
import csv
import sys

import duckdb

from crashes import gold
from crashes.errors import CrashesError

# Statement types that produce rows to print; everything else only runs.
RESULTS = {
    duckdb.StatementType.SELECT,
    duckdb.StatementType.EXPLAIN,
    duckdb.StatementType.PRAGMA,
    duckdb.StatementType.CALL,
}
MAX_ROWS = 1000
QUIT = {".quit", ".exit", "\\q", "quit", "exit"}
TABLES = (
    "select schema_name || '.' || table_name as mart, estimated_size as rows, coalesce(comment, '') as description"
    " from duckdb_tables() where schema_name = 'marts' order by table_name"
)


def _explain(exc: duckdb.Error) -> str:
    text = " ".join(str(exc).split())
    if "read-only mode" in text:
        text += " (gold is a read-only snapshot: change it in dbt_project/, or COPY results out to a file)"
    return text


def _print(rel: duckdb.DuckDBPyRelation, as_csv: bool) -> None:
    if as_csv:
        writer = csv.writer(sys.stdout)
        writer.writerow(rel.columns)
        writer.writerows(rel.fetchall())
    else:
        rel.show(max_rows=MAX_ROWS)


def run_script(con: duckdb.DuckDBPyConnection, text: str, as_csv: bool = False) -> bool:
    """Run every statement in `text`, printing results; stop at the first error (False)."""
    try:
        for statement in con.extract_statements(text):
            if statement.type in RESULTS:
                _print(con.sql(statement.query), as_csv)
            else:
                con.execute(statement.query)
    except duckdb.Error as exc:
        print(f"error: {_explain(exc)}", file=sys.stderr)
        return False
    return True


def _repl(con: duckdb.DuckDBPyConnection, as_csv: bool) -> None:
    with contextlib.suppress(ImportError):
        import readline  # noqa: F401 - line editing and history for input()
    buffer: list[str] = []
    while True:
        try:
            line = input("gold> " if not buffer else "  ... ")
        except EOFError:
            print()
            return
        except KeyboardInterrupt:
            print()
            buffer.clear()
            continue
        if not buffer and line.strip().lower() in QUIT:
            return
        if not buffer and line.strip() == ".tables":
            run_script(con, TABLES, as_csv)
            continue
        buffer.append(line)
        if line.rstrip().endswith(";"):
            run_script(con, "\n".join(buffer), as_csv)
            buffer.clear()


def run(command: str | None = None, as_csv: bool = False) -> int:
    """`-c SQL`, SQL on stdin, or an interactive shell; the exit code (1 after a failed statement)."""
    path = gold.current()
    if path is None:
        raise CrashesError(f"no gold snapshot at {gold.gold_path()}: run `crashes build` (or `crashes demo`) first")
    con = gold.open_read_only(path)
    try:
        if command is not None:
            return 0 if run_script(con, command, as_csv) else 1
        if not sys.stdin.isatty():
            return 0 if run_script(con, sys.stdin.read(), as_csv) else 1
        print(
            f"gold snapshot {path.name}, read-only. End statements with ';'. "
            "'.tables' lists the marts, '.quit' leaves.",
            file=sys.stderr,
        )
        _repl(con, as_csv)
        return 0
    finally:
        con.close()
