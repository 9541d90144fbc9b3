"""Variations and their parents, and deleting products (§5.7).

A variation (type 4) hangs under a simple product or a parent through `parentId`; the parent is type 3
while it has variations and 6 once it has none (D:…/catalog/data-types.md). Deleting a product takes
its prices, stock rows and variations along; deleting a section takes the products filed in it.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from obmen_sandbox.bitrix24.catalog_common import OTHER, catalog_error
from obmen_sandbox.bitrix24.catalog_items import (
    OFFER,
    OFFER_NO_PARENT,
    PARENT,
    PARENT_EMPTY,
    SIMPLE,
    all_products,
    get_product,
    parent_id,
    products,
    touch,
)
from obmen_sandbox.bitrix24.registry import Call, PortalLike

__all__ = ["delete_product", "delete_products_in", "link_parent", "parent_target"]


def _refresh_parent_type(portal: PortalLike, call: Call, parent: int | None) -> None:
    """A parent is type 3 while it has variations and 6 once it has none (D:…/catalog/data-types.md)."""
    row = get_product(portal, parent) if parent else None
    if row is None or row["type"] not in (SIMPLE, PARENT, PARENT_EMPTY):
        return
    has_offers = any(parent_id(other) == row["id"] for other in products(portal).rows.values())
    kind = PARENT if has_offers else PARENT_EMPTY
    if row["type"] != kind:
        row["type"] = kind
        row["quantity"] = row["quantityReserved"] = row["measure"] = None
        touch(portal, row)
        portal.emit("CATALOG.PRODUCT.ON.UPDATE", row["id"], call, TYPE=kind)


def parent_target(portal: PortalLike, offers_iblock: int, parent: Any) -> dict[str, Any]:
    """The product `parent` names, if a variation of `offers_iblock` may hang under it."""
    target = get_product(portal, parent)
    offers_catalog = portal.table("catalog.catalog").get(offers_iblock) or {}
    if target is None or target["iblockId"] != offers_catalog.get("productIblockId"):
        raise catalog_error(OTHER, f"Parent product {parent} does not exist")
    if target["type"] not in (SIMPLE, PARENT, PARENT_EMPTY):
        raise catalog_error(OTHER, f"Product {parent} cannot have variations")
    return target


def link_parent(portal: PortalLike, call: Call, row: dict[str, Any], parent: Any) -> None:
    """Point a variation at its parent (type 4), or leave it parentless (type 5)."""
    old = parent_id(row)
    if parent in (None, "", 0, "0"):
        row["parentId"], row["type"] = None, OFFER_NO_PARENT
    else:
        target = parent_target(portal, row["iblockId"], parent)
        value_id = portal.table("catalog.propertyValue").add({"productId": row["id"], "propertyId": "parent"})
        row["parentId"] = {"value": str(target["id"]), "valueId": str(value_id)}
        row["type"] = OFFER
    for affected in {old, parent_id(row)}:
        _refresh_parent_type(portal, call, affected)


def delete_product(portal: PortalLike, call: Call, product_id: int) -> None:
    """Delete a product with its prices and stock rows; a parent takes its variations along."""
    row = get_product(portal, product_id)
    if row is None:
        return
    for offer in all_products(portal):
        if parent_id(offer) == product_id:
            delete_product(portal, call, offer["id"])
    products(portal).delete(product_id)
    for table in ("catalog.price", "catalog.storeproduct"):
        rows = portal.table(table)
        for doomed in [rid for rid, other in rows if other.get("productId") == product_id]:
            rows.delete(doomed)
    portal.emit("CATALOG.PRODUCT.ON.DELETE", product_id, call, TYPE=row["type"])
    _refresh_parent_type(portal, call, parent_id(row))


def delete_products_in(portal: PortalLike, call: Call, section_ids: Iterable[int]) -> None:
    """Delete the products filed in any of `section_ids` (a section delete takes its elements along)."""
    doomed = set(section_ids)
    for product_id in [row["id"] for row in all_products(portal) if row.get("iblockSectionId") in doomed]:
        delete_product(portal, call, product_id)
