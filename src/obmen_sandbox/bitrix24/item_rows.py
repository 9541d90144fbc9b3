"""`crm.item.productrow.set|add|update|get|list|delete|fields` (D:…/crm/universal/product-rows/*.md).

Typed camelCase rows: `{"productRows": [...]}` for set and list, `{"productRow": {...}}` for single rows.
`set` validates the whole set first and then replaces all rows (INVALID_ARG_VALUE leaves them unchanged).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from obmen_sandbox.bitrix24 import query
from obmen_sandbox.bitrix24.crm_values import item_value, to_int
from obmen_sandbox.bitrix24.productrows import build_row, owner_of, owner_rows, replace_rows
from obmen_sandbox.bitrix24.registry import Call, Listed, PortalLike, RestError, method

__all__: list[str] = []

_FIELD_TYPES = {
    "id": "integer", "ownerId": "integer", "ownerType": "string", "productId": "integer",
    "productName": "string", "price": "double", "priceAccount": "double", "priceExclusive": "double",
    "priceNetto": "double", "priceBrutto": "double", "quantity": "double", "discountTypeId": "integer",
    "discountRate": "double", "discountSum": "double", "taxRate": "double", "taxIncluded": "char",
    "taxName": "string", "customized": "char", "measureCode": "integer", "measureName": "string",
    "sort": "integer", "xmlId": "string", "type": "integer", "storeId": "integer",
}  # fmt: skip
_DERIVED = {"id", "ownerId", "ownerType", "priceAccount", "priceExclusive", "priceNetto", "priceBrutto"}
_DERIVED |= {"customized", "xmlId", "type", "storeId"}


def _typed(row: Mapping[str, Any]) -> dict[str, Any]:
    # taxName and storeId are kept for the legacy view but are not members of crm.item rows (pinned docs).
    return {k: item_value(v) for k, v in row.items() if k not in ("taxName", "storeId")}


def _check(entries: list[Mapping[str, Any]]) -> None:
    for entry in entries:
        if not to_int(entry.get("productId")) and not entry.get("productName"):
            raise RestError("INVALID_ARG_VALUE", "Either productId or productName is required in every row")


@method("crm.item.productrow.set", scope="crm")
def row_set(portal: PortalLike, call: Call) -> dict[str, Any]:
    """Replace every row of the owner."""
    owner, owner_id = owner_of(portal, call.param("ownerType"), call.param("ownerId"))
    raw = call.param("productRows") or []
    entries = [e for e in (raw.values() if isinstance(raw, Mapping) else raw) if isinstance(e, Mapping)]
    _check(entries)
    return {"productRows": [_typed(r) for r in replace_rows(portal, owner, owner_id, entries, call)]}


def _row(portal: PortalLike, call: Call) -> dict[str, Any]:
    row = portal.table("crm.productrow").get(call.param("id"))
    if row is None:
        raise RestError("NOT_FOUND", "Item not found")
    return row


def _fields(call: Call) -> Mapping[str, Any]:
    fields = call.param("fields")
    if not isinstance(fields, Mapping):
        raise RestError("INVALID_ARG_VALUE", "Required parameter 'fields' is not set")
    return fields


@method("crm.item.productrow.add", scope="crm")
def row_add(portal: PortalLike, call: Call) -> dict[str, Any]:
    """Add one row, keeping the others."""
    fields = _fields(call)
    owner, owner_id = owner_of(portal, fields.get("ownerType"), fields.get("ownerId"))
    _check([fields])
    kept = [
        {k: v for k, v in r.items() if k not in _DERIVED or k == "id"}
        for r in owner_rows(portal, owner, owner_id)
    ]
    rows = replace_rows(portal, owner, owner_id, [*kept, fields], call)
    newest = max(rows, key=lambda r: int(r["id"]))
    return {"productRow": _typed(newest)}


@method("crm.item.productrow.update", scope="crm")
def row_update(portal: PortalLike, call: Call) -> dict[str, Any]:
    """Change one row."""
    row = _row(portal, call)
    owner, owner_id = owner_of(portal, row["ownerType"], row["ownerId"])
    merged = {k: v for k, v in row.items() if k not in _DERIVED}
    merged.update({k: v for k, v in _fields(call).items() if k not in _DERIVED})
    portal.table("crm.productrow").rows[int(row["id"])] = {
        "id": row["id"],
        **build_row(portal, owner, owner_id, merged),
    }
    others = [
        {k: v for k, v in r.items() if k not in _DERIVED or k == "id"}
        for r in owner_rows(portal, owner, owner_id)
    ]
    replace_rows(portal, owner, owner_id, others, call)
    return {"productRow": _typed(portal.table("crm.productrow").rows[int(row["id"])])}


@method("crm.item.productrow.get", scope="crm")
def row_get(portal: PortalLike, call: Call) -> dict[str, Any]:
    """One row."""
    return {"productRow": _typed(_row(portal, call))}


@method("crm.item.productrow.delete", scope="crm")
def row_delete(portal: PortalLike, call: Call) -> None:
    """Delete one row; the owner's amount follows."""
    row = _row(portal, call)
    owner, owner_id = owner_of(portal, row["ownerType"], row["ownerId"])
    rest = [
        {k: v for k, v in r.items() if k not in _DERIVED or k == "id"}
        for r in owner_rows(portal, owner, owner_id)
        if r["id"] != row["id"]
    ]
    replace_rows(portal, owner, owner_id, rest, call)


def _resolve(name: str) -> str | None:
    return name if name in _FIELD_TYPES else None


@method("crm.item.productrow.list", scope="crm")
def row_list(portal: PortalLike, call: Call) -> Listed:
    """Rows by filter; the filter must name `=ownerType` and `=ownerId` (or `@ownerId`)."""
    where = call.param("filter") or {}
    if not isinstance(where, Mapping):
        raise RestError("INVALID_ARG_VALUE", "Parameter 'filter' must be an object")
    keys = {k.lstrip("=@") for k in where}
    if not {"ownerType", "ownerId"} <= keys:
        raise RestError("INVALID_ARG_VALUE", "Filter must contain ownerType and ownerId")
    rows = [r for _, r in portal.table("crm.productrow") if query.matches(r, where, _resolve)]
    rows = query.sort_rows(rows, call.param("order") or {"sort": "ASC", "id": "ASC"}, _resolve)
    got = query.page(rows, query.parse_start(call.param("start")))
    return Listed({"productRows": [_typed(r) for r in got.rows]}, got.total, got.next)


@method("crm.item.productrow.fields", scope="crm")
def row_fields(portal: PortalLike, call: Call) -> dict[str, Any]:
    """Field descriptions."""
    return {
        "fields": {
            name: {
                "type": kind,
                "isRequired": name in ("ownerId", "ownerType"),
                "isReadOnly": name in _DERIVED,
            }
            | {"isImmutable": False, "isMultiple": False, "isDynamic": False, "title": name}
            for name, kind in _FIELD_TYPES.items()
        }
    }
