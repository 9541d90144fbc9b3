"""`$filter` and `$orderby` of 1C's OData v3 over rows held as dicts.

The grammar is the one 1C documents for its standard interface: `eq ne gt ge lt le`, `and or not`,
parentheses, `substringof`, `startswith`, `endswith`, the lambdas `any` and `all` over a tabular part
(`Товары/any(d: d/Количество gt 1)`, 8.3.8+), and typed literals `guid'…'`, `datetime'…'`, `'text'` (a
quote doubled inside), numbers, `true`, `false`, `null`. A property that the entity (or the tabular part,
inside a lambda) does not have is an error, as on 1C; so is a literal of the wrong shape.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

__all__ = ["FilterError", "Predicate", "compile_filter", "order_rows"]

Row = Mapping[str, Any]
Predicate = Callable[[Row], bool]

_TOKEN = re.compile(
    r"""\s*(?:
        (?P<typed>(?:guid|datetime)'[^']*')
      | (?P<string>'(?:[^']|'')*')
      | (?P<number>-?\d+(?:\.\d+)?)
      | (?P<punct>[(),:])
      | (?P<word>[^\W\d][\w/]*)
    )""",
    re.VERBOSE,
)
_COMPARE = {"eq", "ne", "gt", "ge", "lt", "le"}
_FUNCTIONS = {"substringof", "startswith", "endswith"}


class FilterError(ValueError):
    """A `$filter` or `$orderby` that 1C would refuse (HTTP 400)."""


@dataclass(frozen=True, slots=True)
class _Tok:
    kind: str
    text: str


def _tokens(text: str) -> list[_Tok]:
    out: list[_Tok] = []
    pos = 0
    while pos < len(text):
        if text[pos:].strip() == "":
            break
        match = _TOKEN.match(text, pos)
        if match is None or match.end() == pos:
            raise FilterError(f"$filter: cannot read {text[pos : pos + 20]!r}")
        kind = match.lastgroup or ""
        out.append(_Tok(kind, match.group(kind)))
        pos = match.end()
    return out


def _literal(tok: _Tok) -> Any:
    if tok.kind == "typed":
        kind, _, rest = tok.text.partition("'")
        value = rest[:-1]
        if kind == "guid":
            try:
                return str(uuid.UUID(value))
            except ValueError as exc:
                raise FilterError(f"$filter: bad guid literal {tok.text}") from exc
        try:
            return datetime.fromisoformat(value).isoformat()
        except ValueError as exc:
            raise FilterError(f"$filter: bad datetime literal {tok.text}") from exc
    if tok.kind == "string":
        return tok.text[1:-1].replace("''", "'")
    return Decimal(tok.text)


class _Parser:
    def __init__(self, text: str, fields: frozenset[str], tables: Mapping[str, frozenset[str]]) -> None:
        self.toks = _tokens(text)
        self.pos = 0
        self.fields = fields
        self.tables = tables
        #: Inside a lambda: its variable and the tabular part's columns (a row there is the part's row).
        self.scope: tuple[str, frozenset[str]] | None = None

    def peek(self, word: str | None = None) -> _Tok | None:
        tok = self.toks[self.pos] if self.pos < len(self.toks) else None
        if word is not None and (tok is None or tok.text.lower() != word):
            return None
        return tok

    def take(self, text: str | None = None) -> _Tok:
        tok = self.peek()
        if tok is None or (text is not None and tok.text.lower() != text):
            raise FilterError(f"$filter: expected {text or 'more'} at token {self.pos + 1}")
        self.pos += 1
        return tok

    def parse(self) -> Predicate:
        predicate = self.disjunction()
        if self.peek() is not None:
            raise FilterError(f"$filter: unexpected {self.peek().text!r}")  # type: ignore[union-attr]
        return predicate

    def disjunction(self) -> Predicate:
        parts = [self.conjunction()]
        while self.peek("or"):
            self.take()
            parts.append(self.conjunction())
        return parts[0] if len(parts) == 1 else (lambda row: any(p(row) for p in parts))

    def conjunction(self) -> Predicate:
        parts = [self.negation()]
        while self.peek("and"):
            self.take()
            parts.append(self.negation())
        return parts[0] if len(parts) == 1 else (lambda row: all(p(row) for p in parts))

    def negation(self) -> Predicate:
        if self.peek("not"):
            self.take()
            inner = self.negation()
            return lambda row: not inner(row)
        return self.comparison()

    def comparison(self) -> Predicate:
        left = self.operand()
        tok = self.peek()
        if tok is not None and tok.text.lower() in _COMPARE:
            op = self.take().text.lower()
            right = self.operand()
            return lambda row: _compare(op, left(row), right(row))
        return lambda row: left(row) is True

    def operand(self) -> Callable[[Row], Any]:
        tok = self.take()
        if tok.text == "(":
            inner = self.disjunction()
            self.take(")")
            return inner
        if tok.kind in ("typed", "string", "number"):
            value = _literal(tok)
            return lambda row: value
        if tok.kind != "word":
            raise FilterError(f"$filter: unexpected {tok.text!r}")
        word = tok.text
        if word.lower() in ("true", "false", "null"):
            constant = {"true": True, "false": False, "null": None}[word.lower()]
            return lambda row: constant
        if word.lower() in _FUNCTIONS and self.peek("("):
            return self.function(word.lower())
        table, _, lam = word.rpartition("/")
        if lam.lower() in ("any", "all") and self.peek("("):
            return self.lambda_(table, lam.lower())
        if self.scope is not None:
            var, _, column = word.partition("/")
            if var != self.scope[0] or column not in self.scope[1]:
                raise FilterError(f"$filter: the tabular part has no property {word!r}")
            return lambda row: row.get(column)
        if word not in self.fields:
            raise FilterError(f"$filter: the entity has no property {word!r}")
        return lambda row: row.get(word)

    def lambda_(self, table: str, kind: str) -> Callable[[Row], Any]:
        if table not in self.tables or self.scope is not None:
            raise FilterError(f"$filter: {table!r} is not a tabular part of the entity")
        self.take("(")
        var = self.take()
        if var.kind != "word" or "/" in var.text:
            raise FilterError(f"$filter: a lambda variable is expected, got {var.text!r}")
        self.take(":")
        self.scope = (var.text, self.tables[table])
        inner = self.disjunction()
        self.scope = None
        self.take(")")
        test = any if kind == "any" else all
        return lambda row: test(inner(item) for item in row.get(table) or [])

    def function(self, name: str) -> Callable[[Row], Any]:
        self.take("(")
        first = self.operand()
        self.take(",")
        second = self.operand()
        self.take(")")
        if name == "substringof":
            return lambda row: str(first(row) or "") in str(second(row) or "")
        if name == "startswith":
            return lambda row: str(first(row) or "").startswith(str(second(row) or ""))
        return lambda row: str(first(row) or "").endswith(str(second(row) or ""))


def _comparable(value: Any) -> Any:
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int | float | Decimal):
        return Decimal(str(value))
    if isinstance(value, str):
        try:
            return str(uuid.UUID(value)) if len(value) == 36 else value
        except ValueError:
            return value
    return value


def _compare(op: str, left: Any, right: Any) -> bool:
    a, b = _comparable(left), _comparable(right)
    if isinstance(a, Decimal) and isinstance(b, str):
        try:
            b = Decimal(b)
        except InvalidOperation:
            return op == "ne"
    if isinstance(b, Decimal) and isinstance(a, str):
        try:
            a = Decimal(a)
        except InvalidOperation:
            return op == "ne"
    if op == "eq":
        return bool(a == b)
    if op == "ne":
        return bool(a != b)
    if a is None or b is None or type(a) is not type(b):
        return False
    return bool({"gt": a > b, "ge": a >= b, "lt": a < b, "le": a <= b}[op])


def compile_filter(
    text: str, fields: frozenset[str], tables: Mapping[str, frozenset[str]] | None = None
) -> Predicate:
    """The predicate of a `$filter` over an entity with these properties (and tabular parts' columns)."""
    return _Parser(text, fields, tables or {}).parse()


def order_rows(rows: list[dict[str, Any]], orderby: str, fields: frozenset[str]) -> list[dict[str, Any]]:
    """Rows sorted by a `$orderby` such as `Date desc, Ref_Key`."""
    keys: list[tuple[str, bool]] = []
    for part in orderby.split(","):
        words = part.split()
        if not words or len(words) > 2 or (len(words) == 2 and words[1].lower() not in ("asc", "desc")):
            raise FilterError(f"$orderby: cannot read {part.strip()!r}")
        if words[0] not in fields:
            raise FilterError(f"$orderby: the entity has no property {words[0]!r}")
        keys.append((words[0], len(words) == 2 and words[1].lower() == "desc"))
    ordered = list(rows)
    for name, descending in reversed(keys):
        ordered.sort(
            key=lambda row: (row.get(name) is not None, _sort_key(row.get(name))), reverse=descending
        )
    return ordered


def _sort_key(value: Any) -> Any:
    value = _comparable(value)
    return (0, value) if isinstance(value, Decimal) else (1, str(value))
