"""The `sale` REST methods that make an order piece by piece, as an integrator makes one by REST.

After the official REST reference (`api-reference/sale/order/sale-order-add.md`,
`basket-item/sale-basket-item-add.md`, `payment/sale-payment-add.md`, `shipment/sale-shipment-add.md`):
`sale.order.add` takes `lid`, `personTypeId` and `currency` (required) with the buyer's `userId`, and the
site numbers the order itself (`accountNumber`); `sale.basketitem.add` adds one line (`orderId`,
`productId`, `currency`, `quantity` and, for a product the site's catalog does not give, `name`);
`sale.payment.add` (`orderId`, `paySystemId`) and `sale.shipment.add` (`orderId`, `allowDelivery`,
`deducted`, `deliveryId`) add the order's payment and shipment. Each answers the saved entity and raises
the sale events like any other save. Errors are the documented ones: 100 for missing `fields`, 0 for
required fields left out, the basket's own codes (`200140400007` bad product, `200140400008` no order id,
`200140400009` no such order, `200140400011` another currency), `SALE_SHIPMENT_WRONG_DELIVERY_SERVICE`.

The sandbox keeps one shipment per order, as its storefront does: a second is refused (error 0); an order
may hold several payments, at most one of them without a `sum` (the rest of the order). Its catalog has no
numeric product ids, so a line takes `productId` 0 with the fields filled in (the reference's "product that
is not on the site").
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from obmen_sandbox.site.orders import STATUSES, Item, Order, SalePayment
from obmen_sandbox.site.rest_sale import (
    METHODS as SALE_METHODS,
)
from obmen_sandbox.site.rest_sale import (
    Method,
    amount,
    fields_of,
    flag,
    order_of,
    refuse_unknown,
    text,
)
from obmen_sandbox.site.rest_shapes import RestError, basket_json, order_json, payment_json, shipment_json
from obmen_sandbox.site.state import SiteState

__all__ = ["METHODS"]

#: The person types of a default site: 1 an individual, 2 a company.
PERSON_TYPES = {1, 2}
_ORDER_ADD = {
    "lid",
    "personTypeId",
    "currency",
    "userId",
    "statusId",
    "comments",
    "userDescription",
    "xmlId",
    "id1c",
    "canceled",
}
_BASKET_ADD = {
    "orderId",
    "productId",
    "currency",
    "quantity",
    "name",
    "price",
    "basePrice",
    "discountPrice",
    "customPrice",
    "productXmlId",
    "vatRate",
    "vatIncluded",
    "xmlId",
    "sort",
}
_PAYMENT_ADD = {"orderId", "paySystemId", "sum", "paid", "datePaid", "payVoucherNum", "xmlId", "comments"}
_SHIPMENT_ADD = {
    "orderId",
    "allowDelivery",
    "deducted",
    "deliveryId",
    "basePriceDelivery",
    "deliveryDocNum",
    "xmlId",
    "comments",
}


def _required(fields: Mapping[str, Any], names: tuple[str, ...]) -> None:
    missing = [n for n in names if fields.get(n) in (None, "")]
    if missing:
        raise RestError(0, f"Required fields: {', '.join(missing)}")


def _int(fields: Mapping[str, Any], key: str) -> int:
    try:
        return int(str(fields[key]))
    except ValueError:
        raise RestError("BX_INVALID_VALUE", f"{key} must be an integer") from None


def order_add(state: SiteState, params: Mapping[str, Any]) -> dict[str, Any]:
    """`sale.order.add`: an empty order for a site user, numbered by the site."""
    fields = fields_of(params)
    refuse_unknown(fields, _ORDER_ADD)
    _required(fields, ("lid", "personTypeId", "currency"))
    if text(fields, "lid") != "s1":
        raise RestError("BX_INVALID_VALUE", f"site {fields['lid']!r} does not exist")
    if _int(fields, "personTypeId") not in PERSON_TYPES:
        raise RestError("BX_INVALID_VALUE", f"person type {fields['personTypeId']!r} does not exist")
    if text(fields, "currency") != "RUB":
        raise RestError("BX_INVALID_VALUE", f"currency {fields['currency']!r} is not the site's")
    buyer = state.book.people.get(_int(fields, "userId")) if fields.get("userId") else None
    if buyer is None:
        raise RestError(0, f"user {fields.get('userId')!r} does not exist")
    status = text(fields, "statusId") if fields.get("statusId") else "N"
    if status not in STATUSES:
        raise RestError("BX_INVALID_VALUE", f"status {status!r} does not exist")
    book, now = state.book, state.book.clock()
    oid = max(book.orders, default=0) + 1
    order = Order(oid, str(oid), now, buyer, [], "", Decimal(0), [], status=status, status_at=now)
    order.comment = text(fields, "comments") if "comments" in fields else ""
    order.customer_comment = text(fields, "userDescription") if "userDescription" in fields else ""
    order.cancelled = flag(fields, "canceled") if "canceled" in fields else False
    order.xml_id = text(fields, "xmlId") if fields.get("xmlId") else f"bx_{oid:013x}"
    if fields.get("id1c"):
        order.onec["number"] = text(fields, "id1c")
    book.orders[oid] = order
    book.saved(order, frozenset({"order"}))
    return {"result": {"order": order_json(order, book)}}


def _owner(state: SiteState, fields: Mapping[str, Any], missing: tuple[int | str, str]) -> Order:
    if fields.get("orderId") in (None, ""):
        raise RestError(*missing)
    return order_of(state, _int(fields, "orderId"))


def basket_add(state: SiteState, params: Mapping[str, Any]) -> dict[str, Any]:
    """`sale.basketitem.add`: one line; without a catalog product its fields are given (`productId` 0)."""
    fields = fields_of(params)
    refuse_unknown(fields, _BASKET_ADD)
    if fields.get("orderId") in (None, ""):
        raise RestError(200140400008, "Required fields: fields[ORDER_ID]")
    order = state.book.orders.get(_int(fields, "orderId"))
    if order is None:
        raise RestError(200140400009, "Order not found")
    _required(fields, ("productId", "currency", "quantity"))
    if fields.get("currency") != "RUB":
        raise RestError(200140400011, "Currency must be the currency of the order")
    if _int(fields, "productId") != 0:
        # The sandbox's catalog gives no numeric product ids: any other is an unknown product.
        raise RestError(200140400007, "basket item is not saved - bad data")
    _required(fields, ("name",))
    if fields.get("customPrice") != "Y":
        raise RestError(0, "a line without a catalog product needs customPrice = Y and its price")
    _required(fields, ("price",))
    price = amount(fields, "price")
    discount = amount(fields, "discountPrice") if "discountPrice" in fields else Decimal(0)
    if "basePrice" in fields and amount(fields, "basePrice") != price + discount:
        raise RestError("BX_INVALID_VALUE", "basePrice must be price + discountPrice")
    # `vatRate` is a fraction (0.2); the basket keeps percent, and `vatIncluded` N adds the VAT on top.
    vat = amount(fields, "vatRate") * 100 if fields.get("vatRate") not in (None, "") else None
    if fields.get("vatIncluded", "Y") not in ("Y", "N"):
        raise RestError("BX_INVALID_VALUE", "vatIncluded must be Y or N")
    item = Item(
        text(fields, "productXmlId") if "productXmlId" in fields else "",
        text(fields, "name"),
        amount(fields, "quantity", positive=True),
        price,
        discount,
        id=state.book.next_id("basket"),
        vat_rate=vat,
        vat_included=fields.get("vatIncluded", "Y") == "Y",
    )
    order.items.append(item)
    state.book.saved(order, frozenset({"order"}))
    return {"result": {"basketItem": basket_json(order, item)}, "total": 1}


def payment_add(state: SiteState, params: Mapping[str, Any]) -> dict[str, Any]:
    """`sale.payment.add`: the order's payment, for its whole sum."""
    fields = fields_of(params)
    refuse_unknown(fields, _PAYMENT_ADD)
    _required(fields, ("orderId", "paySystemId"))
    order = _owner(state, fields, (0, "Required fields: orderId"))
    systems = {pid: name for name, pid in state.book.pay_systems.items()}
    system = systems.get(_int(fields, "paySystemId"))
    if system is None:
        raise RestError("BX_INVALID_VALUE", f"payment system {fields['paySystemId']!r} does not exist")
    # A payment without `sum` is for the rest of the order (the sum its other payments leave).
    payment = SalePayment(
        state.book.next_id("payment"), system, amount(fields, "sum") if "sum" in fields else None
    )
    if sum(1 for p in [*order.payments, payment] if p.sum is None) > 1:
        raise RestError(0, "the sandbox models at most one payment for the rest of the order (give sum)")
    if "paid" in fields and flag(fields, "paid"):
        payment.paid, payment.paid_at = True, state.book.clock()
    if fields.get("payVoucherNum"):
        payment.voucher = text(fields, "payVoucherNum")
        order.onec["payment_number"] = payment.voucher
    order.payments.append(payment)
    state.book.saved(order, frozenset({"order", "payment"}))
    return {"result": {"payment": payment_json(order, payment, state.book)}}


def shipment_add(state: SiteState, params: Mapping[str, Any]) -> dict[str, Any]:
    """`sale.shipment.add`: the order's shipment by a delivery service, at a given price or free."""
    fields = fields_of(params)
    refuse_unknown(fields, _SHIPMENT_ADD)
    _required(fields, ("orderId", "allowDelivery", "deducted", "deliveryId"))
    order = _owner(state, fields, (0, "Order not found"))
    services = {did: name for name, did in state.book.deliveries.items()}
    service = services.get(_int(fields, "deliveryId"))
    if service is None:
        raise RestError("SALE_SHIPMENT_WRONG_DELIVERY_SERVICE", "Delivery service not found")
    if order.shipment_id:
        raise RestError(0, "the sandbox models one shipment per order")
    allow, shipped = flag(fields, "allowDelivery"), flag(fields, "deducted")
    order.delivery_service, order.shipment_id = service, state.book.next_id("shipment")
    # The reference: a given base price is the delivery's price; otherwise the service computes it (the
    # sandbox's services are free).
    given = "basePriceDelivery" in fields
    order.delivery_price = amount(fields, "basePriceDelivery") if given else Decimal(0)
    now = state.book.clock()
    order.allow_delivery, order.allow_delivery_at = allow, now if allow else None
    order.shipped = shipped
    if fields.get("deliveryDocNum"):
        order.onec["shipment_number"] = text(fields, "deliveryDocNum")
    state.book.saved(order, frozenset({"order", "shipment"}))
    return {"result": {"shipment": shipment_json(order, state.book)}}


_ADDS: dict[str, Method] = {
    "sale.order.add": order_add,
    "sale.basketitem.add": basket_add,
    "sale.payment.add": payment_add,
    "sale.shipment.add": shipment_add,
}
#: Every `sale` method the site serves: name → (scope, handler).
METHODS: dict[str, tuple[str, Method]] = SALE_METHODS | {name: ("sale", m) for name, m in _ADDS.items()}
