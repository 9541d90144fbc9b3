"""УТ 11 OData rows ⇄ canonical field maps (pure functions, no I/O; docs/protocols/onec.md §A1.4, §A1.7).

Ids are the ones 1C's own exchange uses (docs/protocols/commerceml.md §2.4), so that a shop can switch
`onec.mode` and keep its links: a group, product, price type, warehouse, counterparty or order is its
`Ref_Key`; an offer is the product's `Ref_Key`, or `<product>#<characteristic>` for a characteristic.
A reference that is the empty GUID is no reference. Numbers may arrive as strings: parsed defensively.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from obmen.connectors.commerceml.mapping import currency_code
from obmen.errors import ProtocolError
from obmen.model import entities as canon
from obmen.model.base import EntityType, Money, Ref
from obmen.model.fields import FieldValue, decimal_text, to_fields
from obmen.model.normalize import normalize_email, normalize_name, normalize_phone
from obmen.model.totals import included, vat_on_top

__all__ = [
    "EMPTY",
    "category_fields",
    "counterparty_body",
    "counterparty_fields",
    "join_offer",
    "offer_fields",
    "order_body",
    "order_fields",
    "price_type_fields",
    "product_fields",
    "split_offer",
    "warehouse_fields",
]

Fields = dict[str, FieldValue]
Row = Mapping[str, Any]
EMPTY = "00000000-0000-0000-0000-000000000000"
_NO_DATE = "0001-01-01T00:00:00"
_VAT = {"НДС20": "20", "НДС18": "18", "НДС10": "10", "НДС0": "0", "НДС22": "22", "НДС5": "5", "НДС7": "7"}
_PHONE, _EMAIL, _ADDRESS = "Телефон", "АдресЭлектроннойПочты", "Адрес"


def ref(value: Any) -> str | None:
    """A `_Key` value, or None for the empty reference."""
    text = str(value or "").lower()
    return text if text and text != EMPTY else None


def number(value: Any, what: str) -> Decimal:
    """A number 1C sent as a number or as a string."""
    try:
        result = Decimal(str(value if value is not None else 0))
    except InvalidOperation as exc:
        raise ProtocolError(f"1C OData: {what} is not a number: {value!r}") from exc
    if not result.is_finite():
        raise ProtocolError(f"1C OData: {what} is not a number: {value!r}")
    return result


def join_offer(product: str, characteristic: str | None) -> str:
    """The offer id of a product and its characteristic (docs/protocols/commerceml.md §2.4)."""
    return f"{product}#{characteristic}" if characteristic else product


def split_offer(offer_id: str) -> tuple[str, str | None]:
    """(product `Ref_Key`, characteristic `Ref_Key` or None) of an offer id."""
    product, _, char = offer_id.partition("#")
    return product, char or None


def _text(value: Any) -> str | None:
    text = str(value or "").strip()
    return text or None


def vat_rate(value: Any) -> str | None:
    """`НДС20` → `"20"`; `БезНДС` and unknown rates → None."""
    return _VAT.get(str(value or ""))


def category_fields(row: Row) -> Fields:
    """A group of `Catalog_Номенклатура` (`IsFolder`) → `Category`."""
    parent = ref(row.get("Parent_Key"))
    return to_fields(
        canon.Category(
            name=str(row.get("Description") or ""),
            xml_id=str(row["Ref_Key"]),
            parent=Ref(EntityType.CATEGORY, parent) if parent else None,
            active=not row.get("DeletionMark"),
        )
    )


def product_fields(row: Row, units: Mapping[str, str]) -> Fields:
    """An item of `Catalog_Номенклатура` → the `Product` fields OData carries."""
    parent = ref(row.get("Parent_Key"))
    vat = vat_rate(row.get("СтавкаНДС"))
    return {
        "name": str(row.get("Description") or ""),
        "xml_id": str(row["Ref_Key"]),
        "article": _text(row.get("Артикул")),
        "description": _text(row.get("Описание")),
        "categories": [{"$ref": "category", "id": parent}] if parent else [],
        "unit": units.get(ref(row.get("ЕдиницаИзмерения_Key")) or "", "шт"),
        "vat_rate": vat,
        "active": not row.get("DeletionMark"),
    }


def _prices(rows: Sequence[Row], kinds: Mapping[str, tuple[str, str]]) -> list[FieldValue]:
    out: list[FieldValue] = []
    for row in sorted(rows, key=lambda r: str(r.get("ВидЦены_Key"))):
        kind = ref(row.get("ВидЦены_Key"))
        if kind is None:
            continue
        currency = kinds.get(kind, ("", "RUB"))[1]
        amount = decimal_text(number(row.get("Цена"), "Цена"))
        out.append(
            {
                "price_type": {"$ref": "price_type", "id": kind},
                "value": {"amount": amount, "currency": currency},
            }
        )
    return out


def offer_fields(
    product: Row,
    characteristic: Row | None,
    *,
    properties: Mapping[str, str],
    prices: Sequence[Row],
    stock: Mapping[str, Decimal],
    kinds: Mapping[str, tuple[str, str]],
    shown: str,
) -> Fields:
    """A product (or one of its characteristics) with its prices and balances → `Offer`.

    `stock` holds every warehouse's balance (zero where the register has none: a virtual balance
    table has no rows for zero, §A1.3); `kinds` is price type → (name, currency); `shown` the price type
    whose price becomes `price` (`[mapping] price_type`), as the exchange connector derives it.
    """
    pid = str(product["Ref_Key"])
    name = str(product.get("Description") or "")
    characteristics: list[FieldValue] = []
    active = not product.get("DeletionMark")
    if characteristic is not None:
        name = f"{name} ({characteristic.get('Description') or ''})"
        for line in sorted(
            characteristic.get("ДополнительныеРеквизиты") or [], key=lambda r: int(r.get("LineNumber") or 0)
        ):
            key = ref(line.get("Свойство_Key")) or ""
            characteristics.append([properties.get(key, key), str(line.get("Значение") or "")])
        active = active and not characteristic.get("DeletionMark")
    offer_id = join_offer(pid, str(characteristic["Ref_Key"]) if characteristic is not None else None)
    price_maps = _prices(prices, kinds)
    chosen = [
        p["value"]
        for p in price_maps
        if isinstance(p, dict) and kinds.get(p["price_type"]["id"], ("",))[0] == shown
    ]
    levels = [
        {"warehouse": {"$ref": "warehouse", "id": w}, "quantity": decimal_text(q)}
        for w, q in sorted(stock.items())
    ]
    return {
        "product": {"$ref": "product", "id": pid},
        "name": name,
        "xml_id": offer_id,
        "article": _text(product.get("Артикул")),
        "characteristics": characteristics,
        "prices": price_maps,
        "stock": levels,
        "price": chosen[0] if chosen else None,
        "quantity": decimal_text(sum(stock.values(), Decimal(0))),
        "active": active,
    }


def price_type_fields(row: Row, currencies: Mapping[str, str]) -> Fields:
    """`Catalog_ВидыЦен` → `PriceType` (the currency by `Catalog_Валюты.Code`, 643 → RUB)."""
    code = currencies.get(ref(row.get("ВалютаЦены_Key")) or "")
    return to_fields(
        canon.PriceType(
            name=str(row.get("Description") or ""), currency=currency_code(code), xml_id=str(row["Ref_Key"])
        )
    )


def warehouse_fields(row: Row) -> Fields:
    """`Catalog_Склады` → `Warehouse`."""
    return to_fields(canon.Warehouse(name=str(row.get("Description") or ""), xml_id=str(row["Ref_Key"])))


def counterparty_fields(row: Row) -> Fields:
    """`Catalog_Контрагенты` with its `КонтактнаяИнформация` → `Counterparty`."""
    phones: list[str] = []
    emails: list[str] = []
    address = _text(row.get("АдресРегистрации"))
    for line in row.get("КонтактнаяИнформация") or []:
        kind, text = str(line.get("Тип") or ""), str(line.get("Представление") or "")
        if kind == _PHONE and (phone := normalize_phone(text)) and phone not in phones:
            phones.append(phone)
        elif kind == _EMAIL and (email := normalize_email(text)) and email not in emails:
            emails.append(email)
        elif kind == _ADDRESS and not address:
            address = _text(text)
    inn, kpp = _text(row.get("ИНН")), _text(row.get("КПП"))
    organization = row.get("ЮрФизЛицо") == "ЮрЛицо"
    return to_fields(
        canon.Counterparty(
            kind="organization" if organization else "person",
            name=normalize_name(str(row.get("НаименованиеПолное") or row.get("Description") or "")),
            phones=tuple(phones),
            emails=tuple(emails),
            requisites=canon.Requisites(inn=inn, kpp=kpp) if inn or kpp else None,
            address=address,
        )
    )


def counterparty_body(fields: Mapping[str, Any]) -> dict[str, Any]:
    """The `Catalog_Контрагенты` properties of the canonical fields given (contact rows always whole)."""
    body: dict[str, Any] = {}
    if "name" in fields:
        body["Description"] = body["НаименованиеПолное"] = str(fields["name"] or "")
    if "kind" in fields:
        body["ЮрФизЛицо"] = "ЮрЛицо" if fields["kind"] == "organization" else "ФизЛицо"
    if "requisites" in fields:
        requisites = fields["requisites"] or {}
        body["ИНН"], body["КПП"] = requisites.get("inn") or "", requisites.get("kpp") or ""
    if "address" in fields:
        body["АдресРегистрации"] = fields["address"] or ""
    if "phones" in fields or "emails" in fields:
        rows = [{"Тип": _PHONE, "Представление": p} for p in fields.get("phones") or []]
        rows += [{"Тип": _EMAIL, "Представление": e} for e in fields.get("emails") or []]
        body["КонтактнаяИнформация"] = rows
    return body


def _date(value: Any) -> str | None:
    text = str(value or "")
    return None if not text or text.startswith("0001-") else text


def order_fields(
    row: Row, names: Mapping[str, str], statuses: Mapping[str, str], currency: str = "RUB"
) -> Fields:
    """`Document_ЗаказКлиента` with its `Товары` → the `Order` fields OData carries.

    `names` gives each offer id its name; `statuses` maps `Статус` to a site code (an unmapped status is
    left out: unknown, not empty).
    """
    lines = []
    # `ЦенаВключаетНДС` false: the prices are net and each line's VAT is on top (docs/protocols/onec.md).
    vat_in_prices = row.get("ЦенаВключаетНДС") is not False
    for line in sorted(row.get("Товары") or [], key=lambda r: int(r.get("LineNumber") or 0)):
        product = ref(line.get("Номенклатура_Key"))
        offer = join_offer(product, ref(line.get("Характеристика_Key"))) if product else None
        discount = number(line.get("СуммаРучнойСкидки"), "СуммаРучнойСкидки")
        vat = vat_rate(line.get("СтавкаНДС"))
        lines.append(
            canon.OrderLine(
                offer=Ref(EntityType.OFFER, offer) if offer else None,
                name=names.get(offer or "", ""),
                quantity=number(line.get("Количество"), "Количество"),
                price=Money(number(line.get("Цена"), "Цена"), currency),
                discount=Money(discount, currency) if discount else None,
                vat_rate=Decimal(vat) if vat is not None else None,
                vat_included=included(Decimal(vat) if vat is not None else None, vat_in_prices),
            )
        )
    customer = ref(row.get("Контрагент_Key"))
    own_number = str(row.get("Number") or "")
    site_number = _text(row.get("НомерПоДаннымКлиента"))
    numbers = ([("site", site_number)] if site_number else []) + (
        [("onec", own_number)] if own_number else []
    )
    when = _date(row.get("ДатаПоДаннымКлиента")) or _date(row.get("Date")) or _NO_DATE
    status = statuses.get(str(row.get("Статус") or ""))
    fields = to_fields(
        canon.Order(
            number=site_number or own_number,
            date=datetime.fromisoformat(when),
            status=status or "",
            customer=Ref(EntityType.COUNTERPARTY, customer) if customer else None,
            lines=tuple(lines),
            total=Money(number(row.get("СуммаДокумента"), "СуммаДокумента"), currency),
            comment=_text(row.get("Комментарий")),
            external_numbers=tuple(numbers),
            cancelled=bool(row.get("DeletionMark")),
        )
    )
    # Payments are the order's payment documents, read beside it (payments.py).
    for absent in ("site", "delivery", "responsible"):
        fields.pop(absent, None)
    if status is None:
        fields.pop("status")
    return fields


def _line_row(line: Mapping[str, Any]) -> dict[str, Any]:
    offer = (line.get("offer") or {}).get("id")
    if not offer:
        raise ProtocolError(f"an order line without an offer cannot go to 1C: {line.get('name')!r}")
    product, char = split_offer(str(offer))
    quantity = Decimal(str(line.get("quantity") or 0))
    price = Decimal(str((line.get("price") or {}).get("amount") or 0))
    discount = Decimal(str((line.get("discount") or {}).get("amount") or 0))
    vat = line.get("vat_rate")
    rate = Decimal(str(vat)) if vat is not None else None
    on_top = not included(rate, line.get("vat_included") is not False)
    return {
        "Номенклатура_Key": product,
        "Характеристика_Key": char or EMPTY,
        "Количество": float(quantity),
        "Цена": float(price),
        "Сумма": float(price * quantity - discount),
        "СуммаРучнойСкидки": float(discount),
        "СтавкаНДС": f"НДС{vat}" if vat is not None else "БезНДС",
        # Net prices: the VAT on top of the line, as obmen rounds it (model/totals.py).
        "СуммаНДС": float(vat_on_top(price, quantity, rate)) if on_top else 0.0,
    }


def _prices_include_vat(lines: Any) -> bool:
    """УТ 11's `ЦенаВключаетНДС` for these lines: one flag for the whole order, so lines whose VAT is
    included and lines whose VAT is on top cannot go to 1C together (a clear refusal, not a guess)."""
    flags = {
        included(Decimal(str(line["vat_rate"])), line.get("vat_included") is not False)
        for line in lines or []
        if isinstance(line, Mapping) and line.get("vat_rate") is not None
    }
    if len(flags) > 1:
        raise ProtocolError(
            "1C's order holds one ЦенаВключаетНДС for all its lines: an order with VAT included in some "
            "prices and on top of others cannot be written through OData (docs/protocols/onec.md)"
        )
    return flags != {False}


def order_body(fields: Mapping[str, Any], status_names: Mapping[str, str]) -> dict[str, Any]:
    """The `Document_ЗаказКлиента` properties of the canonical fields given.

    `lines` always becomes the whole `Товары` part: a PATCH replaces a tabular part it names (§A1.6).
    `customer` must already be 1C's `Ref_Key` (the engine translated it).
    """
    body: dict[str, Any] = {}
    if "number" in fields:
        body["НомерПоДаннымКлиента"] = str(fields["number"] or "")
    if fields.get("date"):
        body["ДатаПоДаннымКлиента"] = (
            datetime.fromisoformat(str(fields["date"])).replace(tzinfo=None).isoformat()
        )
    if fields.get("status"):
        name = status_names.get(str(fields["status"]))
        if name is None:
            raise ProtocolError(
                f"order status {fields['status']!r} has no 1C status in [mapping.onec_odata_statuses]"
            )
        body["Статус"] = name
    if "customer" in fields:
        body["Контрагент_Key"] = (fields["customer"] or {}).get("id") or EMPTY
    if fields.get("total"):
        body["СуммаДокумента"] = float(Decimal(str(fields["total"]["amount"])))
    if "comment" in fields:
        body["Комментарий"] = fields["comment"] or ""
    if "cancelled" in fields:
        body["DeletionMark"] = bool(fields["cancelled"])
    if "lines" in fields:
        body["Товары"] = [_line_row(line) for line in fields["lines"] or []]
        body["ЦенаВключаетНДС"] = _prices_include_vat(fields["lines"])
    return body
