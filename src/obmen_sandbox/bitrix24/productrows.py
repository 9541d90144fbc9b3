"""Product rows: `crm.deal.productrows.set|get` and `crm.item.productrow.*` (docs/protocols/bitrix24.md §5.2).

One table "crm.productrow" holds rows of every owner in camelCase (the `crm.item.productrow.*` shape).
`set` replaces all rows of the owner (rows not passed are deleted); the owner's OPPORTUNITY follows the rows
unless IS_MANUAL_OPPORTUNITY is Y. A row naming a catalog product takes the product's name and unit from
table "catalog.product" when none is given (D:…/product-rows/crm-item-productrow-set.md).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from obmen_sandbox.bitrix24 import crm_store
from obmen_sandbox.bitrix24.crm import require_id
from obmen_sandbox.bitrix24.crm_schema import ENTITIES, Entity, camel, upper_from_camel
from obmen_sandbox.bitrix24.crm_values import to_float, to_int
from obmen_sandbox.bitrix24.registry import Call, PortalLike, RestError, legacy_error, method

__all__ = ["owner_rows", "replace_rows"]

_BY_OWNER = {e.owner_type: e for e in ENTITIES.values() if e.stage_field}
_INPUT: tuple[str, ...] = (
    "productId",
    "productName",
    "price",
    "quantity",
    "discountTypeId",
    "discountRate",
    "discountSum",
)
_INPUT += ("taxRate", "taxIncluded", "taxName", "measureCode", "measureName", "sort")


def _money(value: float) -> float:
    return round(value + 0.0, 2)


def _catalog(portal: PortalLike, product_id: int | None) -> Mapping[str, Any]:
    if not product_id:
        return {}
    return portal.table("catalog.product").get(product_id) or {}


def _measure(portal: PortalLike, product: Mapping[str, Any]) -> tuple[int, str]:
    measure = portal.table("catalog.measure").get(product.get("measure")) if product.get("measure") else None
    if measure:
        return int(measure.get("code", 796)), str(measure.get("symbol") or measure.get("symbolRus") or "шт")
    return 796, "шт"


def build_row(portal: PortalLike, owner: Entity, owner_id: int, given: Mapping[str, Any]) -> dict[str, Any]:
    """A complete stored row from the fields a client passed (camelCase), with the derived prices."""
    product_id = to_int(given.get("productId")) or 0
    product = _catalog(portal, product_id)
    code, unit = _measure(portal, product)
    price = to_float(given.get("price")) or 0.0
    quantity = to_float(given.get("quantity"))
    discount_type = to_int(given.get("discountTypeId")) or 2
    discount_rate = to_float(given.get("discountRate")) or 0.0
    tax_rate = to_float(given.get("taxRate"))
    tax_included = "Y" if str(given.get("taxIncluded") or "N").upper() == "Y" else "N"
    # `price` is final per unit, discount and tax applied whether or not the tax is "included" (the
    # reference's `price`: «с учетом скидок и налогов»); `priceExclusive` is it without the tax.
    exclusive = price / (1 + tax_rate / 100) if tax_rate else price
    if discount_type == 2:
        netto = exclusive / (1 - discount_rate / 100) if discount_rate < 100 else exclusive
        discount_sum = netto - exclusive
    else:
        discount_sum = to_float(given.get("discountSum")) or 0.0
        netto = exclusive + discount_sum
        discount_rate = discount_sum / netto * 100 if netto else 0.0
    brutto = netto * (1 + tax_rate / 100) if tax_rate else netto
    return {
        "ownerId": owner_id,
        "ownerType": owner.owner_type,
        "productId": product_id,
        "productName": str(given.get("productName") or product.get("name") or ""),
        "price": _money(price),
        "priceAccount": _money(price),
        "priceExclusive": _money(exclusive),
        "priceNetto": _money(netto),
        "priceBrutto": _money(brutto),
        "quantity": 1.0 if quantity is None else quantity,
        "discountTypeId": discount_type,
        "discountRate": _money(discount_rate),
        "discountSum": _money(discount_sum),
        "taxRate": tax_rate,
        "taxIncluded": tax_included,
        "taxName": str(given.get("taxName") or ("Без НДС" if tax_rate is None else f"НДС {tax_rate:g}%")),
        "customized": "Y",
        "measureCode": to_int(given.get("measureCode")) or code,
        "measureName": str(given.get("measureName") or unit),
        "sort": to_int(given.get("sort")) or 10,
        "xmlId": "",
        "type": int(product.get("type") or 1) if product else 1,
        "storeId": 0,
    }


def owner_rows(portal: PortalLike, owner: Entity, owner_id: int) -> list[dict[str, Any]]:
    """The owner's rows by sort, then id."""
    rows = [
        r
        for _, r in portal.table("crm.productrow")
        if r["ownerType"] == owner.owner_type and r["ownerId"] == owner_id
    ]
    return sorted(rows, key=lambda r: (int(r["sort"]), int(r["id"])))


def _recalculate(portal: PortalLike, owner: Entity, owner_id: int, call: Call) -> None:
    row = crm_store.find(portal, owner, owner_id)
    if row is None:
        return
    if row.get("IS_MANUAL_OPPORTUNITY") != "Y":
        total = sum(float(r["price"]) * float(r["quantity"]) for r in owner_rows(portal, owner, owner_id))
        row["OPPORTUNITY"] = _money(total)
    crm_store.update(portal, owner, row, {}, call)


def replace_rows(
    portal: PortalLike, owner: Entity, owner_id: int, rows: Sequence[Mapping[str, Any]], call: Call
) -> list[dict[str, Any]]:
    """Replace every row of the owner (`id` of an existing row of this owner keeps its id)."""
    built = [(to_int(r.get("id")), build_row(portal, owner, owner_id, r)) for r in rows]
    table = portal.table("crm.productrow")
    old = {int(r["id"]) for r in owner_rows(portal, owner, owner_id)}
    kept = {row_id for row_id, _ in built if row_id in old}
    for gone in old - kept:
        table.delete(gone)
    for row_id, row in built:
        if row_id is not None and row_id in kept:
            table.rows[row_id] = {"id": row_id, **row}
        else:
            new_id = table.add(row)
            table.rows[new_id] = {"id": new_id, **row}
    _recalculate(portal, owner, owner_id, call)
    return owner_rows(portal, owner, owner_id)


def _legacy(row: Mapping[str, Any]) -> dict[str, Any]:
    """A row as `crm.deal.productrows.get` writes it: ids as strings, amounts as numbers (its doc example)."""
    out = {upper_from_camel(k): v for k, v in row.items() if k != "taxName"}
    out["ID"] = str(row["id"])
    out["OWNER_ID"] = str(row["ownerId"])
    out["ORIGINAL_PRODUCT_NAME"] = row["productName"]
    out["PRODUCT_DESCRIPTION"] = None
    out["PRICE_ACCOUNT"] = f"{float(row['priceAccount']):.2f}"
    out["QUANTITY"] = _number(row["quantity"])
    out.pop("STORE_ID", None)
    # No reservations in the sandbox: the reservation members are there, empty (crm-deal-productrows-get.md).
    out.update(STORE_ID=0, RESERVE_ID=0, RESERVE_QUANTITY=0, DATE_RESERVE_END="")
    return out


def _number(value: float) -> float | int:
    return int(value) if float(value).is_integer() else value


def _legacy_owner(portal: PortalLike, call: Call) -> int:
    owner_id = require_id(call)
    if crm_store.find(portal, ENTITIES["DEAL"], owner_id) is None:
        raise legacy_error("Not found")
    return owner_id


@method("crm.deal.productrows.set", scope="crm")
def deal_rows_set(portal: PortalLike, call: Call) -> bool:
    """Replace all product rows of a deal (legacy upper-case row fields)."""
    owner_id = _legacy_owner(portal, call)
    rows = call.param("rows") or []
    entries = rows.values() if isinstance(rows, Mapping) else rows
    given = [{camel(str(k).upper()): v for k, v in r.items()} for r in entries if isinstance(r, Mapping)]
    replace_rows(portal, ENTITIES["DEAL"], owner_id, [{k: r.get(k) for k in _INPUT} for r in given], call)
    return True


@method("crm.deal.productrows.get", scope="crm")
def deal_rows_get(portal: PortalLike, call: Call) -> list[dict[str, Any]]:
    """Product rows of a deal."""
    owner_id = _legacy_owner(portal, call)
    return [_legacy(r) for r in owner_rows(portal, ENTITIES["DEAL"], owner_id)]


def owner_of(portal: PortalLike, owner_type: Any, owner_id: Any) -> tuple[Entity, int]:
    """The owner named by `ownerType`/`ownerId`, checked to exist."""
    owner = _BY_OWNER.get(str(owner_type or "").upper())
    if owner is None:
        raise RestError(
            "ENTITY_TYPE_NOT_SUPPORTED", f"Owner type '{owner_type}' does not support product rows"
        )
    number = to_int(owner_id)
    if not number or crm_store.find(portal, owner, number) is None:
        raise RestError("NOT_FOUND", "Owner not found")
    return owner, number
