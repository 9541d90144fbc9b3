"""`catalog.product[.sku|.offer].getFieldsByFilter`: field descriptions of one catalog iblock.

Each field is `{isImmutable, isReadOnly, isRequired, name, type}`; the iblock's properties follow as
`property{N}` with `type` "productproperty", `isDynamic`, `isMultiple`, `propertyType`, `userType`, and a
variation's parent link as `parentId` (D:…/catalog/product/**/catalog-product-*-get-fields-by-filter.md).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from obmen_sandbox.bitrix24.catalog_common import DATE, FLAG, FLOAT, INT, OTHER, STR, catalog_error, missing
from obmen_sandbox.bitrix24.catalog_items import KINDS
from obmen_sandbox.bitrix24.catalog_products import FAMILIES, Family
from obmen_sandbox.bitrix24.registry import Call, PortalLike, method

__all__ = ["describe"]

# Field titles as the docs' captured answers give them.
_TITLES = {
    "id": "Identifier",
    "iblockId": "Information Block Identifier",
    "name": "Name",
    "active": "Activity",
    "available": "Availability for Purchase",
    "bundle": "Set Availability",
    "canBuyZero": "Allow Purchase When Out of Stock",
    "code": "Symbolic Code",
    "xmlId": "External Code",
    "createdBy": "Created By",
    "modifiedBy": "Modified By",
    "dateActiveFrom": "DATE_ACTIVE_FROM",
    "dateActiveTo": "DATE_ACTIVE_TO",
    "dateCreate": "Creation Date",
    "timestampX": "Modification Date",
    "iblockSectionId": "Main Section",
    "measure": "Unit of Measurement",
    "previewText": "Preview Description",
    "detailText": "Detailed Description",
    "previewPicture": "Preview Picture",
    "detailPicture": "Detail Picture",
    "previewTextType": "Type of Preview Description",
    "detailTextType": "Type of Detailed Description",
    "sort": "Sort Index",
    "subscribe": "Allow Subscription to Product",
    "vatId": "VAT Identifier",
    "vatIncluded": "VAT Included in Price",
    "height": "Height",
    "length": "Length",
    "weight": "Weight",
    "width": "Width",
    "quantityTrace": "Quantity Accounting Mode",
    "type": "Product Type",
    "purchasingCurrency": "Purchasing Price Currency",
    "purchasingPrice": "Purchasing Price",
    "quantity": "Available Quantity",
    "quantityReserved": "Reserved Quantity",
}
_TYPES = {INT: "integer", FLOAT: "double", STR: "string", FLAG: "char", DATE: "datetime", "raw": "file"}
# Read-only per the captured answers; `purchasingPrice` is typed string there (it is answered "1000.000000").
_READ_ONLY = {"id", "available", "bundle", "type"}
_OVERRIDES = {
    "id": "integer",
    "available": "char",
    "bundle": "char",
    "type": "integer",
    "timestampX": "datetime",
}
_OVERRIDES |= {"purchasingPrice": "string", "subscribe": "char", "quantityTrace": "char"}


def _field(name: str) -> dict[str, Any]:
    kind = _OVERRIDES.get(name) or _TYPES[KINDS[name]]
    return {
        "isImmutable": name == "iblockId",
        "isReadOnly": name in _READ_ONLY,
        "isRequired": name in ("iblockId", "name"),
        "name": _TITLES[name],
        "type": kind,
    }


def _property(prop: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "isDynamic": True,
        "isImmutable": False,
        "isMultiple": prop.get("multiple") == "Y",
        "isReadOnly": False,
        "isRequired": prop.get("isRequired") == "Y",
        "name": prop.get("name"),
        "propertyType": prop.get("propertyType"),
        "type": "productproperty",
        "userType": prop.get("userType"),
    }


def describe(portal: PortalLike, family: Family, iblock_id: int) -> dict[str, Any]:
    """The field descriptions a family answers for `iblock_id`, properties included."""
    fields = {name: _field(name) for name in family.fields if name in _TITLES}
    link = portal.table("catalog.catalog").get(iblock_id) or {}
    for prop_id, prop in portal.table("catalog.productProperty"):
        if prop.get("iblockId") != iblock_id:
            continue
        if prop_id == link.get("skuPropertyId"):
            fields["parentId"] = _property(prop)
        else:
            fields[f"property{prop_id}"] = _property(prop)
    return dict(sorted(fields.items()))


def _register(family: Family) -> None:
    def handler(portal: PortalLike, call: Call) -> dict[str, Any]:
        where = call.param("filter")
        if not isinstance(where, Mapping) or not where:
            raise missing("filter")
        try:
            iblock_id = int(str(where.get("iblockId")))
        except (TypeError, ValueError):
            raise catalog_error(OTHER, "Information block identifier is not specified") from None
        if portal.table("catalog.catalog").get(iblock_id) is None:
            raise catalog_error("200040300000", f"Iblock {iblock_id} does not exist")
        return {family.one: describe(portal, family, iblock_id)}

    handler.__doc__ = f"{family.prefix}.getFieldsByFilter"
    method(f"{family.prefix}.getFieldsByFilter", scope="catalog")(handler)


for _family in FAMILIES:
    _register(_family)
