"""The docs name gold's tables as a reader of `gold.duckdb` writes them: `marts.fct_crashes`, not
dbt-duckdb's default `main_marts.fct_crashes` nor a bare `fct_crashes` a reader's query cannot find."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
MARTS = sorted(p.stem for p in (ROOT / "dbt_project" / "models" / "marts").rglob("*.sql"))
PROSE = [
    ROOT / "README.md",
    *sorted((ROOT / "docs").rglob("*.md")),
    *sorted((ROOT / "dashboard" / "evidence").glob("*.md")),
    *sorted((ROOT / "dashboard" / "evidence" / "pages").rglob("*.md")),
    *sorted((ROOT / "dashboard" / "evidence" / "sources").rglob("*.sql")),
]
# dbt-duckdb's `<target schema>_<custom schema>` names, which generate_schema_name overrides.
PREFIXED = re.compile(r"\bmain_(marts|staging|intermediate|ml|raw)\b")
BARE = re.compile(rf"(?<![\w./+-])(?:{'|'.join(map(re.escape, MARTS))})\b(?![\w/])")


def _descriptions(node: object) -> list[str]:
    if isinstance(node, dict):
        found = [v for k, v in node.items() if k == "description" and isinstance(v, str)]
        return found + [d for v in node.values() for d in _descriptions(v)]
    if isinstance(node, list):
        return [d for v in node for d in _descriptions(v)]
    return []


def _texts() -> list[tuple[str, str]]:
    texts = [(str(p.relative_to(ROOT)), p.read_text()) for p in PROSE]
    for path in sorted((ROOT / "dbt_project" / "models").rglob("*.yml")):
        for text in _descriptions(yaml.safe_load(path.read_text())):
            texts.append((str(path.relative_to(ROOT)), text))
    for path in sorted((ROOT / "dashboard").rglob("*.py")):
        texts.append((str(path.relative_to(ROOT)), path.read_text()))
    return texts


def test_docs_never_name_dbt_duckdb_default_schemas() -> None:
    wrong = [f"{where}: {m.group(0)}" for where, text in _texts() for m in PREFIXED.finditer(text)]
    assert not wrong, wrong


def test_docs_name_marts_with_their_schema() -> None:
    assert len(MARTS) >= 15 and "fct_crashes" in MARTS
    wrong = []
    for where, text in _texts():
        if where.endswith(".py"):
            continue  # code names marts through queries.SCHEMA; its strings are checked above
        for m in BARE.finditer(text):
            if text[: m.start()].endswith("--select "):
                continue  # a dbt selector names the model, not the table
            wrong.append(f"{where}: …{text[max(0, m.start() - 30) : m.end() + 10]!r}")
    assert not wrong, "\n".join(wrong)
