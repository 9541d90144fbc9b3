"""`catalog.product.*`, `catalog.product.sku.*` (parents) and `catalog.product.offer.*` (variations).

The naming trap of docs/protocols/bitrix24.md §5.7: `sku` is the PARENT product (type 6, or 3 once it has
variations) in the product iblock, `offer` the variation (type 4) in the offers iblock with `parentId`.
The three families share one table and differ in which types they see, which fields they answer and how
they name the answer: `element`/`product`/`products`, `sku`/`sku`/`units`, `offer`/`offer`/`offers`
(D:…/catalog/product/**). Changes emit `CATALOG.PRODUCT.ON.ADD|UPDATE|DELETE` with `FIELDS{ID, TYPE}`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from obmen_sandbox.bitrix24.catalog_common import (
    INT,
    OTHER,
    Listed,
    catalog_error,
    coerce_fields,
    list_answer,
    project,
    require,
    require_fields,
)
from obmen_sandbox.bitrix24.catalog_items import (
    KINDS,
    OFFER,
    OFFER_NO_PARENT,
    PARENT,
    PARENT_EMPTY,
    SIMPLE,
    all_products,
    flat,
    get_product,
    is_property,
    new_row,
    products,
    update_row,
)
from obmen_sandbox.bitrix24.catalog_variations import delete_product, link_parent, parent_target
from obmen_sandbox.bitrix24.registry import Call, PortalLike, method

__all__ = ["FAMILIES", "Family"]

PRODUCT_FIELDS = (
    "id",
    "iblockId",
    "name",
    "active",
    "available",
    "code",
    "xmlId",
    "barcodeMulti",
    "bundle",
    "canBuyZero",
    "createdBy",
    "modifiedBy",
    "dateActiveFrom",
    "dateActiveTo",
    "dateCreate",
    "timestampX",
    "iblockSectionId",
    "measure",
    "previewText",
    "detailText",
    "previewPicture",
    "detailPicture",
    "previewTextType",
    "detailTextType",
    "sort",
    "subscribe",
    "vatId",
    "vatIncluded",
    "height",
    "length",
    "weight",
    "width",
    "quantityTrace",
    "type",
    "purchasingCurrency",
    "purchasingPrice",
    "quantity",
    "quantityReserved",
    "recurSchemeLength",
    "recurSchemeType",
    "trialPriceId",
    "withoutOrder",
)
# A cloud portal leaves out the on-premise content-sale fields and `barcodeMulti`: the docs' captured
# answers of product/offer add and get have none of them although data-types.md lists them.
_ON_PREMISE = {"barcodeMulti", "recurSchemeLength", "recurSchemeType", "trialPriceId", "withoutOrder"}
# catalog_product_sku also lacks the stock-keeping fields (D:…/catalog/data-types.md).
SKU_FIELDS = tuple(n for n in PRODUCT_FIELDS if n not in _ON_PREMISE | {"quantityTrace", "quantityReserved"})
ANSWERED_FIELDS = tuple(n for n in PRODUCT_FIELDS if n not in _ON_PREMISE)
OFFER_FIELDS = (*ANSWERED_FIELDS, "parentId")


@dataclass(frozen=True)
class Family:
    """One method family: its prefix, answer keys, visible product types and fields."""

    prefix: str
    written: str
    one: str
    many: str
    types: frozenset[int]
    fields: tuple[str, ...]
    #: Whether its products live in the offers iblock (the one with `productIblockId`).
    in_offers: bool
    new_type: int
    noun: str


FAMILIES = (
    Family(
        "catalog.product",
        "element",
        "product",
        "products",
        frozenset({SIMPLE, PARENT, OFFER, OFFER_NO_PARENT, PARENT_EMPTY}),
        ANSWERED_FIELDS,
        False,
        SIMPLE,
        "Product",
    ),
    Family(
        "catalog.product.sku",
        "sku",
        "sku",
        "units",
        frozenset({PARENT, PARENT_EMPTY}),
        SKU_FIELDS,
        False,
        PARENT_EMPTY,
        "Parent product",
    ),
    Family(
        "catalog.product.offer",
        "offer",
        "offer",
        "offers",
        frozenset({OFFER, OFFER_NO_PARENT}),
        OFFER_FIELDS,
        True,
        OFFER_NO_PARENT,
        "Product variation",
    ),
)


def _row(portal: PortalLike, family: Family, product_id: Any) -> dict[str, Any]:
    row = get_product(portal, product_id)
    if row is None or row["type"] not in family.types:
        raise catalog_error(OTHER, f"{family.noun} {product_id} does not exist")
    return row


def _writable(family: Family, fields: Mapping[str, Any]) -> dict[str, Any]:
    """The fields this family may write (the sku family has no stock-keeping fields)."""
    writable = set(PRODUCT_FIELDS) if family.fields is not SKU_FIELDS else set(SKU_FIELDS)
    return {k: v for k, v in fields.items() if k in writable or is_property(k) or k not in KINDS}


def _check_iblock(portal: PortalLike, family: Family, iblock_id: int) -> None:
    catalog = portal.table("catalog.catalog").get(iblock_id)
    if catalog is None:
        raise catalog_error("200040300000", f"Iblock {iblock_id} does not exist")
    if bool(catalog.get("productIblockId")) != family.in_offers:
        wanted = "an offers catalog" if family.in_offers else "a product catalog"
        raise catalog_error(OTHER, f"Iblock {iblock_id} is not {wanted} ({family.prefix}.add)")


def _answer(family: Family, key: str, row: Mapping[str, Any]) -> dict[str, Any]:
    return {key: project(row, (), family.fields, is_property)}


def _add(portal: PortalLike, call: Call, family: Family) -> dict[str, Any]:
    fields = _writable(family, require(call, "fields"))
    typed = coerce_fields(fields, {"iblockId": INT, "name": "raw"})
    require_fields(typed, ("iblockId", "name"))
    _check_iblock(portal, family, typed["iblockId"])
    row = new_row(portal, call, fields, family.new_type)
    if family.in_offers:
        try:
            link_parent(portal, call, row, fields.get("parentId"))
        except Exception:
            products(portal).delete(row["id"])
            raise
    portal.emit("CATALOG.PRODUCT.ON.ADD", row["id"], call, TYPE=row["type"])
    return _answer(family, family.written, row)


def _update(portal: PortalLike, call: Call, family: Family) -> dict[str, Any]:
    row = _row(portal, family, require(call, "id"))
    fields = _writable(family, require(call, "fields"))
    if family.in_offers and fields.get("parentId") not in (None, "", 0, "0"):
        parent_target(portal, row["iblockId"], fields["parentId"])  # refused before anything changes
    update_row(portal, call, row, fields)
    if family.in_offers and "parentId" in fields:
        link_parent(portal, call, row, fields["parentId"])
    portal.emit("CATALOG.PRODUCT.ON.UPDATE", row["id"], call, TYPE=row["type"])
    return _answer(family, family.written, row)


def _get(portal: PortalLike, call: Call, family: Family) -> dict[str, Any]:
    return _answer(family, family.one, _row(portal, family, require(call, "id")))


def _list(portal: PortalLike, call: Call, family: Family) -> Listed:
    rows = [row for row in all_products(portal) if row["type"] in family.types]
    # Lists always name their fields (`select` is required), and the on-premise ones may be named too.
    selectable = family.fields if family.fields is SKU_FIELDS else (*family.fields, *sorted(_ON_PREMISE))
    return list_answer(
        call,
        rows,
        family.many,
        selectable,
        must_select=("id", "iblockId"),
        must_filter=("iblockId",),
        dynamic=is_property,
        flat=flat,
        flat_fields=("parentId",),
    )


def _delete(portal: PortalLike, call: Call, family: Family) -> bool:
    row = _row(portal, family, require(call, "id"))
    delete_product(portal, call, row["id"])
    return True


def _register(family: Family) -> None:
    for verb, action in (
        ("add", _add),
        ("update", _update),
        ("get", _get),
        ("list", _list),
        ("delete", _delete),
    ):

        def handler(portal: PortalLike, call: Call, action: Any = action) -> Any:
            return action(portal, call, family)

        handler.__doc__ = f"{family.prefix}.{verb}"
        method(f"{family.prefix}.{verb}", scope="catalog")(handler)


for _family in FAMILIES:
    _register(_family)
