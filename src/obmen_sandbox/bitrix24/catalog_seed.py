"""Seeding catalog tables (`POST /_sandbox/seed`): rows get the defaults an API-created row has.

A seeded product may be given in short form (`{"iblockId": 23, "name": "x", "type": 4, "parentId": 7}`);
it is completed the way `catalog.product.add` completes one, without events, so that every method sees
the same row shape. Stock rows also refresh the product's `quantity`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from obmen_sandbox.bitrix24.catalog_common import number
from obmen_sandbox.bitrix24.catalog_dictionaries import PROPERTY_FIELDS, STORE_FIELDS, STORE_PRODUCT_FIELDS
from obmen_sandbox.bitrix24.catalog_documents import DOCUMENT_FIELDS, ELEMENT_FIELDS
from obmen_sandbox.bitrix24.catalog_items import available, complete, get_product
from obmen_sandbox.bitrix24.catalog_prices import PRICE_FIELDS, PRICE_TYPE_FIELDS
from obmen_sandbox.bitrix24.catalog_sections import SECTION_FIELDS
from obmen_sandbox.bitrix24.registry import PortalLike

__all__ = ["seed_row"]


def _insert(portal: PortalLike, table: str, row: dict[str, Any]) -> dict[str, Any]:
    target = portal.table(table)
    if row.get("id") is not None:
        row_id = int(row["id"])
        target.rows[row_id] = row
        target.seed_ids_from(row_id + 1)
    else:
        row_id = target.add(row)
        row = target.rows[row_id]
    row["id"] = row_id
    return row


def _product(portal: PortalLike, given: Mapping[str, Any]) -> dict[str, Any]:
    stored = _insert(portal, "catalog.product", dict(given))
    complete(portal, stored["id"], stored)
    return stored


def _stock(portal: PortalLike, given: Mapping[str, Any]) -> dict[str, Any]:
    stored = _insert(portal, "catalog.storeproduct", dict.fromkeys(STORE_PRODUCT_FIELDS, 0) | dict(given))
    product = get_product(portal, stored["productId"])
    if product is not None:
        rows = portal.table("catalog.storeproduct")
        product["quantity"] = number(
            sum(r.get("amount") or 0 for _, r in rows if r.get("productId") == product["id"])
        )
        product["available"] = available(product)
    return stored


def _plain(
    table: str, fields: tuple[str, ...], **preset: Any
) -> Callable[[PortalLike, Mapping[str, Any]], Any]:
    def insert(portal: PortalLike, given: Mapping[str, Any]) -> dict[str, Any]:
        return _insert(portal, table, dict.fromkeys(fields) | preset | dict(given))

    return insert


def _price(portal: PortalLike, given: Mapping[str, Any]) -> dict[str, Any]:
    return _insert(
        portal,
        "catalog.price",
        dict.fromkeys(PRICE_FIELDS) | {"priceScale": given.get("price")} | dict(given),
    )


_SEEDERS: dict[str, Callable[[PortalLike, Mapping[str, Any]], dict[str, Any]]] = {
    "catalog.product": _product,
    "catalog.storeproduct": _stock,
    "catalog.price": _price,
    "catalog.section": _plain(
        "catalog.section", SECTION_FIELDS, active="Y", sort=500, descriptionType="text"
    ),
    "catalog.store": _plain("catalog.store", STORE_FIELDS, active="Y", sort=100, issuingCenter="N"),
    "catalog.priceType": _plain("catalog.priceType", PRICE_TYPE_FIELDS, base="N", sort=100),
    "catalog.productProperty": _plain("catalog.productProperty", PROPERTY_FIELDS, active="Y", multiple="N"),
    "catalog.document": _plain("catalog.document", DOCUMENT_FIELDS, status="N", siteId="s1"),
    "catalog.document.element": _plain("catalog.document.element", ELEMENT_FIELDS, amount=0),
}


def seed_row(portal: PortalLike, table: str, row: Mapping[str, Any]) -> int | None:
    """Insert a seeded row of a catalog table completed with defaults; None when `table` is not one."""
    seeder = _SEEDERS.get(table)
    if seeder is None:
        return None
    stored: dict[str, Any] = seeder(portal, row)
    return int(stored["id"])
