"""The site's sale entities as its REST shows them, and the list methods' filter, order and paging.

Shapes after the official REST reference (`sale.order.get`, `sale.order.list`, `sale.basketitem.list`,
`sale.payment.update`, `sale.shipment.update` answers): camelCase keys, `Y`/`N` flags, ISO 8601 dates with
the server's offset, numbers as JSON numbers. A list answers at most 50 rows a page; `start` is the offset;
`next` is given while more rows follow and `total` counts them all. Filter keys take the documented
prefixes `>=`, `>`, `<=`, `<`, `@` (IN), `!@`, `=`, `!=`, `!`.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

from obmen_sandbox.site.orders import Item, Order, OrderBook, SalePayment

__all__ = [
    "PAGE",
    "RestError",
    "basket_json",
    "iso",
    "listed",
    "order_json",
    "payment_json",
    "properties_json",
    "shipment_json",
]

#: Rows per list page; fixed, as the reference says.
PAGE = 50
_PREFIX = re.compile(r"^(>=|<=|!@|!=|>|<|@|=|!)?(.+)$")
_DATE_FIELDS = {"dateInsert", "dateUpdate", "dateStatus", "datePaid", "dateAllowDelivery", "dateDeducted"}
#: Order properties of the default person types (individual 1, company 2): code → (id, name).
PROPERTIES = {
    "FIO": (1, "Ф.И.О."),
    "EMAIL": (2, "E-Mail"),
    "PHONE": (3, "Телефон"),
    "COMPANY": (4, "Название компании"),
    "INN": (5, "ИНН"),
}


class RestError(Exception):
    """An error answer: `{"error": code, "error_description": text}` with its HTTP status."""

    def __init__(self, code: int | str, description: str, status: int = 400) -> None:
        super().__init__(description)
        self.code, self.description, self.status = code, description, status


def iso(moment: datetime | None) -> str | None:
    """ISO 8601 with the server's offset, to the second (`2024-02-28T17:36:55+03:00`)."""
    return moment.astimezone().isoformat(timespec="seconds") if moment is not None else None


def _yn(flag: bool) -> str:
    return "Y" if flag else "N"


def _num(value: Decimal) -> int | float:
    return int(value) if value == value.to_integral_value() else float(value)


def order_json(order: Order, book: OrderBook) -> dict[str, Any]:
    """A `sale_order` as `sale.order.list` gives it (without its entities)."""
    company = bool(order.customer.company)
    return {
        "id": order.id,
        "accountNumber": order.number,
        "lid": "s1",
        "personTypeId": 2 if company else 1,
        "statusId": order.status,
        "dateStatus": iso(order.status_at),
        "dateInsert": iso(order.created),
        "dateUpdate": iso(order.updated_at),
        "canceled": _yn(order.cancelled),
        "payed": _yn(order.paid),
        "deducted": _yn(order.shipped),
        "price": _num(order.total),
        "currency": "RUB",
        "discountValue": 0,
        "userId": order.customer.user_id,
        "userDescription": order.customer_comment,
        "comments": order.comment,
        "responsibleId": None,
        "xmlId": order.xml_id,
        "id1c": order.onec.get("number", ""),
        "version1c": "",
        "updated1c": _yn(order.updated_by == "1c"),
        "externalOrder": _yn(order.external),
        "marked": "N",
        "version": order.version,
    }


def basket_json(order: Order, item: Item) -> dict[str, Any]:
    """A `sale_basket_item`."""
    return {
        "id": item.id,
        "orderId": order.id,
        "productId": 0,
        "productXmlId": item.offer,
        "catalogXmlId": "",
        "name": item.name,
        "quantity": _num(item.quantity),
        "price": _num(item.price),
        "basePrice": _num(item.price + item.discount),
        "discountPrice": _num(item.discount),
        "currency": "RUB",
        # `vatRate` is a fraction (0.2 for 20 %), `vatIncluded` whether `price` holds it (§3.5).
        "vatRate": None if item.vat_rate is None else _num(item.vat_rate / 100),
        "vatIncluded": "Y" if item.vat_included else "N",
        "measureCode": "796",
        "measureName": "шт",
        "dateInsert": iso(order.created),
        "dateUpdate": iso(order.updated_at),
    }


def payment_json(order: Order, payment: SalePayment, book: OrderBook) -> dict[str, Any]:
    """One `sale_order_payment` of the order: its own sum, flag and date (an order may hold several)."""
    index = order.payments.index(payment) + 1
    # 1C's `Номер оплаты по 1С` speaks of the order (§2.7): the first payment shows it unless it has its own.
    voucher = payment.voucher or (order.onec.get("payment_number", "") if index == 1 else "")
    return {
        "id": payment.id,
        "orderId": order.id,
        "accountNumber": f"{order.number}/{index}",
        "paid": _yn(payment.paid),
        "datePaid": iso(payment.paid_at),
        "paySystemId": book.pay_systems.get(payment.system, 0),
        "paySystemName": payment.system,
        "sum": _num(order.amount(payment)),
        "currency": "RUB",
        "payVoucherNum": voucher,
        "id1c": "",
        "isReturn": "N",
        "marked": "N",
        "xmlId": f"{order.xml_id}_p" if index == 1 else f"{order.xml_id}_p{index}",
    }


def shipment_json(order: Order, book: OrderBook) -> dict[str, Any]:
    """The order's one non-system `sale_order_shipment` with its items."""
    return {
        "id": order.shipment_id,
        "orderId": order.id,
        "accountNumber": f"{order.number}/2",
        "deliveryId": book.deliveries.get(order.delivery_service, 0),
        "deliveryName": order.delivery_service,
        "priceDelivery": _num(order.delivery_price),
        "basePriceDelivery": _num(order.delivery_price),
        "currency": "RUB",
        "allowDelivery": _yn(order.allow_delivery),
        "dateAllowDelivery": iso(order.allow_delivery_at),
        "deducted": _yn(order.shipped),
        "dateDeducted": None,
        "canceled": "N",
        "statusId": "DF" if order.shipped else "DN",
        "system": "N",
        "deliveryDocNum": order.onec.get("shipment_number", ""),
        "trackingNumber": "",
        "marked": "N",
        "xmlId": f"{order.xml_id}_s",
        "shipmentItems": [
            {"basketId": item.id, "orderDeliveryId": order.shipment_id, "quantity": _num(item.quantity)}
            for item in order.items
        ],
    }


def properties_json(order: Order) -> list[dict[str, Any]]:
    """The order's property values (the buyer's name, e-mail, phone, and a company's name and ИНН)."""
    c = order.customer
    values = {"FIO": c.name, "EMAIL": c.email, "PHONE": c.phone}
    if c.company:
        values |= {"COMPANY": c.company, "INN": c.inn}
    out = []
    for code, value in values.items():
        prop_id, name = PROPERTIES[code]
        out.append(
            {
                "id": order.id * 10 + prop_id,
                "orderId": order.id,
                "orderPropsId": prop_id,
                "code": code,
                "name": name,
                "value": value,
            }
        )
    return out


# -- list methods -----------------------------------------------------------------------------------


def _moment(text: Any) -> datetime:
    if not isinstance(text, str):
        raise RestError(0, f"wrong date value {text!r}")
    for parse in (datetime.fromisoformat, lambda t: datetime.strptime(t, "%d.%m.%Y %H:%M:%S")):
        try:
            moment: datetime = parse(text)
        except ValueError:
            continue
        # A date without an offset is the server's local time, as PHP reads it.
        return moment.astimezone()
    raise RestError(0, f"wrong date value {text!r}")


def _comparable(name: str, value: Any) -> Any:
    if value is None:
        return None
    if name in _DATE_FIELDS:
        # Dates compare to the second, as the database keeps them.
        return _moment(value).replace(microsecond=0)
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        return Decimal(str(value))
    if isinstance(value, str) and re.fullmatch(r"-?\d+(\.\d+)?", value):
        return Decimal(value)
    return str(value)


def _match(row: Mapping[str, Any], key: str, wanted: Any) -> bool:
    found = _PREFIX.match(key)
    if found is None:
        raise RestError(0, f"wrong filter key {key!r}")
    op, name = found.group(1) or "=", found.group(2)
    if name not in row:
        raise RestError(0, f"unknown filter field {name!r}")
    have = _comparable(name, row[name])
    if op in ("@", "!@"):
        if not isinstance(wanted, list):
            raise RestError(0, f"filter {key!r} takes an array")
        inside = have in {_comparable(name, w) for w in wanted}
        return inside if op == "@" else not inside
    value = _comparable(name, wanted)
    if op in ("=", "!=", "!"):
        return bool(have == value) if op == "=" else bool(have != value)
    if have is None or value is None:
        return False
    try:
        return bool({">": have > value, ">=": have >= value, "<": have < value, "<=": have <= value}[op])
    except TypeError:
        raise RestError(0, f"filter {key!r} compares unlike values") from None


def _sort_key(row: Mapping[str, Any], *, name: str) -> tuple[int, Any]:
    value = _comparable(name, row.get(name))
    return (0, "") if value is None else (1, value)


def listed(
    rows: Sequence[dict[str, Any]],
    params: Mapping[str, Any],
    key: str,
    *,
    extra: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """One page of `rows` under `filter`, `order`, `select` and `start`: the list envelope's members."""
    flt = params.get("filter") or {}
    if not isinstance(flt, Mapping):
        raise RestError(0, "filter must be an object")
    chosen = [row for row in rows if all(_match(row, k, v) for k, v in flt.items())]
    order = params.get("order") or {"id": "asc"}
    if not isinstance(order, Mapping):
        raise RestError(0, "order must be an object")
    for name, direction in reversed(list(order.items())):
        if str(direction).lower() not in ("asc", "desc"):
            raise RestError(0, f"wrong sort direction {direction!r}")
        chosen.sort(key=functools.partial(_sort_key, name=name), reverse=str(direction).lower() == "desc")
    try:
        start = max(int(params.get("start") or 0), 0)
    except (TypeError, ValueError):
        raise RestError(0, "start must be an integer") from None
    page = chosen[start : start + PAGE]
    select = params.get("select") or []
    if not isinstance(select, list):
        raise RestError(0, "select must be an array")
    out = [extra(row) if extra else row for row in page]
    if select:
        out = [{k: v for k, v in row.items() if k in select} for row in out]
    body: dict[str, Any] = {"result": {key: out}, "total": len(chosen)}
    if start + PAGE < len(chosen):
        body["next"] = start + PAGE
    return body
