"""The `sale` REST methods the site offers: orders, basket items, payments, shipments, property values.

After the official REST reference (`api-reference/sale/…`): `list` takes `select`, `filter`, `order`,
`start` and answers `{"<entities>": [...]}` with `total` and `next`; `get` takes `id`; `update` takes `id`
and `fields` and answers the saved entity. A missing `id` or `fields` is error 100, an unknown object its
documented "does not exist" code, a required field left out error 0, all with HTTP 400.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

from obmen_sandbox.site.orders import STATUSES, Order, SalePayment
from obmen_sandbox.site.rest_shapes import (
    RestError,
    basket_json,
    listed,
    order_json,
    payment_json,
    properties_json,
    shipment_json,
)
from obmen_sandbox.site.state import SiteState

__all__ = ["METHODS", "Method", "amount", "fields_of", "flag", "order_of", "refuse_unknown", "text"]

Method = Callable[[SiteState, Mapping[str, Any]], dict[str, Any]]

_MISSING = {
    "order": (200540400001, "order does not exist"),
    "payment": (200640400001, "payment does not exist"),
    "shipment": (201140400001, "shipment does not exist"),
}


def _id(params: Mapping[str, Any]) -> int:
    raw = params.get("id")
    if raw is None or raw == "":
        raise RestError(100, "Parameter id is not specified")
    try:
        return int(raw)
    except (TypeError, ValueError):
        raise RestError(100, f"Parameter id is wrong: {raw!r}") from None


def fields_of(params: Mapping[str, Any]) -> Mapping[str, Any]:
    fields = params.get("fields")
    if not isinstance(fields, Mapping) or not fields:
        raise RestError(100, "Parameter fields is not specified or empty")
    return fields


def flag(fields: Mapping[str, Any], key: str) -> bool:
    value = fields[key]
    if value not in ("Y", "N"):
        raise RestError("BX_INVALID_VALUE", f"{key} must be Y or N, not {value!r}")
    return bool(value == "Y")


def text(fields: Mapping[str, Any], key: str) -> str:
    value = fields[key]
    if value is None:
        return ""
    if not isinstance(value, str | int | float) or isinstance(value, bool):
        raise RestError("BX_INVALID_VALUE", f"{key} must be a string")
    return str(value)


def refuse_unknown(fields: Mapping[str, Any], allowed: set[str]) -> None:
    unknown = sorted(set(fields) - allowed)
    if unknown:
        raise RestError(0, f"the sandbox does not model fields {unknown}")


def order_of(state: SiteState, order_id: int) -> Order:
    order = state.book.orders.get(order_id)
    if order is None:
        raise RestError(*_MISSING["order"])
    return order


def _by(state: SiteState, attr: str, ident: int, kind: str) -> Order:
    for order in state.book.orders.values():
        if ident and getattr(order, attr) == ident:
            return order
    raise RestError(*_MISSING[kind])


# -- orders -----------------------------------------------------------------------------------------


def order_list(state: SiteState, params: Mapping[str, Any]) -> dict[str, Any]:
    """`sale.order.list`."""
    book = state.book
    return listed([order_json(o, book) for o in book.orders.values()], params, "orders")


def order_get(state: SiteState, params: Mapping[str, Any]) -> dict[str, Any]:
    """`sale.order.get`: the order with its basket, payments, shipments and property values."""
    order = order_of(state, _id(params))
    whole = order_json(order, state.book) | {
        "basketItems": [basket_json(order, item) for item in order.items],
        "payments": [payment_json(order, p, state.book) for p in order.payments],
        "shipments": [shipment_json(order, state.book)] if order.shipment_id else [],
        "propertyValues": properties_json(order),
    }
    return {"result": {"order": whole}}


_ORDER_FIELDS = {"statusId", "canceled", "comments", "userDescription", "id1c", "reasonCanceled", "xmlId"}


def order_update(state: SiteState, params: Mapping[str, Any]) -> dict[str, Any]:
    """`sale.order.update`: status, cancellation, comments and the 1C id."""
    order = order_of(state, _id(params))
    fields = fields_of(params)
    refuse_unknown(fields, _ORDER_FIELDS)
    changes: dict[str, Any] = {}
    if "statusId" in fields:
        if fields["statusId"] not in STATUSES:
            raise RestError("BX_INVALID_VALUE", f"status {fields['statusId']!r} does not exist")
        changes["status"] = fields["statusId"]
    if "canceled" in fields:
        changes["cancelled"] = flag(fields, "canceled")
    if "comments" in fields:
        changes["comment"] = text(fields, "comments")
    if "userDescription" in fields:
        changes["customer_comment"] = text(fields, "userDescription")
    if "id1c" in fields:
        changes["number"] = text(fields, "id1c")
    if "xmlId" in fields:
        order.xml_id = text(fields, "xmlId")
    state.book.patch(order, changes, by="rest")
    return {"result": {"order": order_json(order, state.book)}}


# -- basket, property values --------------------------------------------------------------------------


def basket_list(state: SiteState, params: Mapping[str, Any]) -> dict[str, Any]:
    """`sale.basketitem.list`."""
    rows = [basket_json(o, item) for o in state.book.orders.values() for item in o.items]
    return listed(rows, params, "basketItems")


_BASKET_FIELDS = {"quantity", "price", "customPrice"}


def amount(fields: Mapping[str, Any], key: str, positive: bool = False) -> Decimal:
    try:
        value = Decimal(str(fields[key]))
    except InvalidOperation:
        raise RestError("BX_INVALID_VALUE", f"{key} must be a number") from None
    if not value.is_finite() or value < 0 or (positive and value == 0):
        raise RestError("BX_INVALID_VALUE", f"{key} must be a number above zero")
    return value


def basket_update(state: SiteState, params: Mapping[str, Any]) -> dict[str, Any]:
    """`sale.basketitem.update`: a line's quantity, and its price when `customPrice` is `Y`."""
    ident, fields = _id(params), fields_of(params)
    refuse_unknown(fields, _BASKET_FIELDS)
    order = next((o for o in state.book.orders.values() if any(i.id == ident for i in o.items)), None)
    if order is None:
        raise RestError(0, "basket item does not exist")
    changes: dict[str, Any] = {}
    if "quantity" in fields:
        changes["quantity"] = amount(fields, "quantity", positive=True)
    # Without a custom price the site prices the line from its catalog: the given price does not hold.
    if "price" in fields and "customPrice" in fields and flag(fields, "customPrice"):
        changes["price"] = amount(fields, "price")
    items = [dataclasses.replace(i, **changes) if i.id == ident else i for i in order.items]
    state.book.patch(order, {"items": items}, by="rest")
    saved = next(i for i in order.items if i.id == ident)
    return {"result": {"basketItem": basket_json(order, saved)}}


def property_list(state: SiteState, params: Mapping[str, Any]) -> dict[str, Any]:
    """`sale.propertyvalue.list`."""
    rows = [row for o in state.book.orders.values() for row in properties_json(o)]
    return listed(rows, params, "propertyValues")


# -- payments -----------------------------------------------------------------------------------------


def payment_list(state: SiteState, params: Mapping[str, Any]) -> dict[str, Any]:
    """`sale.payment.list`: every payment of every order, each its own row."""
    rows = [payment_json(o, p, state.book) for o in state.book.orders.values() for p in o.payments]
    return listed(rows, params, "payments")


def _payment(state: SiteState, payment_id: int) -> tuple[Order, SalePayment]:
    for order in state.book.orders.values():
        found = order.payment(payment_id)
        if found is not None:
            return order, found
    raise RestError(*_MISSING["payment"])


def payment_get(state: SiteState, params: Mapping[str, Any]) -> dict[str, Any]:
    """`sale.payment.get`."""
    order, payment = _payment(state, _id(params))
    return {"result": {"payment": payment_json(order, payment, state.book)}}


_PAYMENT_FIELDS = {"paySystemId", "paid", "datePaid", "payVoucherNum", "payVoucherDate", "comments", "sum"}


def payment_update(state: SiteState, params: Mapping[str, Any]) -> dict[str, Any]:
    """`sale.payment.update`: `paySystemId` is required; `paid` and the payment document's number of
    this one payment (the order is paid once its paid payments cover its sum)."""
    order, payment = _payment(state, _id(params))
    fields = fields_of(params)
    refuse_unknown(fields, _PAYMENT_FIELDS)
    if "paySystemId" not in fields:
        raise RestError(0, "Required fields: paySystemId")
    known = {str(pid): name for name, pid in state.book.pay_systems.items()}
    if str(fields["paySystemId"]) not in known:
        raise RestError("BX_INVALID_VALUE", f"payment system {fields['paySystemId']!r} does not exist")
    changes: dict[str, Any] = {}
    if known[str(fields["paySystemId"])] != payment.system:
        raise RestError(0, "the sandbox does not model changing a payment's payment system")
    # A payment keeps the sum it was placed with: a sum is accepted only as that.
    if "sum" in fields and amount(fields, "sum") != order.amount(payment):
        raise RestError(0, "the sandbox does not model changing a payment's sum")
    if "paid" in fields:
        changes["pay"] = {payment.id: flag(fields, "paid")}
    if "payVoucherNum" in fields:
        number = text(fields, "payVoucherNum")
        changes["vouchers"] = {payment.id: number}
        changes["payment_number"] = number
    state.book.patch(order, changes, by="rest")
    return {"result": {"payment": payment_json(order, payment, state.book)}}


# -- shipments ----------------------------------------------------------------------------------------


def shipment_list(state: SiteState, params: Mapping[str, Any]) -> dict[str, Any]:
    """`sale.shipment.list`."""
    rows = [shipment_json(o, state.book) for o in state.book.orders.values() if o.shipment_id]
    return listed(rows, params, "shipments")


def shipment_get(state: SiteState, params: Mapping[str, Any]) -> dict[str, Any]:
    """`sale.shipment.get`."""
    order = _by(state, "shipment_id", _id(params), "shipment")
    return {"result": {"shipment": shipment_json(order, state.book)}}


_SHIPMENT_FIELDS = {
    "allowDelivery",
    "deducted",
    "deliveryId",
    "deliveryDocNum",
    "deliveryDocDate",
    "comments",
}


def shipment_update(state: SiteState, params: Mapping[str, Any]) -> dict[str, Any]:
    """`sale.shipment.update`: `allowDelivery`, `deducted` and `deliveryId` are required."""
    order = _by(state, "shipment_id", _id(params), "shipment")
    fields = fields_of(params)
    refuse_unknown(fields, _SHIPMENT_FIELDS)
    missing = [k for k in ("allowDelivery", "deducted", "deliveryId") if k not in fields]
    if missing:
        raise RestError(0, f"Required fields: {', '.join(missing)}")
    if str(fields["deliveryId"]) != str(state.book.deliveries.get(order.delivery_service, 0)):
        raise RestError(0, "the sandbox does not model changing an order's delivery service")
    changes: dict[str, Any] = {
        "allow_delivery": flag(fields, "allowDelivery"),
        "shipped": flag(fields, "deducted"),
    }
    if "deliveryDocNum" in fields:
        changes["shipment_number"] = text(fields, "deliveryDocNum")
    state.book.patch(order, changes, by="rest")
    return {"result": {"shipment": shipment_json(order, state.book)}}


#: Method name → (scope, handler).
METHODS: dict[str, tuple[str, Method]] = {
    "sale.order.list": ("sale", order_list),
    "sale.order.get": ("sale", order_get),
    "sale.order.update": ("sale", order_update),
    "sale.basketitem.list": ("sale", basket_list),
    "sale.basketitem.update": ("sale", basket_update),
    "sale.propertyvalue.list": ("sale", property_list),
    "sale.payment.list": ("sale", payment_list),
    "sale.payment.get": ("sale", payment_get),
    "sale.payment.update": ("sale", payment_update),
    "sale.shipment.list": ("sale", shipment_list),
    "sale.shipment.get": ("sale", shipment_get),
    "sale.shipment.update": ("sale", shipment_update),
}
