"""`catalog.priceType.list` and `catalog.price.add|update|get|list|delete|modify` (§5.7).

One price per product and price type (ranges are deprecated): a second one is the documented
"Validate price error. Catalog product is allowed has only single price without ranges in price group".
`modify` replaces the product's whole price collection: listed ids are updated, entries without `id` are
created, every other price of the product is deleted (D:…/catalog/price/catalog-price-modify.md).
Changes emit `CATALOG.PRICE.ON.ADD|UPDATE|DELETE` with `FIELDS{ID}`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from obmen_sandbox.bitrix24.catalog_common import (
    FLAG,
    FLOAT,
    INT,
    OTHER,
    STR,
    Listed,
    catalog_error,
    coerce_fields,
    fill,
    list_answer,
    now_iso,
    project,
    require,
    require_fields,
)
from obmen_sandbox.bitrix24.catalog_items import CURRENCIES, get_product
from obmen_sandbox.bitrix24.registry import Call, PortalLike, Table, method

__all__ = ["PRICE_FIELDS", "PRICE_TYPE_FIELDS"]

PRICE_FIELDS = (
    "id",
    "productId",
    "catalogGroupId",
    "price",
    "priceScale",
    "currency",
    "quantityFrom",
    "quantityTo",
    "extraId",
    "timestampX",
)
PRICE_TYPE_FIELDS = (
    "id",
    "name",
    "base",
    "sort",
    "xmlId",
    "timestampX",
    "createdBy",
    "modifiedBy",
    "dateCreate",
)
_KINDS = {"productId": INT, "catalogGroupId": INT, "price": FLOAT, "currency": STR}
_SINGLE = (
    "Validate price error. Catalog product is allowed has only single price without ranges in price group"
)


def _prices(portal: PortalLike) -> Table:
    return portal.table("catalog.price")


def _price(portal: PortalLike, price_id: Any) -> dict[str, Any]:
    row = _prices(portal).get(price_id)
    if row is None:
        raise catalog_error(OTHER, "Price does not exist")
    return fill(int(price_id), row, PRICE_FIELDS)


def _check(portal: PortalLike, row: Mapping[str, Any]) -> None:
    """The product and price type exist, the currency is known, the price is not negative."""
    if get_product(portal, row["productId"]) is None:
        raise catalog_error(OTHER, f"Product {row['productId']} does not exist")
    if portal.table("catalog.priceType").get(row["catalogGroupId"]) is None:
        raise catalog_error(OTHER, "Validate price error. Catalog price group is wrong")
    if row["currency"] not in CURRENCIES:
        raise catalog_error(OTHER, f"Currency {row['currency']} does not exist")
    if row["price"] < 0:
        raise catalog_error(OTHER, "Validate price error. Price must not be negative")


def _clash(portal: PortalLike, row: Mapping[str, Any], own_id: int | None) -> bool:
    return any(
        other_id != own_id
        and other.get("productId") == row["productId"]
        and other.get("catalogGroupId") == row["catalogGroupId"]
        for other_id, other in _prices(portal)
    )


def _store(
    portal: PortalLike, call: Call, fields: Mapping[str, Any], own: dict[str, Any] | None
) -> dict[str, Any]:
    """Insert or change one price after the checks; emits the price event."""
    row = {**(own or {}), **fields}
    row["priceScale"] = row["price"]
    row["timestampX"] = now_iso(portal)
    if own is not None:
        own.update(row)
        portal.emit("CATALOG.PRICE.ON.UPDATE", own["id"], call)
        return own
    new_id = _prices(portal).add({"quantityFrom": None, "quantityTo": None, "extraId": None, **row})
    stored = _prices(portal).rows[new_id]
    stored["id"] = new_id
    portal.emit("CATALOG.PRICE.ON.ADD", new_id, call)
    return stored


def _answer(row: Mapping[str, Any]) -> dict[str, Any]:
    return project(row, (), PRICE_FIELDS)


@method("catalog.priceType.list", scope="catalog")
def price_type_list(portal: PortalLike, call: Call) -> Listed:
    """Price types (a fresh portal has BASE)."""
    rows = [row for _, row in portal.table("catalog.priceType")]
    return list_answer(call, rows, "priceTypes", PRICE_TYPE_FIELDS)


@method("catalog.priceType.add", scope="catalog")
def price_type_add(portal: PortalLike, call: Call) -> dict[str, Any]:
    """Add a price type; a new base type takes `base` from the old one (D:…/catalog-price-type-add.md)."""
    fields = coerce_fields(require(call, "fields"), {"name": STR, "base": FLAG, "sort": INT, "xmlId": STR})
    require_fields(fields, ("name",))
    table = portal.table("catalog.priceType")
    if fields.get("base") == "Y":
        for _, other in table:
            other["base"] = "N"
    stamp = now_iso(portal)
    row = {"base": "N", "sort": 100, "xmlId": None, "createdBy": call.user_id, "modifiedBy": call.user_id}
    new_id = table.add(row | {"dateCreate": stamp, "timestampX": stamp} | fields)
    table.rows[new_id]["id"] = new_id
    portal.emit("CATALOG.PRICE.TYPE.ON.ADD", new_id, call)
    return {"priceType": project(table.rows[new_id], (), PRICE_TYPE_FIELDS)}


@method("catalog.priceType.get", scope="catalog")
def price_type_get(portal: PortalLike, call: Call) -> dict[str, Any]:
    """One price type by id."""
    row = portal.table("catalog.priceType").get(require(call, "id"))
    if row is None:
        raise catalog_error(OTHER, "Price type does not exist")
    return {"priceType": project(row, (), PRICE_TYPE_FIELDS)}


@method("catalog.price.add", scope="catalog")
def price_add(portal: PortalLike, call: Call) -> dict[str, Any]:
    """Add one price of a product."""
    fields = coerce_fields(require(call, "fields"), _KINDS)
    require_fields(fields, ("productId", "catalogGroupId", "price", "currency"))
    _check(portal, fields)
    if _clash(portal, fields, None):
        raise catalog_error(OTHER, _SINGLE)
    return {"price": _answer(_store(portal, call, fields, None))}


@method("catalog.price.update", scope="catalog")
def price_update(portal: PortalLike, call: Call) -> dict[str, Any]:
    """Change a price (`price` and `currency` required)."""
    row = _price(portal, require(call, "id"))
    fields = coerce_fields(require(call, "fields"), _KINDS)
    require_fields(fields, ("price", "currency"))
    changed = {**row, **fields}
    _check(portal, changed)
    if _clash(portal, changed, row["id"]):
        raise catalog_error(OTHER, _SINGLE)
    return {"price": _answer(_store(portal, call, fields, row))}


@method("catalog.price.get", scope="catalog")
def price_get(portal: PortalLike, call: Call) -> dict[str, Any]:
    """One price by id."""
    return {"price": _answer(_price(portal, require(call, "id")))}


@method("catalog.price.list", scope="catalog")
def price_list(portal: PortalLike, call: Call) -> Listed:
    """Prices by filter."""
    return list_answer(call, [row for _, row in _prices(portal)], "prices", PRICE_FIELDS)


@method("catalog.price.delete", scope="catalog")
def price_delete(portal: PortalLike, call: Call) -> bool:
    """Delete one price."""
    row = _price(portal, require(call, "id"))
    _prices(portal).delete(row["id"])
    portal.emit("CATALOG.PRICE.ON.DELETE", row["id"], call)
    return True


def _planned(portal: PortalLike, product_id: int, entries: Sequence[Any]) -> list[tuple[dict[str, Any], Any]]:
    """Each entry typed and checked, paired with the existing price it updates (or None)."""
    plan: list[tuple[dict[str, Any], Any]] = []
    for entry in entries:
        if not isinstance(entry, Mapping):
            raise catalog_error(OTHER, "Each entry of 'prices' must be an object")
        fields = coerce_fields(entry, {**_KINDS, "id": INT}) | {"productId": product_id}
        require_fields(fields, ("catalogGroupId", "price", "currency"))
        price_id = fields.pop("id", None)
        own = _prices(portal).get(price_id) if price_id else None
        if price_id and (own is None or own["productId"] != product_id):
            raise catalog_error(OTHER, f"Price {price_id} does not exist")
        _check(portal, fields)
        plan.append((fields, own))
    groups = [fields["catalogGroupId"] for fields, _ in plan]
    if len(groups) != len(set(groups)):
        raise catalog_error(OTHER, _SINGLE.replace("has only", "to have only"))
    return plan


@method("catalog.price.modify", scope="catalog")
def price_modify(portal: PortalLike, call: Call) -> dict[str, Any]:
    """Replace every price of a product with the given collection (validated whole before any write)."""
    fields = require(call, "fields")
    product = fields.get("product")
    if not isinstance(product, Mapping) or product.get("id") in (None, ""):
        raise catalog_error(OTHER, "Required fields: product")
    product_id = coerce_fields(product, {"id": INT})["id"]
    if get_product(portal, product_id) is None:
        raise catalog_error(OTHER, f"Product {product_id} does not exist")
    entries = product.get("prices") or []
    if isinstance(entries, Mapping):
        entries = list(entries.values())
    plan = _planned(portal, product_id, entries)
    kept = {own["id"] for _, own in plan if own is not None}
    for price_id, row in list(_prices(portal)):
        if row.get("productId") == product_id and price_id not in kept:
            _prices(portal).delete(price_id)
            portal.emit("CATALOG.PRICE.ON.DELETE", price_id, call)
    stored = [_store(portal, call, entry, own) for entry, own in plan]
    return {"prices": [_answer(row) for row in stored]}
