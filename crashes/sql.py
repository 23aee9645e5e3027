"""Quoting for the SQL that cannot take a bound parameter: identifiers, DDL, COPY and ATTACH
targets, dlt SQL models. The one place a name or a text is made safe to splice into DuckDB SQL;
values that can be bound are bound."""

from __future__ import annotations


def ident(name: str) -> str:
    """A quoted identifier: `a"b` → `"a""b"`."""
    return '"' + name.replace('"', '""') + '"'


def literal(text: str) -> str:
    """A string literal: `it's` → `'it''s'`."""
    return "'" + text.replace("'", "''") + "'"
