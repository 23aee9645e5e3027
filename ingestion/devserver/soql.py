"""The subset of SoQL the local server understands, compiled to DuckDB SQL with bound parameters.

User text never reaches SQL: identifiers are checked against the dataset's known columns and
emitted as quoted names we generate; every literal becomes a `?` parameter. Anything outside the
grammar is a `SoqlError` (HTTP 400 with a Socrata-like body), never a guess.

    where     := or
    or        := and ("OR" and)*
    and       := not ("AND" not)*
    not       := "NOT" not | "(" or ")" | predicate
    predicate := column ( cmp literal | "IS" ["NOT"] "NULL"
                 | ["NOT"] "BETWEEN" literal "AND" literal | ["NOT"] "IN" "(" literal ("," literal)* ")" )
                 | literal cmp column
    cmp       := "=" | "!=" | "<>" | "<" | "<=" | ">" | ">="
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from crashes.sql import ident

MAX_LIMIT = 50_000
DEFAULT_LIMIT = 1_000
SYSTEM_COLUMNS = {":id": "__id", ":created_at": "__created_at", ":updated_at": "__updated_at"}
SYSTEM_TYPES = {":id": "text", ":created_at": "fixed_timestamp", ":updated_at": "fixed_timestamp"}
TIMESTAMP_TYPES = {"calendar_date", "floating_timestamp", "fixed_timestamp"}

_TOKEN = re.compile(
    r"""\s*(?:
        (?P<string>'(?:[^']|'')*')
      | (?P<number>-?\d+(?:\.\d+)?)
      | (?P<op><=|>=|!=|<>|=|<|>)
      | (?P<punct>[(),])
      | (?P<ident>:?@?[A-Za-z_][A-Za-z0-9_]*|`[^`]+`)
    )""",
    re.VERBOSE,
)
_TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?)?(?:Z|[+-]\d{2}:?\d{2})?$")
_KEYWORDS = {"and", "or", "not", "between", "is", "null", "in"}


class SoqlError(ValueError):
    """A query the server refuses; `code` follows Socrata's error codes."""

    def __init__(self, message: str, code: str = "query.soql.invalid") -> None:
        super().__init__(message)
        self.code = code


@dataclass
class Token:
    kind: str
    text: str
    pos: int


@dataclass
class Query:
    """A compiled request: selected API fields, a WHERE clause with its parameters, ORDER BY, paging."""

    fields: list[str]
    where: str = "TRUE"
    params: list[Any] = field(default_factory=list)
    order: list[tuple[str, str]] = field(default_factory=lambda: [('"__id"', "ASC NULLS LAST")])
    limit: int = DEFAULT_LIMIT
    offset: int = 0


def tokenize(text: str) -> list[Token]:
    tokens, pos = [], 0
    text = text.rstrip()
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m or m.end() == pos:
            bad = text[pos:].lstrip()[:1]
            raise SoqlError(f"Unexpected character {bad!r} at position {len(text) - len(text[pos:].lstrip())}")
        kind = m.lastgroup or ""
        tokens.append(Token(kind, m.group(kind), m.start(kind)))
        pos = m.end()
    return tokens


def parse_timestamp(text: str) -> datetime:
    """Socrata's timestamp literals: '2024-01-01', '2024-01-01T00:00:00', '…00.000', '…Z' (→ UTC)."""
    value = text.strip()
    if not _TIMESTAMP.match(value):
        raise SoqlError(f"Could not parse {text!r} as a timestamp", "query.soql.type-mismatch")
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise SoqlError(f"Could not parse {text!r} as a timestamp", "query.soql.type-mismatch") from None
    if parsed.tzinfo is not None:
        parsed = parsed.astimezone(UTC).replace(tzinfo=None)
    return parsed


class Columns:
    """The fields a dataset exposes (API names → SQL expressions and Socrata types)."""

    def __init__(self, names: list[str], types: dict[str, str]) -> None:
        self.names = names
        self.types = {n: types.get(n, "text") for n in names} | SYSTEM_TYPES

    def resolve(self, name: str) -> str:
        """An API field name → the API field name as known (case-insensitive), or a 400."""
        key = name.strip("`")
        if key in self.types:
            return key
        lowered = {n.lower(): n for n in self.types}
        if key.lower() in lowered:
            return lowered[key.lower()]
        raise SoqlError(f"No such column: {key}", "query.soql.no-such-column")

    @staticmethod
    def sql_name(name: str) -> str:
        """Quoted SQL identifier for a resolved field (names come from our own column list)."""
        return ident(SYSTEM_COLUMNS.get(name, name))

    def typed(self, name: str) -> str:
        """SQL expression that compares/sorts the field by its Socrata type."""
        col, kind = self.sql_name(name), self.types[name]
        if name in SYSTEM_COLUMNS or kind == "text":
            return col
        if kind in TIMESTAMP_TYPES:
            return f"TRY_CAST({col} AS TIMESTAMP)"
        if kind == "number":
            return f"TRY_CAST({col} AS DOUBLE)"
        return col

    def literal(self, name: str, tok: Token) -> Any:
        """A literal token as the value bound for a comparison with field `name`."""
        if tok.kind == "string":
            raw = tok.text[1:-1].replace("''", "'")
        elif tok.kind == "number":
            raw = tok.text
        else:
            raise SoqlError(f"Expected a literal at position {tok.pos}, got {tok.text!r}")
        kind = self.types[name]
        if name in SYSTEM_COLUMNS and kind == "text":
            return raw
        if kind in TIMESTAMP_TYPES:
            return parse_timestamp(raw)
        if kind == "number":
            try:
                return float(raw)
            except ValueError:
                raise SoqlError(f"Could not parse {raw!r} as a number for {name}", "query.soql.type-mismatch") from None
        return raw


class _WhereParser:
    def __init__(self, text: str, columns: Columns) -> None:
        self.tokens = tokenize(text)
        self.i = 0
        self.columns = columns
        self.params: list[Any] = []

    def peek(self, offset: int = 0) -> Token | None:
        j = self.i + offset
        return self.tokens[j] if j < len(self.tokens) else None

    def is_kw(self, word: str, offset: int = 0) -> bool:
        tok = self.peek(offset)
        return tok is not None and tok.kind == "ident" and tok.text.lower() == word

    def take(self) -> Token:
        tok = self.peek()
        if tok is None:
            raise SoqlError("Unexpected end of $where")
        self.i += 1
        return tok

    def expect_kw(self, word: str) -> None:
        tok = self.take()
        if not (tok.kind == "ident" and tok.text.lower() == word):
            raise SoqlError(f"Expected {word.upper()} at position {tok.pos}, got {tok.text!r}")

    def expect(self, text: str) -> None:
        tok = self.take()
        if tok.text != text:
            raise SoqlError(f"Expected {text!r} at position {tok.pos}, got {tok.text!r}")

    def parse(self) -> str:
        if not self.tokens:
            raise SoqlError("Empty $where")
        sql = self.or_()
        if self.peek() is not None:
            tok = self.peek()
            assert tok is not None
            raise SoqlError(f"Unexpected {tok.text!r} at position {tok.pos}")
        return sql

    def or_(self) -> str:
        return self._chain("or", self.and_)

    def and_(self) -> str:
        return self._chain("and", self.not_)

    def _chain(self, word: str, operand: Callable[[], str]) -> str:
        parts = [operand()]
        while self.is_kw(word):
            self.take()
            parts.append(operand())
        return parts[0] if len(parts) == 1 else "(" + f" {word.upper()} ".join(parts) + ")"

    def not_(self) -> str:
        if self.is_kw("not"):
            self.take()
            return f"(NOT {self.not_()})"
        tok = self.peek()
        if tok is not None and tok.text == "(":
            self.take()
            inner = self.or_()
            self.expect(")")
            return f"({inner})"
        return self.predicate()

    def column(self, tok: Token) -> str:
        if tok.kind != "ident" or tok.text.lower() in _KEYWORDS:
            raise SoqlError(f"Expected a column at position {tok.pos}, got {tok.text!r}")
        return self.columns.resolve(tok.text)

    def bind(self, name: str, tok: Token) -> str:
        self.params.append(self.columns.literal(name, tok))
        return "?"

    def predicate(self) -> str:
        first = self.take()
        if first.kind in ("string", "number"):  # literal op column: flip it
            op = self.take()
            if op.kind != "op":
                raise SoqlError(f"Expected a comparison at position {op.pos}, got {op.text!r}")
            name = self.column(self.take())
            flipped = {"<": ">", ">": "<", "<=": ">=", ">=": "<="}.get(op.text, op.text)
            return self.compare(name, flipped, first)
        name = self.column(first)
        expr = self.columns.typed(name)
        if self.is_kw("is"):
            self.take()
            negate = self.is_kw("not")
            if negate:
                self.take()
            self.expect_kw("null")
            return f"({self.columns.sql_name(name)} IS {'NOT ' if negate else ''}NULL)"
        negate = self.is_kw("not")
        if negate:
            self.take()
        if self.is_kw("between"):
            self.take()
            lo = self.bind(name, self.take())
            self.expect_kw("and")
            hi = self.bind(name, self.take())
            return f"({expr} {'NOT ' if negate else ''}BETWEEN {lo} AND {hi})"
        if self.is_kw("in"):
            self.take()
            self.expect("(")
            items = [self.bind(name, self.take())]
            while self.peek() is not None and self.peek().text == ",":  # type: ignore[union-attr]
                self.take()
                items.append(self.bind(name, self.take()))
            self.expect(")")
            return f"({expr} {'NOT ' if negate else ''}IN ({', '.join(items)}))"
        if negate:
            raise SoqlError("NOT must be followed by BETWEEN or IN here")
        op = self.take()
        if op.kind != "op":
            raise SoqlError(f"Expected a comparison after {name} at position {op.pos}, got {op.text!r}")
        return self.compare(name, op.text, self.take())

    def compare(self, name: str, op: str, literal: Token) -> str:
        if literal.kind == "ident":
            raise SoqlError(f"Compare {name} with a literal value (position {literal.pos})")
        sql_op = "<>" if op == "!=" else op
        return f"({self.columns.typed(name)} {sql_op} {self.bind(name, literal)})"


def compile_where(text: str, columns: Columns) -> tuple[str, list[Any]]:
    parser = _WhereParser(text, columns)
    return parser.parse(), parser.params


def compile_select(text: str | None, columns: Columns) -> list[str]:
    """`:*,*` → system fields + all columns; `*` → all columns; else a list of known fields."""
    if text is None or not text.strip():
        return list(columns.names)
    out: list[str] = []
    for item in (part.strip() for part in text.split(",")):
        if item == ":*":
            picked = list(SYSTEM_COLUMNS)
        elif item == "*":
            picked = list(columns.names)
        elif re.fullmatch(r":?@?[A-Za-z_][A-Za-z0-9_]*|`[^`]+`", item):
            picked = [columns.resolve(item)]
        else:
            raise SoqlError(f"Unsupported $select item {item!r}: use :*, *, or column names")
        out.extend(p for p in picked if p not in out)
    return out


def compile_order(text: str | None, columns: Columns) -> list[tuple[str, str]]:
    """`a, b desc` → (typed field, direction) pairs; nulls last ascending, first descending (Socrata)."""
    if text is None or not text.strip():
        return [(columns.sql_name(":id"), "ASC NULLS LAST")]
    parts = []
    for item in (p.strip() for p in text.split(",")):
        m = re.fullmatch(r"(:?@?[A-Za-z_][A-Za-z0-9_]*|`[^`]+`)(?:\s+(asc|desc))?", item, re.IGNORECASE)
        if not m:
            raise SoqlError(f"Unsupported $order item {item!r}: use column [ASC|DESC]")
        name = columns.resolve(m.group(1))
        desc = (m.group(2) or "asc").lower() == "desc"
        parts.append((columns.typed(name), "DESC NULLS FIRST" if desc else "ASC NULLS LAST"))
    return parts


def _int(value: str | None, name: str, default: int, maximum: int | None = None) -> int:
    if value is None or value == "":
        return default
    if not re.fullmatch(r"\d+", value.strip()):
        raise SoqlError(f"{name} must be a non-negative whole number, got {value!r}")
    number = int(value)
    if maximum is not None and number > maximum:
        raise SoqlError(f"{name} must be at most {maximum}, got {number}")
    return number


SUPPORTED_PARAMS = {"$select", "$where", "$order", "$limit", "$offset", "$$app_token"}


def compile_query(params: dict[str, str], columns: Columns) -> Query:
    """Every query parameter of a request → a Query; simple `field=value` filters are equalities."""
    unknown = sorted(k for k in params if k.startswith("$") and k not in SUPPORTED_PARAMS)
    if unknown:
        raise SoqlError(f"Unrecognized arguments [{', '.join(unknown)}]", "query.soql.unsupported")
    conditions, bound = [], []
    if params.get("$where"):
        sql, values = compile_where(params["$where"], columns)
        conditions.append(sql)
        bound.extend(values)
    for key, value in params.items():
        if not key.startswith("$"):
            name = columns.resolve(key)
            conditions.append(f"({columns.typed(name)} = ?)")
            bound.append(columns.literal(name, Token("string", "'" + value.replace("'", "''") + "'", 0)))
    return Query(
        fields=compile_select(params.get("$select"), columns),
        where=" AND ".join(conditions) or "TRUE",
        params=bound,
        order=compile_order(params.get("$order"), columns),
        limit=_int(params.get("$limit"), "$limit", DEFAULT_LIMIT, MAX_LIMIT),
        offset=_int(params.get("$offset"), "$offset", 0),
    )
