"""Read-mostly catalog dictionaries: units, VAT rates, warehouses, stock rows, product properties (§5.7).

`catalog.storeproduct.*` is read-only: balances change only through conducted inventory documents
(D:…/catalog/store-product/index.md). `catalog.productProperty.add` exists so that variation properties
("Размер", "Цвет") can be created and then written as `property{N}`.
"""

from __future__ import annotations

from typing import Any

from obmen_sandbox.bitrix24.catalog_common import (
    FLAG,
    INT,
    OTHER,
    STR,
    Listed,
    catalog_error,
    coerce_fields,
    list_answer,
    now_iso,
    project,
    require,
    require_fields,
    store_control,
)
from obmen_sandbox.bitrix24.registry import Call, PortalLike, method

__all__ = ["PROPERTY_FIELDS", "STORE_FIELDS", "STORE_PRODUCT_FIELDS"]

MEASURE_FIELDS = ("id", "code", "isDefault", "measureTitle", "symbol", "symbolIntl", "symbolLetterIntl")
VAT_FIELDS = ("id", "name", "active", "rate", "sort", "timestampX")
STORE_FIELDS = (
    "id",
    "active",
    "address",
    "code",
    "dateCreate",
    "dateModify",
    "description",
    "email",
    "gpsN",
    "gpsS",
    "imageId",
    "issuingCenter",
    "modifiedBy",
    "phone",
    "schedule",
    "sort",
    "title",
    "userId",
    "xmlId",
)
STORE_PRODUCT_FIELDS = ("id", "productId", "storeId", "amount", "quantityReserved")
PROPERTY_FIELDS = (
    "id",
    "timestampX",
    "iblockId",
    "name",
    "active",
    "sort",
    "code",
    "defaultValue",
    "propertyType",
    "userType",
    "rowCount",
    "colCount",
    "listType",
    "multiple",
    "xmlId",
    "fileType",
    "multipleCnt",
    "linkIblockId",
    "withDescription",
    "searchable",
    "filtrable",
    "isRequired",
    "hint",
    "userTypeSettings",
)
_PROPERTY_KINDS = {
    "iblockId": INT,
    "name": STR,
    "active": FLAG,
    "sort": INT,
    "code": STR,
    "defaultValue": STR,
    "propertyType": STR,
    "userType": STR,
    "rowCount": INT,
    "colCount": INT,
    "listType": STR,
    "multiple": FLAG,
    "xmlId": STR,
    "fileType": STR,
    "multipleCnt": INT,
    "linkIblockId": INT,
    "withDescription": FLAG,
    "searchable": FLAG,
    "filtrable": FLAG,
    "isRequired": FLAG,
    "hint": STR,
    "userTypeSettings": "raw",
}


def _rows(portal: PortalLike, table: str) -> list[dict[str, Any]]:
    return [row for _, row in portal.table(table)]


@method("catalog.measure.list", scope="catalog")
def measure_list(portal: PortalLike, call: Call) -> Listed:
    """Units of measure (pieces are the default)."""
    return list_answer(call, _rows(portal, "catalog.measure"), "measures", MEASURE_FIELDS)


@method("catalog.vat.list", scope="catalog")
def vat_list(portal: PortalLike, call: Call) -> Listed:
    """VAT rates."""
    return list_answer(call, _rows(portal, "catalog.vat"), "vats", VAT_FIELDS)


@method("catalog.store.list", scope="catalog")
def store_list(portal: PortalLike, call: Call) -> Listed:
    """Warehouses."""
    return list_answer(call, _rows(portal, "catalog.store"), "stores", STORE_FIELDS)


@method("catalog.store.get", scope="catalog")
def store_get(portal: PortalLike, call: Call) -> dict[str, Any]:
    """One warehouse by id."""
    row = portal.table("catalog.store").get(require(call, "id"))
    if row is None:
        raise catalog_error(OTHER, "Store is not exists")
    return {"store": project(row, (), STORE_FIELDS)}


@method("catalog.storeproduct.list", scope="catalog")
def store_product_list(portal: PortalLike, call: Call) -> Listed:
    """Stock balances per product and warehouse (read-only; documents move them)."""
    rows = _rows(portal, "catalog.storeproduct")
    return list_answer(call, rows, "storeProducts", STORE_PRODUCT_FIELDS)


@method("catalog.storeproduct.get", scope="catalog")
def store_product_get(portal: PortalLike, call: Call) -> dict[str, Any]:
    """One stock row by id."""
    row = portal.table("catalog.storeproduct").get(require(call, "id"))
    if row is None:
        raise catalog_error(OTHER, "Store product is not exists")
    return {"storeProduct": project(row, (), STORE_PRODUCT_FIELDS)}


@method("catalog.document.mode.status", scope="catalog")
def document_mode_status(portal: PortalLike, call: Call) -> str:
    """Whether inventory management is on: "Y" or "N"."""
    return "Y" if store_control(portal) else "N"


@method("catalog.productProperty.list", scope="catalog")
def property_list(portal: PortalLike, call: Call) -> Listed:
    """Properties of the catalog iblocks (the offers iblock has the parent link, CML2_LINK)."""
    return list_answer(call, _rows(portal, "catalog.productProperty"), "productProperties", PROPERTY_FIELDS)


@method("catalog.productProperty.get", scope="catalog")
def property_get(portal: PortalLike, call: Call) -> dict[str, Any]:
    """One property by id."""
    row = portal.table("catalog.productProperty").get(require(call, "id"))
    if row is None:
        raise catalog_error("", "productProperty does not exist")
    return {"productProperty": project(row, (), PROPERTY_FIELDS)}


@method("catalog.productProperty.add", scope="catalog")
def property_add(portal: PortalLike, call: Call) -> dict[str, Any]:
    """Create a property of a catalog iblock (types N, S, L, F, E, G)."""
    fields = coerce_fields(require(call, "fields"), _PROPERTY_KINDS)
    require_fields(fields, ("iblockId", "name", "propertyType"))
    if portal.table("catalog.catalog").get(fields["iblockId"]) is None:
        raise catalog_error(OTHER, "The specified iblock is not a product catalog")
    if fields["propertyType"] not in ("N", "S", "L", "F", "E", "G"):
        raise catalog_error(OTHER, "Invalid property type specified")
    if str(fields.get("code") or "x")[0].isdigit():
        raise catalog_error(OTHER, "Property code cannot start with a digit")
    defaults: dict[str, Any] = dict.fromkeys(PROPERTY_FIELDS)
    defaults |= {"active": "Y", "sort": 500, "multiple": "N", "isRequired": "N", "listType": "L"}
    defaults |= {
        "rowCount": 1,
        "colCount": 30,
        "searchable": "N",
        "filtrable": "N",
        "timestampX": now_iso(portal),
    }
    table = portal.table("catalog.productProperty")
    new_id = table.add(defaults | fields)
    table.rows[new_id]["id"] = new_id
    return {"productProperty": project(table.rows[new_id], (), PROPERTY_FIELDS)}
