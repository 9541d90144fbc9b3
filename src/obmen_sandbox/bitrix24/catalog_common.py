"""What every `catalog.*` method shares: typed fields, numeric error codes, list answers, timestamps.

The catalog family is the "new" REST style (docs/bitrix24.md §2.2, §5.7): camelCase keys, typed values
(ints as ints, doubles as floats, flags "Y"/"N", dates ISO 8601 with offset), answers wrapped in a named
object (`{"product": {...}}`, `{"products": [...]}` with `total`), and numeric error codes such as
`200040300040` (D:…/catalog/section/catalog-section-add.md).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from obmen_sandbox.bitrix24.query import matches, page, parse_start, sort_rows
from obmen_sandbox.bitrix24.registry import Call, PortalLike, RestError

__all__ = [
    "Listed",
    "catalog_error",
    "coerce_fields",
    "list_answer",
    "now_iso",
    "require",
    "require_row",
]

#: Field kinds: how a value is typed on input and answered on output.
INT, FLOAT, STR, FLAG, DATE = "int", "float", "str", "flag", "date"

#: "Other errors" in every catalog error table (D:…/catalog/**: `0` — "Other errors").
OTHER = "0"


@dataclass(frozen=True)
class Listed:
    """A list answer: `result` (e.g. `{"products": [...]}`) plus the envelope's `total` and `next`."""

    result: Any
    total: int
    next: int | None


def catalog_error(code: str, description: str) -> RestError:
    """A catalog error: numeric code as a string, HTTP 400 (D:…/catalog/**, "Error Handling")."""
    return RestError(code, description, 400)


def now_iso(portal: PortalLike) -> str:
    """The portal clock as the API writes datetimes: ISO 8601 with an offset (docs/bitrix24.md §2.2)."""
    return datetime.fromtimestamp(portal.clock.now(), UTC).isoformat(timespec="seconds")


def _typed(kind: str, name: str, value: Any) -> Any:
    """`value` as a field of `kind` holds it; form bodies deliver every scalar as a string (§2.1)."""
    if value is None or (value == "" and kind in (INT, FLOAT, DATE)):
        return None
    if kind == INT:
        try:
            return int(Decimal(str(value)))
        except (InvalidOperation, ValueError):
            raise catalog_error(OTHER, f"Field '{name}' must be an integer") from None
    if kind == FLOAT:
        try:
            return float(Decimal(str(value)))
        except (InvalidOperation, ValueError):
            raise catalog_error(OTHER, f"Field '{name}' must be a number") from None
    if kind == FLAG:
        flag = str(value).upper()
        if flag in ("1", "TRUE"):
            return "Y"
        if flag in ("0", "FALSE", ""):
            return "N"
        if flag not in ("Y", "N"):
            raise catalog_error(OTHER, f"Field '{name}' must be Y or N")
        return flag
    return str(value)


def coerce_fields(
    fields: Any, kinds: Mapping[str, str], read_only: Iterable[str] = (), extra: Any = None
) -> dict[str, Any]:
    """The writable `fields` typed by `kinds`; unknown keys are ignored as the portal ignores them.

    `extra(name) -> kind | None` admits dynamic keys such as `property97`.
    """
    if not isinstance(fields, Mapping):
        raise catalog_error(OTHER, "Required parameter 'fields' is missing or is not an object")
    blocked = set(read_only)
    typed: dict[str, Any] = {}
    for name, value in fields.items():
        kind = kinds.get(name)
        if kind is None and extra is not None:
            kind = extra(name)
        if kind is None or name in blocked:
            continue
        typed[name] = value if kind == "raw" else _typed(kind, name, value)
    return typed


def require(call: Call, name: str) -> Any:
    """A required top-level parameter (`id`, `fields`), or the portal's "required parameter" error."""
    value = call.param(name)
    if value is None or value == "":
        raise catalog_error(OTHER, f"Required parameter '{name}' is missing")
    return value


def require_row(rows: Iterable[tuple[int, dict[str, Any]]], row_id: Any, code: str, what: str) -> int:
    """The integer id of an existing row, or the method's "not found" error."""
    try:
        wanted = int(row_id)
    except (TypeError, ValueError):
        raise catalog_error(OTHER, f"Invalid {what} id") from None
    if not any(key == wanted for key, _ in rows):
        raise catalog_error(code, f"{what} is not exists")
    return wanted


def _resolver(names: Iterable[str], dynamic: Any = None) -> Any:
    known = set(names)

    def resolve(name: str) -> str | None:
        if name in known:
            return name
        if dynamic is not None and dynamic(name) is not None:
            return name
        return None

    return resolve


def list_answer(
    call: Call,
    rows: Sequence[dict[str, Any]],
    key: str,
    fields: Iterable[str],
    *,
    must_select: Sequence[str] = (),
    must_filter: Sequence[str] = (),
    dynamic: Any = None,
) -> Listed:
    """One page of a catalog list: filter, order (`asc`/`desc`), select, `start` (docs/bitrix24.md §2.4).

    `must_select` / `must_filter` are the fields the product lists insist on (`id`, `iblockId`):
    without them the portal refuses the call (D:…/catalog/product/catalog-product-list.md).
    """
    names = list(fields)
    resolve = _resolver(names, dynamic)
    select = call.param("select") or []
    where = call.param("filter") or {}
    order = call.param("order") or {}
    if isinstance(select, Mapping):
        select = list(select.values())
    if not isinstance(where, Mapping) or not isinstance(order, Mapping) or not isinstance(select, list):
        raise catalog_error(OTHER, "Parameters 'filter' and 'order' must be objects, 'select' an array")
    missing = [name for name in must_select if select and name not in select]
    if must_select and (not select or missing):
        raise catalog_error(OTHER, f"Required select fields: {', '.join(must_select)}")
    bare = {key.lstrip("=!<>@%") for key in where}
    if any(name not in bare for name in must_filter):
        raise catalog_error(OTHER, f"Required filter fields: {', '.join(must_filter)}")
    for name in select:
        if resolve(str(name)) is None:
            raise catalog_error(OTHER, f"Unknown field definition `{name}`")
    chosen = [row for row in rows if matches(row, where, resolve)]
    ordered = sort_rows(chosen, order or {"id": "asc"}, resolve)
    cut = page(ordered, parse_start(call.param("start")))
    shown = [_project(row, select, names) for row in cut.rows]
    return Listed({key: shown}, cut.total, cut.next)


def _project(row: Mapping[str, Any], select: Sequence[Any], names: Sequence[str]) -> dict[str, Any]:
    if select:
        return {str(name): row.get(str(name)) for name in select}
    return {name: row.get(name) for name in names if name in row or not name.startswith("property")}
