"""Catalog elements: simple products, parent products and variations in one id space (§5.7).

An iblock element's id is unique across iblocks, so simple products (type 1), parents (3 with
variations, 6 without) and variations (4, or 5 without a parent) live in the table `catalog.product`.
Rows hold the answered form: property values as `{"value": "x", "valueId": "9816"}` (lists for multiple
properties), a variation's `parentId` the same way, `purchasingPrice` as "1000.000000"
(D:…/catalog/product/offer/catalog-product-offer-add.md).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from obmen_sandbox.bitrix24.catalog_common import (
    DATE,
    FLAG,
    FLOAT,
    INT,
    OTHER,
    STR,
    catalog_error,
    coerce_fields,
    now_iso,
    store_control,
)
from obmen_sandbox.bitrix24.registry import Call, PortalLike, Table

__all__ = [
    "OFFER",
    "OFFER_NO_PARENT",
    "PARENT",
    "PARENT_EMPTY",
    "SIMPLE",
    "all_products",
    "available",
    "complete",
    "defaults",
    "flat",
    "get_product",
    "is_property",
    "new_row",
    "parent_id",
    "products",
    "touch",
    "update_row",
]

# Product types (D:…/catalog/data-types.md, `type`).
SIMPLE, PARENT, OFFER, OFFER_NO_PARENT, PARENT_EMPTY = 1, 3, 4, 5, 6

KINDS: dict[str, str] = {
    "iblockId": INT,
    "name": STR,
    "active": FLAG,
    "code": STR,
    "xmlId": STR,
    "barcodeMulti": FLAG,
    "canBuyZero": FLAG,
    "createdBy": INT,
    "modifiedBy": INT,
    "dateActiveFrom": DATE,
    "dateActiveTo": DATE,
    "dateCreate": DATE,
    "iblockSectionId": INT,
    "measure": INT,
    "previewText": STR,
    "detailText": STR,
    "previewTextType": STR,
    "detailTextType": STR,
    "sort": INT,
    "subscribe": STR,
    "vatId": INT,
    "vatIncluded": FLAG,
    "height": FLOAT,
    "length": FLOAT,
    "weight": FLOAT,
    "width": FLOAT,
    "quantityTrace": STR,
    "purchasingCurrency": STR,
    "purchasingPrice": FLOAT,
    "quantity": FLOAT,
    "quantityReserved": FLOAT,
    "recurSchemeLength": INT,
    "recurSchemeType": STR,
    "trialPriceId": INT,
    "withoutOrder": FLAG,
    "previewPicture": "raw",
    "detailPicture": "raw",
}
# "Not editable when inventory management is enabled" (D:…/catalog/product/catalog-product-add.md).
_SEEDER = Call(name="seed", params={})
STOCK_FIELDS = ("quantity", "quantityReserved", "purchasingPrice", "purchasingCurrency")
CURRENCIES = frozenset({"RUB", "USD", "EUR", "UAH", "BYN", "KZT"})


def products(portal: PortalLike) -> Table:
    """The table of every catalog element."""
    return portal.table("catalog.product")


def get_product(portal: PortalLike, product_id: Any) -> dict[str, Any] | None:
    """The product with this id, completed first if it was seeded as a bare row."""
    row = products(portal).get(product_id)
    if row is not None and ("available" not in row or "id" not in row):
        complete(portal, int(product_id), row)
    return row


def all_products(portal: PortalLike) -> list[dict[str, Any]]:
    """Every product, by id, each complete (a created row always has `available`, a bare one not)."""
    table = products(portal)
    for key, row in table.rows.items():
        if "available" not in row or "id" not in row:
            complete(portal, key, row)
    return [row for _, row in table]


def complete(portal: PortalLike, key: int, row: dict[str, Any]) -> None:
    """Give a bare row (`{"iblockId": 23, "name": "x"}`, from seeding) what a created product has."""
    kind = row.get("type")
    full = defaults(
        portal, _SEEDER, kind if kind in (SIMPLE, PARENT, OFFER, OFFER_NO_PARENT, PARENT_EMPTY) else SIMPLE
    )
    full |= row
    full["id"] = key
    link = full.get("parentId")
    if link is not None and not isinstance(link, Mapping):
        full["parentId"] = {"value": str(link), "valueId": str(portal.table("catalog.propertyValue").add({}))}
    full["xmlId"] = full.get("xmlId") or str(key)
    full["available"] = available(full)
    row.clear()
    row.update(full)


def is_property(name: str) -> str | None:
    """Kind "raw" for a `property{N}` key, else None."""
    return "raw" if name.startswith("property") and name[8:].isdigit() else None


def defaults(portal: PortalLike, call: Call, kind: int) -> dict[str, Any]:
    """Every field of a new product of `kind` as the portal fills it."""
    stamp = now_iso(portal)
    default_measure = next(
        (mid for mid, m in portal.table("catalog.measure") if m.get("isDefault") == "Y"), None
    )
    parent = kind in (PARENT, PARENT_EMPTY)
    return {
        "active": "Y",
        "available": "N",
        "bundle": "N",
        "barcodeMulti": "N",
        "canBuyZero": "N",
        "code": None,
        "xmlId": None,
        "createdBy": call.user_id,
        "modifiedBy": call.user_id,
        "dateActiveFrom": None,
        "dateActiveTo": None,
        "dateCreate": stamp,
        "timestampX": stamp,
        "iblockSectionId": None,
        "measure": None if parent else default_measure,
        "previewText": None,
        "detailText": None,
        "previewPicture": None,
        "detailPicture": None,
        "previewTextType": "text",
        "detailTextType": "text",
        "sort": 500,
        "subscribe": "D",
        "vatId": None,
        "vatIncluded": "N",
        "height": None,
        "length": None,
        "weight": None,
        "width": None,
        "quantityTrace": "D",
        "type": kind,
        "purchasingCurrency": None,
        "purchasingPrice": None,
        "quantity": None if parent else 0,
        "quantityReserved": None if parent else 0,
        "recurSchemeLength": 0,
        "recurSchemeType": "D",
        "trialPriceId": None,
        "withoutOrder": "N",
    }


def _picture(portal: PortalLike, product_id: int, name: str, value: Any) -> dict[str, str] | None:
    """`{fileData: [name, base64]}` stores a file, `{remove: "Y"}` drops it (D:…/product-add.md)."""
    if isinstance(value, Mapping) and str(value.get("remove", "")).upper() == "Y":
        return None
    data = value.get("fileData") if isinstance(value, Mapping) else None
    if not isinstance(data, list | tuple) or len(data) != 2:
        raise catalog_error(OTHER, f"Wrong format of field '{name}': {{fileData: [name, base64]}} expected")
    file_id = portal.table("catalog.file").add({"name": str(data[0]), "productId": product_id})
    url = (
        f"/rest/catalog.product.download?fields%5BfieldName%5D={name}"
        f"&fields%5BfileId%5D={file_id}&fields%5BproductId%5D={product_id}"
    )
    return {"id": str(file_id), "url": url, "urlMachine": url}


def _property(portal: PortalLike, iblock_id: int, name: str) -> dict[str, Any]:
    prop = portal.table("catalog.productProperty").get(name[8:])
    if prop is None or prop.get("iblockId") != iblock_id:
        raise catalog_error(OTHER, f"Property {name[8:]} does not exist in iblock {iblock_id}")
    return prop


def _property_value(portal: PortalLike, product_id: int, prop: Mapping[str, Any], value: Any) -> Any:
    """A property as answered: `{value, valueId}`, a list of them if multiple, None when cleared."""
    items = value if isinstance(value, list) else [value]
    values = [item.get("value") if isinstance(item, Mapping) else item for item in items]
    values = [v for v in values if v not in (None, "")]
    stored = []
    for raw in values:
        value_id = portal.table("catalog.propertyValue").add(
            {"productId": product_id, "propertyId": prop["id"]}
        )
        stored.append({"value": str(raw), "valueId": str(value_id)})
    if prop.get("multiple") == "Y":
        return stored
    if len(stored) > 1:
        raise catalog_error(OTHER, f"Property {prop['id']} is not multiple")
    return stored[0] if stored else None


def _validate(portal: PortalLike, row: Mapping[str, Any], own_id: int | None) -> None:
    """The documented "code 0" checks: section, VAT, unit, currency, unique symbolic code."""
    section_id = row.get("iblockSectionId")
    if section_id:
        section = portal.table("catalog.section").get(section_id)
        if section is None or section.get("iblockId") != row["iblockId"]:
            raise catalog_error(OTHER, f"Section {section_id} does not exist")
    if row.get("vatId") and portal.table("catalog.vat").get(row["vatId"]) is None:
        raise catalog_error(OTHER, f"VAT rate {row['vatId']} does not exist")
    if row.get("measure") and portal.table("catalog.measure").get(row["measure"]) is None:
        raise catalog_error(OTHER, f"Measure {row['measure']} does not exist")
    currency = row.get("purchasingCurrency")
    if currency and currency not in CURRENCIES:
        raise catalog_error(OTHER, f"Currency {currency} does not exist")
    code = row.get("code")
    if code and any(
        other_id != own_id and other.get("code") == code and other.get("iblockId") == row["iblockId"]
        for other_id, other in products(portal).rows.items()
    ):
        raise catalog_error(OTHER, f"Product with symbolic code '{code}' already exists")


def _apply(portal: PortalLike, row: dict[str, Any], fields: Mapping[str, Any]) -> None:
    """Write typed `fields` into `row`: pictures stored, properties given value ids."""
    for name, value in fields.items():
        if name in ("previewPicture", "detailPicture"):
            row[name] = None if value is None else _picture(portal, row["id"], name, value)
        elif is_property(name):
            row[name] = _property_value(portal, row["id"], _property(portal, row["iblockId"], name), value)
        elif name == "purchasingPrice" and value is not None:
            row[name] = f"{float(value):.6f}"
        else:
            row[name] = value
    if row.get("iblockSectionId") == 0:
        row["iblockSectionId"] = None


def _typed_fields(portal: PortalLike, fields: Mapping[str, Any]) -> dict[str, Any]:
    typed = coerce_fields(fields, KINDS, is_property)
    if store_control(portal):
        for name in STOCK_FIELDS:
            typed.pop(name, None)
    return typed


def available(row: Mapping[str, Any]) -> str:
    """`available`: in stock, or sold without stock (`canBuyZero`, no quantity trace)."""
    if row["type"] in (PARENT, PARENT_EMPTY):
        return "N"
    stocked = (row.get("quantity") or 0) > 0
    return "Y" if stocked or row.get("canBuyZero") == "Y" or row.get("quantityTrace") == "N" else "N"


def new_row(portal: PortalLike, call: Call, fields: Mapping[str, Any], kind: int) -> dict[str, Any]:
    """Insert a product of `kind` from API `fields` (already checked for `iblockId`, `name`)."""
    typed = _typed_fields(portal, fields)
    row = defaults(portal, call, kind) | {"iblockId": typed["iblockId"]}
    _validate(portal, {**row, **typed}, None)
    new_id = products(portal).add(row)
    stored = products(portal).rows[new_id]
    stored["id"] = new_id
    try:
        _apply(portal, stored, typed)
    except Exception:
        # A bad property or picture loses nothing and leaves nothing behind.
        products(portal).delete(new_id)
        raise
    # The iblock fills an empty external code with the element id (the docs' answers: "xmlId": "1267").
    stored["xmlId"] = stored.get("xmlId") or str(new_id)
    stored["available"] = available(stored)
    return stored


def update_row(portal: PortalLike, call: Call, row: dict[str, Any], fields: Mapping[str, Any]) -> None:
    """Apply API `fields` to an existing product row."""
    typed = _typed_fields(portal, fields)
    if "iblockId" in typed and typed["iblockId"] != row["iblockId"]:
        raise catalog_error(OTHER, f"Product {row['id']} does not exist in iblock {typed['iblockId']}")
    _validate(portal, {**row, **typed}, row["id"])
    candidate = dict(row)
    _apply(portal, candidate, typed)
    row.update(candidate)
    row["modifiedBy"] = typed.get("modifiedBy", call.user_id)
    touch(portal, row)


def touch(portal: PortalLike, row: dict[str, Any]) -> None:
    """Stamp a change: `timestampX` now, `available` recomputed."""
    row["timestampX"] = now_iso(portal)
    row["available"] = available(row)


def parent_id(row: Mapping[str, Any]) -> int | None:
    """The parent product id of a variation, else None."""
    link = row.get("parentId")
    value = str(link.get("value") or "") if isinstance(link, Mapping) else ""
    return int(value) if value.isdigit() else None


def flat(row: Mapping[str, Any]) -> dict[str, Any]:
    """The row as filters see it: property and parent links by their plain values."""
    view = dict(row)
    for name, value in row.items():
        if isinstance(value, Mapping) and "valueId" in value:
            view[name] = value["value"]
        elif isinstance(value, list):
            view[name] = [item["value"] for item in value if isinstance(item, Mapping)]
    if "parentId" in row:
        view["parentId"] = parent_id(row)
    return view
