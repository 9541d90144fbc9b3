"""Edits a person makes in the sandbox 1C (the control API's PATCH bodies), each stamped as a change."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from lxml import etree

from obmen_sandbox.onec.documents import today_text
from obmen_sandbox.onec.infobase import Infobase, Offer, Order

__all__ = ["EditError", "edit_order", "edit_product", "register_time"]


class EditError(ValueError):
    """A PATCH body the sandbox refuses; `status` is the HTTP status to answer."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


def _amount(value: Any, what: str) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise EditError(f"{what}: a number is expected, got {value!r}")
    try:
        amount = Decimal(str(value))
    except InvalidOperation as exc:
        raise EditError(f"{what}: {value!r} is not a number") from exc
    if not amount.is_finite() or amount < 0:
        raise EditError(f"{what}: {value!r} must be a finite number ≥ 0")
    return amount


def _xml_text(value: str, what: str) -> None:
    """Refuse text an XML file cannot carry (control characters), before it breaks a later run."""
    try:
        etree.Element("probe").text = value
    except ValueError as exc:
        raise EditError(f"{what}: {exc}") from exc


def _mapping(body: dict[str, Any], key: str) -> dict[str, Any]:
    value = body.get(key, {})
    if not isinstance(value, dict):
        raise EditError(f"{key}: an object is expected")
    return value


def _target_offers(base: Infobase, key: str, wants_numbers: bool) -> list[Offer]:
    if key in base.offers:
        return [base.offers[key]]
    offers = base.offers_of(key)
    if wants_numbers and len(offers) > 1:
        choices = ", ".join(offer.id for offer in offers)
        raise EditError(f"{key} has characteristics; PATCH one offer for prices or stock: {choices}")
    return offers


def edit_product(base: Infobase, key: str, body: dict[str, Any]) -> None:
    """Apply {"name", "deleted", "prices": {type: value}, "stock": {warehouse: qty}} to a product/offer."""
    unknown = set(body) - {"name", "deleted", "prices", "stock"}
    if unknown:
        raise EditError(f"unknown fields: {sorted(unknown)}")
    product = base.products.get(key) or base.products.get(key.split("#", 1)[0])
    if product is None and key not in base.offers:
        raise EditError(f"no product or offer {key!r}", 404)
    prices, stock = _mapping(body, "prices"), _mapping(body, "stock")
    offers = _target_offers(base, key, bool(prices or stock))
    price_updates = {
        _price_type(base, name): _amount(value, f"prices.{name}") for name, value in prices.items()
    }
    stock_updates = {_warehouse(base, name): _amount(value, f"stock.{name}") for name, value in stock.items()}
    if "name" in body and (not isinstance(body["name"], str) or not body["name"].strip()):
        raise EditError("name: a non-empty string is expected")
    if "name" in body:
        _xml_text(body["name"], "name")
    if "deleted" in body and not isinstance(body["deleted"], bool):
        raise EditError("deleted: true or false is expected")
    if product is not None and ("name" in body or "deleted" in body):
        product.name = body.get("name", product.name).strip()
        product.deleted = body.get("deleted", product.deleted)
        product.rev = base.stamp()
    now = register_time()
    for offer in offers if price_updates or stock_updates else []:
        offer.prices.update(price_updates)
        offer.stock.update(stock_updates)
        offer.rev = base.stamp()
        # A price is a new record of the price register, a stock level a movement of the stock register
        # (docs: the OData view, onec/odata/entities.py): both carry the period they were made in.
        if price_updates:
            offer.prices_rev, offer.prices_at = offer.rev, now
        if stock_updates:
            offer.stock_rev, offer.stock_at = offer.rev, now


def register_time() -> str:
    """1C's `Edm.DateTime` of now: local time to the second, without a zone."""
    return datetime.now().replace(microsecond=0).isoformat()


def _price_type(base: Infobase, key: str) -> str:
    kind = base.price_type(key)
    if kind is None:
        raise EditError(f"no price type {key!r}; known: {[item.name for item in base.price_types.values()]}")
    return kind.id


def _warehouse(base: Infobase, key: str) -> str:
    store = base.warehouse(key)
    if store is None:
        raise EditError(f"no warehouse {key!r}; known: {[item.name for item in base.warehouses.values()]}")
    return store.id


_ORDER_FIELDS = {"posted", "paid", "shipped", "cancelled", "deleted", "status", "responsible", "payments"}
_TEXTS = {"status", "responsible", "payments"}


def _pay(order: Order, raw: Any) -> None:
    """Record payments by their place among the order's payment documents."""
    if not order.payments:
        raise EditError("payments: this order has one payment; use paid")
    if not isinstance(raw, list) or not raw:
        raise EditError("payments: a list of {number, paid} is expected")
    for entry in raw:
        number = entry.get("number") if isinstance(entry, dict) else None
        paid = entry.get("paid") if isinstance(entry, dict) else None
        if not isinstance(number, int) or isinstance(number, bool) or not isinstance(paid, bool):
            raise EditError("payments: each is {number: 1.., paid: true or false}")
        if not 1 <= number <= len(order.payments):
            raise EditError(f"payments: the order has payments 1 to {len(order.payments)}, not {number}")
        order.payments[number - 1].paid = paid


def edit_order(base: Infobase, key: str, body: dict[str, Any], today: date) -> Order:
    """Apply {"posted", "paid", "shipped", "cancelled", "deleted": bool, "status": code,
    "responsible": a manager's name, "payments": [{"number": n, "paid": bool}]} to an order; `payments`
    records (or takes back) the n-th payment document of an order with several, 1-based."""
    order = base.find_order(key)
    if order is None:
        raise EditError(f"no order {key!r}", 404)
    unknown = set(body) - _ORDER_FIELDS
    if unknown:
        raise EditError(f"unknown fields: {sorted(unknown)}")
    for name in _ORDER_FIELDS - _TEXTS:
        if name in body and not isinstance(body[name], bool):
            raise EditError(f"{name}: true or false is expected")
    if "status" in body and (not isinstance(body["status"], str) or not body["status"].strip()):
        raise EditError("status: a status code such as N, P or F is expected")
    if "status" in body:
        _xml_text(body["status"], "status")
    stamp = today_text(today)
    if "payments" in body:
        _pay(order, body["payments"])
        if all(p.paid for p in order.payments) and not order.paid:
            body = {**body, "paid": True}  # the last payment recorded: the order is paid in full
        elif not all(p.paid for p in order.payments):
            order.paid = False
    if body.get("paid") and not order.paid:
        order.payment_number, order.payment_date = f"ПО-{order.onec_number[-6:]}", stamp
    if body.get("shipped") and not order.shipped:
        order.shipment_number, order.shipment_date = f"РТ-{order.onec_number[-6:]}", stamp
    for name in ("posted", "paid", "shipped", "cancelled", "deleted"):
        if name in body:
            setattr(order, name, body[name])
    if body.get("paid"):
        for payment in order.payments:
            payment.paid = True  # the order paid as a whole pays every payment document
    if "status" in body:
        order.status = body["status"].strip()
    if "responsible" in body:
        if not isinstance(body["responsible"], str):
            raise EditError("responsible: a manager's name is expected")
        _xml_text(body["responsible"], "responsible")
        order.responsible = body["responsible"].strip()
    order.rev = base.stamp()
    return order
