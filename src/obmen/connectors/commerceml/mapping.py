"""Codec items ⇄ canonical field maps (pure functions, no I/O).

Ids are the 1C id space: a reference is `{"$ref": entity, "id": <Ид>}` with the group, product, offer,
price type, warehouse or counterparty `Ид` as 1C wrote it. Decisions (docs/protocols/commerceml.md §2.4,
§2.8):

- Every sellable unit is an offer. A product without characteristics is sold through one offer whose
  `Ид` is the product's own `Ид` (1C writes it so in offers.xml); order lines always refer to offers.
- A field a file does not carry is left out of the map: a prices-only or rests-only file (2.08+,
  §2.5) and a document without `Статус заказа` update only what they say.
- Stock given only as a total `<Количество>` is a level of the pseudo-warehouse `TOTAL_STOCK`
  (`total_warehouse_fields()`), since a canonical stock level always names its warehouse.
- Deletion marks (`<Статус>Удален</Статус>`, `ПометкаУдаления`) become `active: False`.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal

from obmen.connectors.commerceml.context import Classifier
from obmen.connectors.commerceml.items import Counterparty as CmlCounterparty
from obmen.connectors.commerceml.items import Document, DocumentLine, Group, Offer, OfferPrice, Product, Tax
from obmen.connectors.commerceml.items import PriceType as CmlPriceType
from obmen.connectors.commerceml.items import Warehouse as CmlWarehouse
from obmen.connectors.commerceml.names import MANAGER, PROPERTY
from obmen.errors import ProtocolError
from obmen.model import entities as canon
from obmen.model.base import EntityType, Money, Ref
from obmen.model.fields import FieldValue, decimal_text, to_fields
from obmen.model.normalize import normalize_email, normalize_name, normalize_phone
from obmen.model.totals import included

__all__ = [
    "DELIVERY_LINE",
    "TOTAL_STOCK",
    "category_fields",
    "counterparty_fields",
    "currency_code",
    "offer_entity",
    "offer_fields",
    "order_fields",
    "parse_datetime",
    "price_type_fields",
    "product_entity",
    "product_fields",
    "total_warehouse_fields",
    "warehouse_fields",
]

Fields = dict[str, FieldValue]
#: The `Ид` of the order line that carries the delivery (BX `CSaleExport::getOrderDeliveryItem`, §2.6).
DELIVERY_LINE = "ORDER_DELIVERY"
#: The warehouse id of a stock level known only as a total (`<Количество>` without warehouses).
TOTAL_STOCK = "#total"
_CURRENCIES = {
    "руб": "RUB", "руб.": "RUB", "rur": "RUB", "643": "RUB", "рубль": "RUB",
    "грн": "UAH", "грн.": "UAH", "980": "UAH",
    "тенге": "KZT", "тг": "KZT", "398": "KZT",
    "840": "USD", "$": "USD", "978": "EUR", "€": "EUR", "933": "BYN", "бел. руб.": "BYN",
}  # fmt: skip
_TRUE = frozenset({"true", "да", "1", "y"})
_DATE = re.compile(r"^\s*(?:(\d{4})-(\d{1,2})-(\d{1,2})|(\d{1,2})\.(\d{1,2})\.(\d{4}))")
_BRACKETED = re.compile(r"^\[([^\]]+)\]")
_TIME = re.compile(r"(\d{1,2}):(\d{2})(?::(\d{2}))?")


def currency_code(text: str | None, default: str = "RUB") -> str:
    """ISO 4217 code of a 1C currency (`руб`, `643`, `RUB`, `грн`…); an unknown one is an error."""
    if text is None or not text.strip():
        return default
    value = text.strip()
    code = _CURRENCIES.get(value.lower())
    if code is not None:
        return code
    if len(value) == 3 and value.isascii() and value.isalpha():
        return value.upper()
    raise ProtocolError(f"unknown currency {text!r} (expected an ISO 4217 code such as RUB)")


def parse_datetime(date: str, time: str | None = None) -> datetime:
    """`2021-02-11` / `11.02.2021` plus `18:45:21`, or `2014-06-01T0:36:33` (§2.1: parse leniently)."""
    match = _DATE.match(date)
    if match is None:
        raise ProtocolError(f"unreadable date {date!r}")
    y, m, d, d2, m2, y2 = match.groups()
    year, month, day = (int(y), int(m), int(d)) if y else (int(y2), int(m2), int(d2))
    clock = _TIME.search(date[match.end() :]) or (_TIME.search(time) if time else None)
    hour, minute, second = (int(clock[1]), int(clock[2]), int(clock[3] or 0)) if clock else (0, 0, 0)
    try:
        return datetime(year, month, day, hour, minute, second)
    except ValueError as exc:
        raise ProtocolError(f"impossible date {date!r} {time or ''}: {exc}") from exc


def _flag(value: str | None) -> bool:
    return value is not None and value.strip().lower() in _TRUE


def _ref(entity: EntityType, ident: str) -> Ref:
    return Ref(entity, ident)


def category_fields(group: Group) -> Fields:
    """`Группа` → `Category`."""
    parent = _ref(EntityType.CATEGORY, group.parent_id) if group.parent_id else None
    return to_fields(
        canon.Category(name=group.name, xml_id=group.id, parent=parent, active=not group.deleted)
    )


def price_type_fields(price_type: CmlPriceType) -> Fields:
    """`ТипЦены` → `PriceType`."""
    currency = currency_code(price_type.currency)
    return to_fields(canon.PriceType(name=price_type.name, currency=currency, xml_id=price_type.id))


def total_warehouse_fields() -> Fields:
    """The pseudo-warehouse `TOTAL_STOCK`: register it like any warehouse, or references to it stay open."""
    return to_fields(canon.Warehouse(name="Все склады (остаток без разбивки)", xml_id=TOTAL_STOCK))


def warehouse_fields(warehouse: CmlWarehouse) -> Fields:
    """`Склад` → `Warehouse`."""
    return to_fields(canon.Warehouse(name=warehouse.name, xml_id=warehouse.id))


def _vat(taxes: tuple[Tax, ...]) -> Decimal | None:
    for tax in taxes:
        if tax.name.upper() in ("НДС", "VAT", "ПДВ") and tax.rate is not None:
            return tax.rate
    return None


def product_entity(product: Product, classifier: Classifier) -> canon.Product:
    """`Товар` → `Product`; `Справочник` values are resolved through the run's classifier."""
    return canon.Product(
        name=product.name,
        xml_id=product.id,
        article=product.article,
        barcode=product.barcode,
        description=product.description,
        categories=tuple(_ref(EntityType.CATEGORY, g) for g in product.group_ids),
        unit=product.unit or "шт",
        vat_rate=_vat(product.taxes),
        properties=tuple(classifier.property_value(pid, raw) for pid, raw in product.properties),
        images=product.images,
        active=not product.deleted,
    )


def product_fields(product: Product, classifier: Classifier) -> Fields:
    """The field map of `product_entity`, built directly: this is the hot path of a catalog import.

    Equal to `to_fields(product_entity(...))` (tests hold it to that on every fixture).
    """
    vat = _vat(product.taxes)
    return {
        "name": product.name,
        "xml_id": product.id,
        "article": product.article,
        "barcode": product.barcode,
        "description": product.description,
        "categories": [{"$ref": "category", "id": g} for g in product.group_ids],
        "unit": product.unit or "шт",
        "vat_rate": decimal_text(vat) if vat is not None else None,
        "properties": [list(classifier.property_value(pid, raw)) for pid, raw in product.properties],
        "images": list(product.images),
        "active": not product.deleted,
    }


def _money(price: OfferPrice, classifier: Classifier) -> Money:
    """A price in its own currency, else its price type's (ТипЦены/Валюта), else roubles."""
    known = classifier.price_types.get(price.price_type_id)
    return Money(price.value, currency_code(price.currency or (known.currency if known else None)))


def _prices(offer: Offer, classifier: Classifier) -> tuple[canon.Price, ...]:
    return tuple(
        canon.Price(price_type=_ref(EntityType.PRICE_TYPE, p.price_type_id), value=_money(p, classifier))
        for p in offer.prices
    )


def _stock(offer: Offer) -> tuple[canon.StockLevel, ...]:
    if offer.stock:
        return tuple(
            canon.StockLevel(warehouse=_ref(EntityType.WAREHOUSE, s.warehouse_id), quantity=s.quantity)
            for s in offer.stock
        )
    if offer.quantity is not None:
        return (canon.StockLevel(warehouse=_ref(EntityType.WAREHOUSE, TOTAL_STOCK), quantity=offer.quantity),)
    return ()


def offer_entity(offer: Offer, classifier: Classifier) -> canon.Offer:
    """`Предложение` → `Offer` (every field, carried by the file or not)."""
    return canon.Offer(
        product=_ref(EntityType.PRODUCT, offer.product_id),
        name=offer.name,
        xml_id=offer.id,
        article=offer.article,
        barcode=offer.barcode,
        characteristics=offer.characteristics,
        prices=_prices(offer, classifier),
        stock=_stock(offer),
        active=not offer.deleted,
    )


def _price_map(price: OfferPrice, classifier: Classifier) -> FieldValue:
    money = _money(price, classifier)
    value = {"amount": decimal_text(money.amount), "currency": money.currency}
    return {"price_type": {"$ref": "price_type", "id": price.price_type_id}, "value": value}


def _stock_maps(offer: Offer) -> list[FieldValue]:
    entries = [(s.warehouse_id, s.quantity) for s in offer.stock]
    if not entries and offer.quantity is not None:
        entries = [(TOTAL_STOCK, offer.quantity)]
    return [{"warehouse": {"$ref": "warehouse", "id": w}, "quantity": decimal_text(q)} for w, q in entries]


def offer_fields(offer: Offer, classifier: Classifier) -> Fields:
    """`Предложение` → `Offer` field map, without the fields this file does not carry (prices, stock, name…).

    Built directly (the hot path); equal to the carried part of `to_fields(offer_entity(...))`.
    """
    fields: Fields = {"product": {"$ref": "product", "id": offer.product_id}}
    if offer.name:
        fields["name"] = offer.name
    fields["xml_id"] = offer.id
    if offer.article is not None:
        fields["article"] = offer.article
    if offer.barcode is not None:
        fields["barcode"] = offer.barcode
    if offer.characteristics or offer.name:
        fields["characteristics"] = [[k, v] for k, v in offer.characteristics]
    if offer.prices:
        fields["prices"] = [_price_map(p, classifier) for p in offer.prices]
    if offer.stock or offer.quantity is not None:
        fields["stock"] = _stock_maps(offer)
    fields["active"] = not offer.deleted
    return fields


def _contacts(party: CmlCounterparty) -> tuple[tuple[str, ...], tuple[str, ...]]:
    phones: list[str] = []
    emails: list[str] = []
    for kind, value in party.contacts:
        lowered = kind.lower()
        if "почт" in lowered or "mail" in lowered:
            email = normalize_email(value)
            if email and email not in emails:
                emails.append(email)
        elif "телефон" in lowered or "phone" in lowered:
            phone = normalize_phone(value)
            if phone and phone not in phones:
                phones.append(phone)
    return tuple(phones), tuple(emails)


def counterparty_fields(party: CmlCounterparty) -> Fields:
    """`Контрагент` → `Counterparty`: an organisation if it has a 10-digit ИНН, a КПП or an official name."""
    organization = bool(party.kpp or party.official_name or (party.inn and len(party.inn) == 10))
    person = " ".join(p for p in (party.last_name, party.first_name) if p)
    name = normalize_name(party.official_name or party.name or party.full_name or person)
    phones, emails = _contacts(party)
    requisites = None
    if party.inn or party.kpp:
        legal = party.legal_address.text if party.legal_address and party.legal_address.text else None
        requisites = canon.Requisites(inn=party.inn, kpp=party.kpp, legal_address=legal)
    address = party.address.text if party.address and party.address.text else None
    entity = canon.Counterparty(
        kind="organization" if organization else "person",
        name=name,
        phones=phones,
        emails=emails,
        requisites=requisites,
        address=address,
    )
    return to_fields(entity)


def _buyer(document: Document) -> CmlCounterparty | None:
    for party in document.counterparties:
        if (party.role or "").strip() == "Покупатель":
            return party
    return document.counterparties[0] if document.counterparties else None


def _line(line: DocumentLine, currency: str) -> canon.OrderLine:
    discount = sum((d.amount for d in line.discounts), Decimal(0))
    rate = _vat(line.taxes)
    return canon.OrderLine(
        offer=_ref(EntityType.OFFER, line.id) if line.id else None,
        name=line.name,
        quantity=line.quantity,
        price=Money(line.price, currency),
        discount=Money(discount, currency) if line.discounts else None,
        vat_rate=rate,
        # `УчтеноВСумме` false: the VAT is on top of the line's price (§2.6).
        vat_included=included(rate, next((t.included for t in line.taxes if _vat((t,)) is not None), None)),
    )


def _payments(
    document: Document, total: Money, payments: Sequence[Document] = ()
) -> tuple[canon.Payment, ...] | None:
    """The payment documents that followed the order, each a payment (`Сумма`, `Оплачен`, §1.11); else one
    payment from the requisites (Bitrix: `Метод оплаты`, `Заказ оплачен`; 1C: `… оплаты по 1С`)."""
    if payments:
        return tuple(_payment(p, total.currency) for p in payments)
    method = document.requisite("Метод оплаты")
    paid_flag = document.requisite("Заказ оплачен") or document.requisite("Оплачен")
    paid_date = document.requisite("Дата оплаты по 1С") or document.requisite("Дата оплаты")
    if method is None and paid_flag is None and not paid_date:
        return None
    paid = _flag(paid_flag) or bool(paid_date)
    paid_at = parse_datetime(paid_date) if paid_date else None
    return (canon.Payment(system=method or "", amount=total, paid=paid, paid_at=paid_at),)


def _payment(document: Document, currency: str) -> canon.Payment:
    """A payment document: its system, its own sum, and paid by its flag or a payment date."""
    paid_date = document.requisite("Дата оплаты по 1С") or document.requisite("Дата оплаты")
    return canon.Payment(
        system=document.requisite("Метод оплаты") or "",
        amount=Money(document.total, currency),
        paid=_flag(document.requisite("Оплачен")) or bool(paid_date),
        paid_at=parse_datetime(paid_date) if paid_date else None,
    )


def _numbers(document: Document) -> tuple[tuple[str, str], ...]:
    out = [("site", document.number)] if document.number else []
    for system, name in (
        ("onec", "Номер по 1С"),
        ("onec_payment", "Номер оплаты по 1С"),
        ("onec_shipment", "Номер отгрузки по 1С"),
    ):
        value = document.requisite(name)
        if value:
            out.append((system, value))
    return tuple(out)


def _bracketed(text: str | None) -> str | None:
    """Bitrix writes `[N] Принят, ожидается оплата` and `[s1] Сайт по умолчанию`: the id is in brackets."""
    if text is None:
        return None
    match = _BRACKETED.match(text)
    return match.group(1) if match else text


def order_fields(document: Document, *, currency: str = "RUB", payments: Sequence[Document] = ()) -> Fields:
    """`Документ` (an order) → `Order`; fields the document does not carry are left out. `payments`: the
    payment documents that followed it (`Основание` = its number)."""
    code = currency_code(document.currency, currency)
    total = Money(document.total, code)
    goods = [line for line in document.lines if line.id != DELIVERY_LINE]
    shipping = next((line for line in document.lines if line.id == DELIVERY_LINE), None)
    delivery = None
    if shipping is not None:
        price = shipping.total if shipping.total is not None else shipping.price * shipping.quantity
        service = document.requisite("Способ доставки") or shipping.name
        delivery = canon.Delivery(service=service, price=Money(price, code))
    status = document.requisite("Статуса заказа ИД") or _bracketed(document.requisite("Статус заказа"))
    held = _payments(document, total, payments)
    buyer = _buyer(document)
    cancelled = _flag(document.requisite("Отменен")) or _flag(document.requisite("ПометкаУдаления"))
    entity = canon.Order(
        number=document.number,
        date=parse_datetime(document.date, document.time),
        status=status or "",
        customer=_ref(EntityType.COUNTERPARTY, buyer.id) if buyer and buyer.id else None,
        lines=tuple(_line(line, code) for line in goods),
        delivery=delivery,
        payments=held or (),
        total=total,
        site=_bracketed(document.requisite("Сайт")) or None,
        comment=document.requisite("Комментарии покупателя") or document.comment,
        external_numbers=_numbers(document),
        cancelled=cancelled,
    )
    fields = to_fields(entity)
    # 1C's own documents name no site (`Сайт` is Bitrix's requisite, §2.6/§2.7): not carried, not empty.
    absent = {
        "status": status is None,
        "payments": held is None,
        "delivery": shipping is None,
        "site": document.requisite("Сайт") is None,
    }
    out = {key: value for key, value in fields.items() if not absent.get(key, False)}
    # Order properties, named `property:<code>` by the partner's vocabulary (names.py); only those the
    # document carries: a property it does not name is not known to be empty.
    out.update({name: value or None for name, value in document.requisites if name.startswith(PROPERTY)})
    manager = document.requisite(MANAGER)  # `Ответственный` in `[mapping] managers` (names.py)
    if manager:
        out["manager"] = manager
    return out
