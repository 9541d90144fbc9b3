"""Canonical catalog field maps ⇄ Bitrix24 `catalog.*` rows (pure functions, no I/O).

Facts from docs/protocols/bitrix24.md §5.7: sections and products are iblock elements with camelCase typed
fields;
`xmlId` is the external code; a parent product is `catalog.product.sku.*`, a variation
`catalog.product.offer.*` with `parentId` answered as `{"value": "1275", "valueId": "9863"}`; prices go
through `catalog.price.modify` (replace-all), stock either as `quantity` or, with inventory management
on, only through conducted store documents.

The idempotency stamp is `xmlId`: it holds the 1C `Ид` when the canonical object has one (so objects
made by 1C's own exchange match by it) and the canonical id otherwise; a canonical id is 32 hex digits,
a 1C GUID has dashes, so `origin_of` can tell them apart.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from obmen.model.fields import decimal_text

__all__ = [
    "CatalogInfo",
    "category_from_section",
    "offer_from_row",
    "origin_of",
    "price_rows",
    "product_from_row",
    "product_payload",
    "section_payload",
    "stock_moves",
    "xml_id_for",
]

_CANONICAL = re.compile(r"[0-9a-f]{32}")


@dataclass(frozen=True, slots=True)
class CatalogInfo:
    """What a portal's catalog looks like, read once (`catalog.catalog.list`, price types, stores)."""

    product_iblock: int
    offers_iblock: int | None = None
    price_types: Mapping[int, str] = field(default_factory=dict)
    stores: tuple[int, ...] = ()
    #: The price type the canonical `price` is kept in.
    base_price_type: int | None = None
    #: `catalog.document.mode.status` = "Y": stock changes only through store documents (§5.7).
    inventory: bool = False
    currency: str = "RUB"
    #: `responsibleId` of the store documents obmen conducts (a required field, §5.7).
    responsible: int = 1
    #: The stores `[mapping] warehouses` maps 1C's warehouses to: with inventory management the stock is
    #: kept per store (`store_stock`), else as the one `quantity`.
    mapped_stores: tuple[int, ...] = ()

    @property
    def per_store(self) -> bool:
        """Whether the stock travels per store (`store_stock`) rather than as `quantity`."""
        return self.inventory and bool(self.mapped_stores)

    def stock_unknown(self) -> dict[str, str]:
        """The stock field this portal cannot tell (`Remote.unknown`, docs/architecture.md §2.12)."""
        if self.per_store:
            return {"quantity": "kept per store"}
        if self.mapped_stores:
            return {"store_stock": "no inventory management: one quantity"}
        return {}


def origin_of(xml_id: Any) -> str | None:
    """The canonical id stamped in `xmlId` by an obmen create, if it is one."""
    return str(xml_id) if isinstance(xml_id, str) and _CANONICAL.fullmatch(xml_id) else None


def foreign_xml_id(xml_id: Any) -> str | None:
    """The `xmlId` another system gave (1C's `Ид`); None when empty or only obmen's own stamp."""
    return None if origin_of(xml_id) or not xml_id else str(xml_id)


def xml_id_for(fields: Mapping[str, Any], canonical_id: str | None) -> str | None:
    """The `xmlId` to write: the 1C `Ид` when known, else the canonical id of a create."""
    return str(fields.get("xml_id") or "") or canonical_id


def _ref_id(ref: Any) -> int | None:
    return int(ref["id"]) if isinstance(ref, Mapping) and str(ref.get("id") or "").isdigit() else None


def _yn(value: Any) -> str:
    return "Y" if value in (True, None) else "N"


def section_payload(fields: Mapping[str, Any], iblock: int, origin: str | None) -> dict[str, Any]:
    """`catalog.section` fields for a category (what `fields` holds, its iblock, the stamp on create)."""
    out: dict[str, Any] = {}
    if "name" in fields:
        out["name"] = fields["name"]
    if "active" in fields:
        out["active"] = _yn(fields["active"])
    if "parent" in fields:
        # A root section has no parent: iblockSectionId null (§5.7 "iblockSectionId (parent)").
        out["iblockSectionId"] = _ref_id(fields["parent"])
    xml_id = xml_id_for(fields, origin) if origin is not None or "xml_id" in fields else None
    if xml_id:
        out["xmlId"] = xml_id
    if out or origin is not None:
        # `catalog.section.update` requires `iblockId` as `add` does (docs/protocols/bitrix24.md §5.7).
        out["iblockId"] = iblock
    return out


def category_from_section(row: Mapping[str, Any]) -> dict[str, Any]:
    """Canonical category fields of a `catalog.section` row."""
    parent = row.get("iblockSectionId")
    return {
        "name": str(row.get("name") or ""),
        "xml_id": foreign_xml_id(row.get("xmlId")),
        "parent": {"$ref": "category", "id": str(parent)} if parent else None,
        "active": row.get("active", "Y") == "Y",
    }


def product_payload(fields: Mapping[str, Any], iblock: int, origin: str | None) -> dict[str, Any]:
    """Product (simple or parent) fields: name, description, section, activity, `xmlId`."""
    out: dict[str, Any] = {}
    if origin is not None:
        out["iblockId"] = iblock
    if "name" in fields:
        out["name"] = fields["name"]
    if "description" in fields:
        out["detailText"] = fields["description"] or ""
    if "active" in fields:
        out["active"] = _yn(fields["active"])
    if "categories" in fields:
        # A Bitrix24 product sits in one section: the first category is it.
        first = next(iter(fields["categories"] or []), None)
        out["iblockSectionId"] = _ref_id(first)
    xml_id = xml_id_for(fields, origin) if origin is not None or "xml_id" in fields else None
    if xml_id:
        out["xmlId"] = xml_id
    return out


def product_from_row(row: Mapping[str, Any]) -> dict[str, Any]:
    """Canonical product fields of a `catalog.product` row."""
    section = row.get("iblockSectionId")
    return {
        "name": str(row.get("name") or ""),
        "xml_id": foreign_xml_id(row.get("xmlId")),
        "description": row.get("detailText") or None,
        "categories": [{"$ref": "category", "id": str(section)}] if section else [],
        "active": row.get("active", "Y") == "Y",
    }


def _dec(value: Any) -> Decimal:
    try:
        return Decimal(str(value if value not in (None, "") else 0))
    except InvalidOperation:
        return Decimal(0)


def price_rows(prices: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """`catalog.price.modify` rows for canonical prices; modify replaces the whole set (§5.7)."""
    rows = []
    for price in prices:
        group = _ref_id(price.get("price_type"))
        if group is None:
            continue
        value = price["value"]
        rows.append(
            {"catalogGroupId": group, "price": float(_dec(value["amount"])), "currency": value["currency"]}
        )
    return rows


def _levels(stock: Iterable[Mapping[str, Any]]) -> dict[int, Decimal]:
    out: dict[int, Decimal] = {}
    for level in stock:
        store = _ref_id(level.get("warehouse"))
        if store is not None:
            out[store] = out.get(store, Decimal(0)) + _dec(level.get("quantity"))
    return out


def stock_moves(wanted: Iterable[Mapping[str, Any]], have: Mapping[int, Decimal]) -> dict[int, Decimal]:
    """Per store, the change that takes the stock from `have` to `wanted` (zero changes left out)."""
    want = _levels(wanted)
    moves = {store: want.get(store, Decimal(0)) - have.get(store, Decimal(0)) for store in {*want, *have}}
    return {store: delta for store, delta in moves.items() if delta}


def offer_from_row(
    row: Mapping[str, Any],
    prices: Iterable[Mapping[str, Any]],
    stock: Mapping[int, Decimal] | None,
    info: CatalogInfo,
) -> dict[str, Any]:
    """Canonical offer fields of a product or variation row, its prices and its stock per store."""
    parent = row.get("parentId")
    parent_id = parent.get("value") if isinstance(parent, Mapping) else parent
    product = str(parent_id) if parent_id else str(row["id"])
    if stock is None:
        # Without inventory management the stock is one `quantity`, kept at the first store (§5.7).
        quantity = _dec(row.get("quantity"))
        stock = {info.stores[0]: quantity} if info.stores and quantity else {}
    per_store = [[str(s), decimal_text(stock.get(s, Decimal(0)))] for s in info.mapped_stores]
    return {
        "product": {"$ref": "product", "id": product},
        "name": str(row.get("name") or ""),
        "xml_id": foreign_xml_id(row.get("xmlId")),
        "price": next(
            (
                {"amount": decimal_text(_dec(p.get("price"))), "currency": str(p.get("currency"))}
                for p in prices
                if int(p["catalogGroupId"]) == info.base_price_type
            ),
            None,
        ),
        "quantity": decimal_text(sum(stock.values(), Decimal(0))),
        "store_stock": per_store if info.per_store else [],
        "active": row.get("active", "Y") == "Y",
    }


def as_price_and_stock(fields: Mapping[str, Any], info: CatalogInfo) -> dict[str, Any]:
    """Canonical `price`/`quantity` as the portal's rows: the base price type, the first store (§5.7);
    with mapped stores on a portal with inventory management `store_stock` instead, store by store."""
    out = dict(fields)
    if "price" in out:
        price = out.pop("price")
        group = info.base_price_type
        kind = {"$ref": "price_type", "id": str(group)}
        out["prices"] = [] if price is None or group is None else [{"price_type": kind, "value": price}]
    quantity, per_store = out.pop("quantity", None), out.pop("store_stock", None)
    if info.per_store:
        # The mapped stores only: a store no warehouse maps to keeps what it holds (never reset).
        if per_store is not None:
            wanted = {int(store): amount for store, amount in per_store if int(store) in info.mapped_stores}
            out["stock"] = [
                {"warehouse": {"$ref": "warehouse", "id": str(s)}, "quantity": wanted.get(s, "0")}
                for s in info.mapped_stores
            ]
    elif "quantity" in fields:
        place = {"$ref": "warehouse", "id": str(info.stores[0])} if info.stores else None
        out["stock"] = (
            [] if quantity is None or place is None else [{"warehouse": place, "quantity": quantity}]
        )
    return out
