"""What every `catalog.*` method shares: typed fields, numeric error codes, list answers, timestamps.

The catalog family is the "new" REST style (docs/protocols/bitrix24.md §2.2, §5.7): camelCase keys, typed
values
(ints as ints, doubles as floats, flags "Y"/"N", dates ISO 8601 with offset), answers wrapped in a named
object (`{"product": {...}}`, `{"products": [...]}` with `total`), and numeric error codes such as
`200040300040` (D:…/catalog/section/catalog-section-add.md).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from obmen_sandbox.bitrix24.query import matches, page, parse_start, sort_rows
from obmen_sandbox.bitrix24.query import number as decimal_of
from obmen_sandbox.bitrix24.registry import Call, PortalLike, RestError
from obmen_sandbox.bitrix24.wire import PORTAL_TZ, iso

__all__ = [
    "Listed",
    "catalog_error",
    "coerce_fields",
    "fill",
    "iso_date",
    "list_answer",
    "missing",
    "now_iso",
    "number",
    "project",
    "require",
    "require_fields",
    "store_control",
]

#: Field kinds: how a value is typed on input and answered on output.
INT, FLOAT, STR, FLAG, DATE = "int", "float", "str", "flag", "date"

_DATE = re.compile(r"\s*\d{4}-\d{2}-\d{2}")

#: "Other errors" in every catalog error table (D:…/catalog/**: `0` — "Other errors").
OTHER = "0"
#: A required top-level parameter is absent: "Could not find value for parameter {id}" (D:…/catalog/price/*).
MISSING = "100"


@dataclass(frozen=True)
class Listed:
    """A list answer: `result` (e.g. `{"products": [...]}`) plus the envelope's `total` and `next`."""

    result: Any
    total: int
    next: int | None


def catalog_error(code: str, description: str) -> RestError:
    """A catalog error: numeric code as a string, HTTP 400 (D:…/catalog/**, "Error Handling")."""
    return RestError(code, description, 400)


def missing(name: str) -> RestError:
    """Code 100: a required top-level parameter (`id`, `fields`) is absent or empty."""
    return catalog_error(MISSING, f"Could not find value for parameter {{{name}}}")


def now_iso(portal: PortalLike) -> str:
    """The portal clock as the API writes datetimes: ISO 8601 with an offset (docs/protocols/bitrix24.md).

    See §2.2.
    """
    return iso(portal.clock.now())


def iso_date(name: str, value: Any) -> str:
    """A datetime field given as ISO 8601 (any offset), answered in the portal's offset."""
    try:
        moment = datetime.fromisoformat(str(value))
    except ValueError:
        raise catalog_error(OTHER, f"Wrong format of field '{name}': ISO 8601 expected") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=PORTAL_TZ)
    return moment.astimezone(PORTAL_TZ).isoformat(timespec="seconds")


def number(value: float | None) -> int | float | None:
    """A double as PHP's JSON writes a whole one from the database: `10`, not `10.0`."""
    if value is None:
        return None
    return int(value) if float(value).is_integer() else float(value)


def fill(row_id: int, row: dict[str, Any], fields: Iterable[str], **preset: Any) -> dict[str, Any]:
    """Give a row seeded bare every field of its object (`preset` values, else None); the row itself."""
    row["id"] = row_id
    for name in fields:
        row.setdefault(name, preset.get(name))
    return row


def store_control(portal: PortalLike) -> bool:
    """Whether inventory management is on (`catalog.document.mode.status` = "Y", §5.7)."""
    settings = portal.table("catalog.settings").get(1)
    return bool(settings and settings.get("storeControl") == "Y")


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
            return number(float(Decimal(str(value))))
        except (InvalidOperation, ValueError):
            raise catalog_error(OTHER, f"Field '{name}' must be a number") from None
    if kind == DATE:
        return iso_date(name, value)
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


def coerce_fields(fields: Mapping[str, Any], kinds: Mapping[str, str], extra: Any = None) -> dict[str, Any]:
    """The known keys of `fields` typed by `kinds`; unknown keys are ignored as the portal ignores them.

    `extra(name) -> kind | None` admits dynamic keys such as `property97` (kind "raw": kept as given).
    """
    typed: dict[str, Any] = {}
    for name, value in fields.items():
        kind = kinds.get(name)
        if kind is None and extra is not None:
            kind = extra(name)
        if kind is None:
            continue
        typed[name] = value if kind == "raw" else _typed(kind, name, value)
    return typed


def require(call: Call, name: str) -> Any:
    """A required top-level parameter (`id`, `fields`): code 100 when absent or empty."""
    value = call.param(name)
    if value is None or value == "" or (isinstance(value, Mapping | list) and not value):
        raise missing(name)
    if name == "fields" and not isinstance(value, Mapping):
        raise missing(name)
    return value


def require_fields(fields: Mapping[str, Any], names: Sequence[str]) -> None:
    """Code 0 "Required fields: a, b" when any of `names` is absent or empty (D:…/catalog/price/*)."""
    absent = [name for name in names if fields.get(name) in (None, "")]
    if absent:
        raise catalog_error(OTHER, f"Required fields: {', '.join(absent)}")


def _resolver(names: Iterable[str], dynamic: Any = None) -> Any:
    known = set(names)

    def resolve(name: str) -> str | None:
        if name in known:
            return name
        if dynamic is not None and dynamic(name) is not None:
            return name
        return None

    return resolve


def _list_params(call: Call) -> tuple[list[Any], Mapping[str, Any], Mapping[str, Any]]:
    select = call.param("select") or []
    where = call.param("filter") or {}
    order = call.param("order") or {}
    if isinstance(select, Mapping):
        select = list(select.values())
    if not isinstance(where, Mapping) or not isinstance(order, Mapping) or not isinstance(select, list):
        raise catalog_error(OTHER, "Parameters 'filter' and 'order' must be objects, 'select' an array")
    return select, where, order


def _narrow(rows: Sequence[dict[str, Any]], where: Mapping[str, Any], plain: Any) -> Sequence[dict[str, Any]]:
    """A cheap superset of the rows `where` admits, from its `=` keys and `id` bounds on plain fields.

    `query.matches` still decides every row; this only spares it most rows of a lookup by `xmlId` or
    of a keyset page (`>id`), which is what clients send most (docs/protocols/bitrix24.md §2.4).
    """
    # The catalog key every product list carries (`iblockId`) selects least: it goes last.
    for key, wanted in sorted(where.items(), key=lambda item: item[0].lstrip("=!<>@%") == "iblockId"):
        name = key.lstrip("=!<>@%")
        op = key[: len(key) - len(name)]
        if not plain(name) or wanted is None or isinstance(wanted, bool | Mapping | list | tuple):
            continue
        if isinstance(wanted, str) and _DATE.match(wanted):
            continue  # dates compare as moments in `matches` ("…T00:00:00+03:00" = "…T21:00:00+00:00")
        number = decimal_of(wanted)
        if op in ("", "="):
            text = str(wanted).casefold()

            def keep(actual: Any, text: str = text, number: Decimal | None = number) -> bool:
                if actual is None or isinstance(actual, list) or str(actual).casefold() == text:
                    return True
                return number is not None and decimal_of(actual) == number

            rows = [row for row in rows if keep(row.get(name))]
        elif name == "id" and number is not None and op in (">", ">=", "<", "<="):
            bound = {">": number.__lt__, ">=": number.__le__, "<": number.__gt__, "<=": number.__ge__}[op]
            rows = [row for row in rows if not isinstance(row.get("id"), int) or bound(row["id"])]
    return rows


def list_answer(
    call: Call,
    rows: Sequence[dict[str, Any]],
    key: str,
    fields: Iterable[str],
    *,
    must_select: Sequence[str] = (),
    must_filter: Sequence[str] = (),
    dynamic: Any = None,
    flat: Any = None,
    flat_fields: Iterable[str] = (),
) -> Listed:
    """One page of a catalog list: filter, order (`asc`/`desc`), select, `start` (docs/protocols/bitrix24.md).

    See §2.4.

    `must_select` / `must_filter` are the fields the product lists insist on (`id`, `iblockId`):
    without them the portal refuses the call (D:…/catalog/product/catalog-product-list.md).
    `flat(row)` gives the values filters and order compare for `flat_fields` and dynamic fields
    (`{"value": "7"}` property values as "7").
    """
    names = list(fields)
    resolve = _resolver(names, dynamic)
    select, where, order = _list_params(call)
    if any(name not in select for name in must_select):
        raise catalog_error(OTHER, f"Required select fields: {', '.join(must_select)}")
    bare = {key.lstrip("=!<>@%") for key in where}
    if any(name not in bare for name in must_filter):
        raise catalog_error(OTHER, f"Required filter fields: {', '.join(must_filter)}")
    for name in select:
        if resolve(str(name)) is None:
            raise catalog_error(OTHER, f"Unknown field definition `{name}`")
    special = set(flat_fields)

    def plain(name: str) -> bool:
        return name in names and name not in special and not (dynamic and dynamic(name))

    referenced = bare | {str(name) for name in order}
    nested = any(isinstance(value, Mapping) for value in where.values())
    views = rows
    if flat is not None and (
        nested or not all(plain(name) or name.lower() == "logic" for name in referenced)
    ):
        views = [flat(row) for row in rows]
    original = {id(view): row for view, row in zip(views, rows, strict=True)} if views is not rows else {}
    try:
        chosen = [view for view in _narrow(views, where, plain) if matches(view, where, resolve)]
        ordered = sort_rows(chosen, order or {"id": "asc"}, resolve)
    except InvalidOperation:
        # A comparison with NaN ("filter[>id]=NaN") has no answer; the portal refuses such a filter.
        raise RestError("INVALID_ARG_VALUE", "Invalid filter: a value is not a number") from None
    cut = page(ordered, parse_start(call.param("start")))
    shown = [project(original.get(id(view), view), select, names, dynamic) for view in cut.rows]
    return Listed({key: shown}, cut.total, cut.next)


def project(
    row: Mapping[str, Any], select: Sequence[Any], names: Sequence[str], dynamic: Any = None
) -> dict[str, Any]:
    """The answered `row`: the selected fields, else all fields and dynamic ones such as `property97`."""
    if select:
        return {str(name): row.get(str(name)) for name in select}
    shown = {name: row.get(name) for name in names}
    if dynamic is not None:
        shown.update({name: value for name, value in row.items() if dynamic(name) is not None})
    return shown
