"""List semantics shared by every `*.list` method: filter operators, order, select, pages of 50.

docs/protocols/bitrix24.md §2.4: filter keys carry an operator prefix (`>=`, `>`, `<=`, `<`, `@`, `!@`, `%`,
`=%`, `%=`, `!%`, `!=%`, `!%=`, `=`, `!=`, `!`); `crm.item.list` also nests `{"logic": "OR", ...}`
groups; the page size is fixed at 50, `start=-1` drops the count (`total` 0, no `next`).
Field names are resolved by the caller's `resolve(name) -> row key | None` (legacy methods use
upper-case names, `crm.item.*` and catalog camelCase); an unknown field is `INVALID_ARG_VALUE`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from decimal import Decimal, InvalidOperation
from typing import Any

from obmen_sandbox.bitrix24.registry import RestError

__all__ = ["PAGE", "Page", "matches", "page", "parse_start", "sort_rows"]

PAGE = 50

Resolve = Callable[[str], str | None]

# Longest prefixes first, so that `!=%` is not read as `!` + `=%`.
_OPERATORS = ("!=%", "!%=", ">=", "<=", "!@", "=%", "%=", "!%", "!=", ">", "<", "@", "%", "=", "!")


def _split(key: str) -> tuple[str, str]:
    for op in _OPERATORS:
        if key.startswith(op):
            return op, key[len(op) :]
    return "=", key


def number(value: Any) -> Decimal | None:
    """A value as the filters compare numbers: the Decimal of its text, or None when it is not one."""
    if isinstance(value, bool) or value is None or value == "":
        return None
    try:
        parsed = Decimal(str(value))
    except InvalidOperation:
        return None
    # `NaN` and `Infinity` parse but cannot be compared: they are text to a filter, as to the portal's SQL.
    return parsed if parsed.is_finite() else None


def _scalar_equal(actual: Any, wanted: Any) -> bool:
    if isinstance(actual, list):
        return any(_scalar_equal(item, wanted) for item in actual)
    left, right = number(actual), number(wanted)
    if left is not None and right is not None:
        return left == right
    if actual is None:
        return wanted in (None, "", False)
    return str(actual).casefold() == str(wanted).casefold()


_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}")
# Dates without an offset are in portal time (docs/protocols/bitrix24.md §2.4: API dates are stored in server
# time).
_PORTAL_TZ = timezone(timedelta(hours=3))


def _moment(value: Any) -> datetime | None:
    """An ISO 8601 date or datetime as an aware datetime, or None for anything else."""
    if not isinstance(value, str) or not _DATE.match(value):
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=_PORTAL_TZ)


def _compare(actual: Any, wanted: Any) -> int | None:
    """-1, 0, 1 like cmp: numbers as numbers, ISO dates as instants (any offset), else text; None if unset."""
    if actual is None or actual == "":
        return None
    left, right = number(actual), number(wanted)
    if left is not None and right is not None:
        return (left > right) - (left < right)
    when, then = _moment(actual), _moment(wanted)
    if when is not None and then is not None:
        return (when > then) - (when < then)
    a, b = str(actual), str(wanted)
    return (a > b) - (a < b)


def _like(actual: Any, pattern: str) -> bool:
    """SQL LIKE with `%` wildcards, case-insensitive."""
    regex = ".*".join(re.escape(part) for part in pattern.split("%"))
    return actual is not None and re.fullmatch(regex, str(actual), re.IGNORECASE | re.DOTALL) is not None


def _values(wanted: Any) -> list[Any]:
    if isinstance(wanted, Mapping):
        return list(wanted.values())
    return list(wanted) if isinstance(wanted, list | tuple) else [wanted]


def _test(op: str, actual: Any, wanted: Any) -> bool:
    if op in ("=", "!", "!="):
        hit = any(_scalar_equal(actual, w) for w in _values(wanted))
        return hit if op == "=" else not hit
    if op in ("@", "!@"):
        hit = any(_scalar_equal(actual, w) for w in _values(wanted))
        return hit if op == "@" else not hit
    if op in ("%", "!%"):
        hit = _like(actual, f"%{wanted}%")
        return hit if op == "%" else not hit
    if op in ("=%", "%=", "!=%", "!%="):
        hit = _like(actual, str(wanted))
        return hit if op in ("=%", "%=") else not hit
    order = _compare(actual, wanted)
    if order is None:
        return False
    return {">": order > 0, ">=": order >= 0, "<": order < 0, "<=": order <= 0}[op]


def matches(row: Mapping[str, Any], where: Mapping[str, Any], resolve: Resolve) -> bool:
    """Whether `row` passes the filter `where` (AND of its keys; nested groups with `logic`)."""
    logic = str(where.get("logic", where.get("LOGIC", "AND"))).upper()
    results: list[bool] = []
    for key, wanted in where.items():
        if key.lower() == "logic":
            continue
        if isinstance(wanted, Mapping) and (key.isdigit() or "logic" in {k.lower() for k in wanted}):
            results.append(matches(row, wanted, resolve))
            continue
        op, name = _split(key)
        field = resolve(name)
        if field is None:
            raise RestError("INVALID_ARG_VALUE", f"Invalid filter: field '{name}' is not allowed in filter")
        results.append(_test(op, row.get(field), wanted))
    return any(results) if logic == "OR" else all(results)


def sort_rows(
    rows: list[dict[str, Any]], order: Mapping[str, Any] | None, resolve: Resolve
) -> list[dict[str, Any]]:
    """Rows ordered by `{field: "ASC"|"DESC"}` (stable, last key applied first); by id when unordered."""
    keys = list((order or {}).items())
    for name, direction in reversed(keys):
        field = resolve(name)
        if field is None:
            raise RestError("INVALID_ARG_VALUE", f"Invalid order: field '{name}' is not allowed")
        descending = str(direction).upper() == "DESC"

        def sort_key(row: dict[str, Any], field: str = field) -> tuple[int, Any]:
            value = row.get(field)
            as_number = number(value)
            if as_number is not None:
                return (1, as_number)
            return (0 if value in (None, "") else 2, str(value or ""))

        rows.sort(key=sort_key, reverse=descending)
    return rows


def parse_start(value: Any) -> int:
    """The `start` parameter: an offset, or -1 for a page without a count."""
    try:
        start = int(value or 0)
    except (TypeError, ValueError):
        start = 0
    return -1 if start < 0 else start


@dataclass(frozen=True)
class Page:
    """One page of a list: the rows, and the envelope's `total` and `next` (None when absent)."""

    rows: Sequence[dict[str, Any]]
    total: int
    next: int | None


def page(rows: Sequence[dict[str, Any]], start: int) -> Page:
    """Cut the page at `start`; `start=-1` means the first 50 rows, `total` 0 and no `next` (§2.4)."""
    if start < 0:
        return Page(list(rows[:PAGE]), 0, None)
    chunk = list(rows[start : start + PAGE])
    following = start + PAGE
    return Page(chunk, len(rows), following if following < len(rows) else None)
