"""Canonical field maps → codec items, for what obmen writes: the catalog it pushes to a site as 1C
would (issue 4 §3), orders it hands to 1C as a site would (§2.6) and 1C's documents for a site (§2.7).

Field maps come with references already in the target's id space (`{"$ref", "id": <Ид>}`), so a
rebuilt entity's `Ref.id` is the `Ид` to write.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from obmen.connectors.commerceml.items import (
    Address,
    Counterparty,
    Discount,
    Document,
    DocumentLine,
    Group,
    Offer,
    OfferPrice,
    PriceType,
    Product,
    StockEntry,
    Tax,
    Warehouse,
)
from obmen.connectors.commerceml.mapping import DELIVERY_LINE, TOTAL_STOCK
from obmen.connectors.commerceml.names import MANAGER, PROPERTY
from obmen.model import entities as canon
from obmen.model.base import EntityType
from obmen.model.fields import from_fields
from obmen.model.payments import is_cash
from obmen.model.totals import KOPECK, included, line_amount, vat_on_top

__all__ = [
    "group_from_fields",
    "offer_from_fields",
    "order_document",
    "payment_documents",
    "price_type_from_fields",
    "product_from_fields",
    "property_id",
    "warehouse_from_fields",
]

Fields = Mapping[str, Any]
_PROPERTIES = uuid.UUID("6f1f4d0e-6d1c-4c55-9a53-0b6d3f0c1a11")


def property_id(name: str) -> str:
    """A stable `Ид` for a property known only by its name (canonical products keep names, not ids)."""
    return str(uuid.uuid5(_PROPERTIES, name))


def group_from_fields(external_id: str, fields: Fields) -> Group:
    """`Category` → `Группа`."""
    entity: canon.Category = from_fields(EntityType.CATEGORY, fields)
    parent = entity.parent.id if entity.parent else None
    return Group(id=external_id, name=entity.name, parent_id=parent, deleted=not entity.active)


def price_type_from_fields(external_id: str, fields: Fields) -> PriceType:
    """`PriceType` → `ТипЦены`."""
    entity: canon.PriceType = from_fields(EntityType.PRICE_TYPE, fields)
    return PriceType(id=external_id, name=entity.name, currency=entity.currency)


def warehouse_from_fields(external_id: str, fields: Fields) -> Warehouse:
    """`Warehouse` → `Склад`."""
    entity: canon.Warehouse = from_fields(EntityType.WAREHOUSE, fields)
    return Warehouse(id=external_id, name=entity.name)


def product_from_fields(external_id: str, fields: Fields) -> Product:
    """`Product` → `Товар`; property values are written as text under `property_id(name)`."""
    entity: canon.Product = from_fields(EntityType.PRODUCT, fields)
    taxes = (Tax(name="НДС", rate=entity.vat_rate),) if entity.vat_rate is not None else ()
    return Product(
        id=external_id,
        name=entity.name,
        article=entity.article,
        barcode=entity.barcode,
        unit=entity.unit,
        group_ids=tuple(ref.id for ref in entity.categories),
        description=entity.description,
        images=entity.images,
        properties=tuple((property_id(name), value) for name, value in entity.properties),
        taxes=taxes,
        deleted=not entity.active,
    )


def offer_from_fields(external_id: str, fields: Fields) -> Offer:
    """`Offer` → `Предложение`; `Ид` before `#` must be the product's `Ид` (§2.4)."""
    entity: canon.Offer = from_fields(EntityType.OFFER, fields)
    product_id, _, characteristic = external_id.partition("#")
    total = [s.quantity for s in entity.stock if s.warehouse.id == TOTAL_STOCK]
    per_warehouse = tuple(
        StockEntry(warehouse_id=s.warehouse.id, quantity=s.quantity)
        for s in entity.stock
        if s.warehouse.id != TOTAL_STOCK
    )
    quantity = (
        total[0]
        if total
        else (sum((s.quantity for s in per_warehouse), Decimal(0)) if per_warehouse else None)
    )
    return Offer(
        id=external_id,
        product_id=product_id,
        characteristic_id=characteristic or None,
        name=entity.name,
        article=entity.article,
        barcode=entity.barcode,
        characteristics=entity.characteristics,
        prices=tuple(
            OfferPrice(price_type_id=p.price_type.id, value=p.value.amount, currency=p.value.currency)
            for p in entity.prices
        ),
        quantity=quantity,
        stock=per_warehouse,
        deleted=not entity.active,
    )


def _customer(customer_id: str, fields: Fields | None) -> Counterparty:
    if fields is None:
        return Counterparty(id=customer_id, role="Покупатель")
    party: canon.Counterparty = from_fields(EntityType.COUNTERPARTY, fields)
    contacts = tuple(("Почта", e) for e in party.emails) + tuple(("ТелефонРабочий", p) for p in party.phones)
    req = party.requisites
    organization = party.kind == "organization"
    return Counterparty(
        id=customer_id,
        name=party.name,
        role="Покупатель",
        full_name=party.name,
        official_name=party.name if organization else None,
        inn=req.inn if req else None,
        kpp=req.kpp if req else None,
        address=Address(text=party.address) if party.address else Address(),
        legal_address=Address(text=req.legal_address) if req and req.legal_address else None,
        contacts=contacts,
    )


def _goods_line(line: canon.OrderLine) -> DocumentLine:
    # The price is what the buyer pays per unit and the discount the line's, already taken
    # (model.entities.OrderLine; `УчтеноВСумме`): the line sums to price × quantity, to the kopeck.
    # VAT on top is the line's `Налог` with `УчтеноВСумме` false and its sum; the line's `Сумма` is what
    # the buyer pays for it, the VAT included (§2.6, model/totals.py).
    discount = line.discount.amount if line.discount else Decimal(0)
    on_top = not included(line.vat_rate, line.vat_included)
    vat = vat_on_top(line.price.amount, line.quantity, line.vat_rate) if on_top else None
    amount = line_amount(line.price.amount, line.quantity, line.vat_rate, line.vat_included)
    total = amount.quantize(KOPECK, ROUND_HALF_UP)
    return DocumentLine(
        id=line.offer.id if line.offer else "",
        name=line.name,
        quantity=line.quantity,
        price=line.price.amount,
        total=total,
        unit="шт",
        unit_code="796",
        discounts=(Discount(name="Скидка", amount=discount, included=True),) if line.discount else (),
        taxes=(Tax(name="НДС", rate=line.vat_rate, amount=vat, included=not on_top),)
        if line.vat_rate is not None
        else (),
        requisites=(("ВидНоменклатуры", "Товар"), ("ТипНоменклатуры", "Товар")),
    )


def _delivery_line(delivery: canon.Delivery, name: str) -> DocumentLine:
    """The delivery as Bitrix writes it: a service line `ORDER_DELIVERY` (§2.6)."""
    return DocumentLine(
        id=DELIVERY_LINE,
        name=name,
        quantity=Decimal(1),
        price=delivery.price.amount,
        total=delivery.price.amount,
        unit="шт",
        unit_code="796",
        requisites=(("ВидНоменклатуры", "Услуга"), ("ТипНоменклатуры", "Услуга")),
    )


def _flag(value: bool) -> str:
    return "true" if value else "false"


def _site_requisites(order: canon.Order) -> tuple[tuple[str, str], ...]:
    """The requisites a Bitrix site attaches to an exported order (BX16 sale export lang, §2.6)."""
    payment = order.payments[0] if order.payments else None
    out: list[tuple[str, str]] = []
    if order.delivery is not None:
        out.append(("Способ доставки", order.delivery.service))
    if payment is not None:
        out.append(("Метод оплаты", payment.system))
    out += [
        ("Заказ оплачен", _flag(bool(order.payments) and all(p.paid for p in order.payments))),
        ("Доставка разрешена", "false"),
        ("Отменен", _flag(order.cancelled)),
        ("Финальный статус", "false"),
        ("Статус заказа", order.status),
        ("Статуса заказа ИД", order.status),
    ]
    if payment is not None and payment.paid_at is not None:
        out.append(("Дата оплаты", payment.paid_at.date().isoformat()))
    if order.comment:
        out.append(("Комментарии покупателя", order.comment))
    if order.site:
        out.append(("Сайт", order.site))
    return tuple(out)


def _onec_requisites(order: canon.Order) -> tuple[tuple[str, str], ...]:
    """The requisites 1C sends back to a site with its documents (§2.7)."""
    numbers = dict(order.external_numbers)
    out: list[tuple[str, str]] = []
    if "onec" in numbers:
        out += [("Номер по 1С", numbers["onec"]), ("Дата по 1С", order.date.date().isoformat())]
    out += [
        ("ПометкаУдаления", "false"),
        ("Проведен", _flag(not order.cancelled)),
        ("Отменен", _flag(order.cancelled)),
    ]
    if order.status:
        out.append(("Статус заказа", order.status))
    paid = [p for p in order.payments if p.paid]
    # The site's loader pays the whole order on `Оплачен` (§2.7): only an order paid in full says it.
    if paid and len(paid) == len(order.payments):
        when = max((p.paid_at for p in paid if p.paid_at), default=order.date)
        out.append(("Оплачен", "true"))
        out.append(("Дата оплаты по 1С", when.date().isoformat()))
        if "onec_payment" in numbers:
            out.append(("Номер оплаты по 1С", numbers["onec_payment"]))
    if "onec_shipment" in numbers:
        out += [("Отгружен", "true"), ("Номер отгрузки по 1С", numbers["onec_shipment"])]
    return tuple(out)


def order_document(
    external_id: str,
    fields: Fields,
    *,
    customer_id: str | None,
    customer: Fields | None = None,
    to: str = "onec",
) -> Document:
    """`Order` → `Документ` as a site sends it to 1C (`to="onec"`) or as 1C sends it to a site (`"site"`)."""
    if to not in ("onec", "site"):
        raise ValueError(f"`to` is 'onec' or 'site', not {to!r}")
    order: canon.Order = from_fields(EntityType.ORDER, fields)
    currency = order.total.currency if order.total else "RUB"
    lines = tuple(_goods_line(line) for line in order.lines)
    if order.delivery is not None:
        # The line is named after the service both ways (Bitrix itself writes "Доставка заказа" and the
        # service in `Способ доставки`): 1C sends its documents back without that requisite, so the line's
        # name is all that names the service on the way back, and a generic one would replace it.
        lines += (_delivery_line(order.delivery, order.delivery.service),)
    total = (
        order.total.amount if order.total else sum((line.total or Decimal(0) for line in lines), Decimal(0))
    )
    number = dict(order.external_numbers).get("site", order.number)
    return Document(
        id=external_id,
        number=number,
        date=order.date.date().isoformat(),
        time=order.date.time().replace(microsecond=0).isoformat(),
        currency=currency,
        total=total,
        comment=order.comment,
        counterparties=(_customer(customer_id, customer),) if customer_id else (),
        lines=lines,
        requisites=(_site_requisites(order) if to == "onec" else _onec_requisites(order))
        + _property_requisites(fields),
    )


def payment_documents(external_id: str, fields: Fields) -> tuple[Document, ...]:
    """An order's payments, when it has several, as the payment documents a site exports after the order
    (`ХозОперация` «Выплата…», `Основание` = the order's number, §1.11, §2.7); none for one payment."""
    order: canon.Order = from_fields(EntityType.ORDER, fields)
    if len(order.payments) < 2:
        return ()
    number = dict(order.external_numbers).get("site", order.number)
    out = []
    for index, payment in enumerate(order.payments, 1):
        cash = is_cash({"system": payment.system})
        requisites = [("Метод оплаты", payment.system), ("Оплачен", _flag(payment.paid))]
        if payment.paid_at is not None:
            requisites.append(("Дата оплаты", payment.paid_at.date().isoformat()))
        out.append(
            Document(
                id=f"{external_id}#{index}",
                number=f"{number}/{index}",
                date=order.date.date().isoformat(),
                operation="Выплата наличных денег" if cash else "Выплата безналичных денег",
                currency=payment.amount.currency,
                total=payment.amount.amount,
                basis=number,
                requisites=tuple(requisites),
            )
        )
    return tuple(out)


def _property_requisites(fields: Fields) -> tuple[tuple[str, str], ...]:
    """The order's properties as `property:<code>` requisites and its manager, renamed by the partner's
    vocabulary (names.py)."""
    out = tuple(
        (name, str(value or "")) for name, value in sorted(fields.items()) if name.startswith(PROPERTY)
    )
    return (*out, (MANAGER, str(fields["manager"]))) if fields.get("manager") else out
