"""A site order and its buyer as the REST shows them ⇄ canonical fields (docs/protocols/site-rest.md §6).

The same canonical order the CommerceML exchange reads (`commerceml/mapping.order_fields`), from the REST
entities: the order (`sale.order.list`), its basket items, payments and shipments. Ids are the exchange's
too, so a site can move from one mode to the other under the same links: an order is its `id` (the
document `Ид` of the exchange), a buyer is the site user's `userId` (the head of `USER_ID#LOGIN#NAME`),
a line's offer is its `productXmlId` (the `Ид` 1C gave it).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

from obmen.connectors.base import Fields
from obmen.errors import ProtocolError
from obmen.model import entities as canon
from obmen.model.base import EntityType, Money, Ref
from obmen.model.fields import to_fields
from obmen.model.normalize import normalize_email, normalize_name, normalize_phone
from obmen.model.totals import included

__all__ = ["Row", "counterparty_fields", "moment", "order_fields", "real_shipments"]

Row = Mapping[str, Any]


def moment(text: Any) -> datetime:
    """A REST date (`2024-02-28T17:36:55+03:00`)."""
    if not isinstance(text, str):
        raise ProtocolError(f"site REST: {text!r} is not a date")
    try:
        return datetime.fromisoformat(text)
    except ValueError as exc:
        raise ProtocolError(f"site REST: {text!r} is not a date") from exc


def wall_clock(text: Any) -> datetime:
    """A REST date as the site's wall clock, without its offset: the form CommerceML gives the same date in
    (`2024-02-28T17:36:55`), so an order reads the same in both modes and beside 1C's copy."""
    return moment(text).replace(tzinfo=None)


def _dec(value: Any) -> Decimal:
    if value is None or isinstance(value, bool):
        return Decimal(0)
    try:
        return Decimal(str(value))
    except ArithmeticError as exc:
        raise ProtocolError(f"site REST: {value!r} is not a number") from exc


def real_shipments(shipments: Sequence[Row]) -> list[Row]:
    """Shipments without the system one Bitrix keeps for what is not shipped yet (§3.4)."""
    return [s for s in shipments if s.get("system") != "Y"]


def _line(item: Row, currency: str) -> canon.OrderLine:
    quantity = _dec(item.get("quantity"))
    discount = _dec(item.get("discountPrice"))
    vat = item.get("vatRate")
    rate = _dec(vat) * 100 if vat not in (None, "") else None
    offer = str(item.get("productXmlId") or "")
    return canon.OrderLine(
        offer=Ref(EntityType.OFFER, offer) if offer else None,
        name=str(item.get("name") or ""),
        quantity=quantity,
        price=Money(_dec(item.get("price")), currency),
        # The exchange carries a line's discount as its sum (CommerceML `Скидки/Сумма`): the same here.
        discount=Money(discount * quantity, currency) if discount else None,
        # `vatRate` is a fraction (0.2); canonical rates are percent, as CommerceML's `Ставка` (20).
        vat_rate=rate,
        # `vatIncluded: N`: the price is net, VAT on top (site-rest.md §3.5).
        vat_included=included(rate, item.get("vatIncluded") != "N"),
    )


def _payment(payment: Row, currency: str) -> canon.Payment:
    paid_at = payment.get("datePaid")
    return canon.Payment(
        system=str(payment.get("paySystemName") or ""),
        amount=Money(_dec(payment.get("sum")), currency),
        paid=payment.get("paid") == "Y",
        paid_at=wall_clock(paid_at) if paid_at else None,
    )


def _numbers(order: Row, payments: Sequence[Row], shipments: Sequence[Row]) -> tuple[tuple[str, str], ...]:
    out = [("site", str(order.get("accountNumber") or ""))]
    if order.get("id1c"):
        out.append(("onec", str(order["id1c"])))
    voucher = next((str(p["payVoucherNum"]) for p in payments if p.get("payVoucherNum")), None)
    if voucher:
        out.append(("onec_payment", voucher))
    document = next((str(s["deliveryDocNum"]) for s in shipments if s.get("deliveryDocNum")), None)
    if document:
        out.append(("onec_shipment", document))
    return tuple((system, number) for system, number in out if number)


def order_fields(
    order: Row, basket: Sequence[Row], payments: Sequence[Row], shipments: Sequence[Row]
) -> Fields:
    """One order with its entities → canonical `Order` fields."""
    currency = str(order.get("currency") or "RUB")
    shipped = real_shipments(shipments)
    paid_delivery = next((s for s in shipped if _dec(s.get("priceDelivery")) > 0), None)
    # Like the exchange, which lists delivery as a service line only when it costs something (§6).
    delivery = (
        canon.Delivery(
            service=str(paid_delivery.get("deliveryName") or ""),
            price=Money(_dec(paid_delivery.get("priceDelivery")), currency),
        )
        if paid_delivery is not None
        else None
    )
    user = order.get("userId")
    entity = canon.Order(
        number=str(order.get("accountNumber") or order.get("id")),
        date=wall_clock(order.get("dateInsert")),
        status=str(order.get("statusId") or ""),
        customer=Ref(EntityType.COUNTERPARTY, str(user)) if user else None,
        site=str(order["lid"]) if order.get("lid") else None,
        lines=tuple(_line(item, currency) for item in basket),
        delivery=delivery,
        payments=tuple(_payment(p, currency) for p in payments),
        total=Money(_dec(order.get("price")), currency),
        comment=str(order.get("userDescription") or order.get("comments") or "") or None,
        external_numbers=_numbers(order, payments, shipped),
        cancelled=order.get("canceled") == "Y",
    )
    fields = to_fields(entity)
    fields.pop("responsible", None)
    return fields


def counterparty_fields(properties: Sequence[Row]) -> Fields:
    """The buyer from an order's property values, by the exchange's rule for an organisation (§6)."""
    values = {str(p.get("code") or "").upper(): str(p.get("value") or "").strip() for p in properties}
    company, inn, kpp = values.get("COMPANY", ""), values.get("INN", ""), values.get("KPP", "")
    person = values.get("FIO") or values.get("NAME") or values.get("CONTACT_PERSON") or ""
    phone = normalize_phone(values.get("PHONE", ""))
    email = normalize_email(values.get("EMAIL", ""))
    requisites = canon.Requisites(inn=inn or None, kpp=kpp or None) if inn or kpp else None
    entity = canon.Counterparty(
        kind="organization" if company or kpp or len(inn) == 10 else "person",
        name=normalize_name(company or person),
        phones=(phone,) if phone else (),
        emails=(email,) if email else (),
        requisites=requisites,
        address=values.get("ADDRESS") or None,
    )
    fields = to_fields(entity)
    fields.pop("comment", None)
    return fields
