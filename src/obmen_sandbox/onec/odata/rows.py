"""The sandbox infobase seen as УТ 11's OData entity sets: one JSON row per object, built on each request.

Groups and products are one hierarchical catalog (`Catalog_Номенклатура`, groups with `IsFolder`); an
offer with a characteristic is a `Catalog_ХарактеристикиНоменклатуры` owned by its product (`Owner_Key`)
whose property values are its `ДополнительныеРеквизиты`. Prices are records of the periodic register
`InformationRegister_ЦеныНоменклатуры25`, one per offer and price type, stamped with the period they were
set in (the sandbox keeps only the last record of each). Stock is the register
`AccumulationRegister_ТоварыНаСкладах` held *collapsed* («свёртка»): one receipt per offer and warehouse,
stamped with the period of its last change, so that its `Balance` is the sum of its records.
`DataVersion` is the base64 of the object's 8-byte change counter: it changes with every write.
"""

from __future__ import annotations

import base64
import uuid
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

from obmen_sandbox.onec.infobase import Counterparty, Infobase, Offer, Order, Partner

__all__ = [
    "EMPTY",
    "STATUS_OF_CODE",
    "as_guid",
    "data_version",
    "offer_key",
    "rows_of",
]

EMPTY = "00000000-0000-0000-0000-000000000000"
_NS = uuid.UUID("8a4be2f1-3a7c-4d36-9e1b-0d1c0da7a000")
_UNIT = str(uuid.uuid5(_NS, "unit:796"))
_CURRENCY_CODES = {
    "RUB": ("643", "руб."),
    "USD": ("840", "USD"),
    "EUR": ("978", "EUR"),
    "KZT": ("398", "тенге"),
}
#: Site status codes of orders that came by the exchange → the УТ 11 enumeration `СтатусыЗаказовКлиентов`.
STATUS_OF_CODE = {"N": "НеСогласован", "P": "КОбеспечению", "D": "КОтгрузке", "F": "Закрыт", "C": "Закрыт"}


def as_guid(value: str) -> str:
    """An object's `Ref_Key`: its `Ид` when that is a GUID (1C's own), else a stable GUID made from it."""
    if not value:
        return EMPTY
    try:
        return str(uuid.UUID(value))
    except ValueError:
        return str(uuid.uuid5(_NS, value))


def data_version(rev: int) -> str:
    """`DataVersion`: opaque base64 of 8 bytes, new on every write."""
    return base64.b64encode(rev.to_bytes(8, "big")).decode()


def property_key(name: str) -> str:
    """The `Ref_Key` of an additional property (a characteristic's name, `Размер`)."""
    return str(uuid.uuid5(_NS, f"property:{name}"))


def currency_key(code: str) -> str:
    """The `Ref_Key` of a currency."""
    return str(uuid.uuid5(_NS, f"currency:{code}"))


def offer_key(offer_id: str) -> tuple[str, str]:
    """(`Номенклатура_Key`, `Характеристика_Key`) of an offer `Ид` (`product` or `product#characteristic`)."""
    product, _, char = offer_id.partition("#")
    return as_guid(product), as_guid(char) if char else EMPTY


def _catalog(ref: str, rev: int, code: str, name: str, deleted: bool = False) -> dict[str, Any]:
    return {
        "Ref_Key": ref,
        "DataVersion": data_version(rev),
        "DeletionMark": deleted,
        "Code": code,
        "Description": name,
        "Predefined": False,
        "PredefinedDataName": "",
    }


def _number(value: Decimal) -> float | int:
    return int(value) if value == value.to_integral_value() else float(value)


def _nomenclature(base: Infobase) -> Iterator[dict[str, Any]]:
    for index, group in enumerate(base.groups.values(), start=1):
        row = _catalog(as_guid(group.id), group.rev, f"Г-{index:05d}", group.name)
        yield row | {"Parent_Key": as_guid(group.parent or ""), "IsFolder": True}
    for index, product in enumerate(base.products.values(), start=1):
        row = _catalog(as_guid(product.id), product.rev, f"00-{index:08d}", product.name, product.deleted)
        yield row | {
            "Parent_Key": as_guid(product.groups[0]) if product.groups else EMPTY,
            "IsFolder": False,
            "Артикул": product.article,
            "НаименованиеПолное": product.requisites.get("Полное наименование", product.name),
            "Описание": product.description,
            "ЕдиницаИзмерения_Key": _UNIT,
            "СтавкаНДС": product.requisites.get("СтавкаНДС", "НДС20"),
        }


def _characteristics(base: Infobase) -> Iterator[dict[str, Any]]:
    for index, offer in enumerate((o for o in base.offers.values() if "#" in o.id), start=1):
        owner, ref = offer_key(offer.id)
        values = [value for _, value in offer.characteristics]
        row = _catalog(ref, offer.rev, f"{index:09d}", ", ".join(values) or offer.name)
        rows = [
            {"Ref_Key": ref, "LineNumber": n, "Свойство_Key": property_key(name), "Значение": value,
             "Значение_Type": "Edm.String"}
            for n, (name, value) in enumerate(offer.characteristics, start=1)
        ]  # fmt: skip
        yield row | {"Owner_Key": owner, "НаименованиеПолное": offer.name, "ДополнительныеРеквизиты": rows}


def _properties(base: Infobase) -> Iterator[dict[str, Any]]:
    names = sorted({name for offer in base.offers.values() for name, _ in offer.characteristics})
    for index, name in enumerate(names, start=1):
        yield _catalog(property_key(name), 1, f"{index:05d}", name)


def _currencies(base: Infobase) -> Iterator[dict[str, Any]]:
    for code in sorted({kind.currency for kind in base.price_types.values()} | {"RUB"}):
        digits, name = _CURRENCY_CODES.get(code, (code, code))
        yield _catalog(currency_key(code), 1, digits, name)


def _price_types(base: Infobase) -> Iterator[dict[str, Any]]:
    for index, kind in enumerate(base.price_types.values(), start=1):
        row = _catalog(as_guid(kind.id), 1, f"{index:09d}", kind.name)
        yield row | {"ВалютаЦены_Key": currency_key(kind.currency), "ЦенаВключаетНДС": True}


def _warehouses(base: Infobase) -> Iterator[dict[str, Any]]:
    for index, store in enumerate(base.warehouses.values(), start=1):
        yield _catalog(as_guid(store.id), 1, f"{index:09d}", store.name) | {
            "Parent_Key": EMPTY,
            "IsFolder": False,
        }


def price_rows(offer: Offer) -> Iterator[dict[str, Any]]:
    """The price register's records of one offer."""
    product, char = offer_key(offer.id)
    for kind, value in offer.prices.items():
        yield {
            "Period": offer.prices_at,
            "Номенклатура_Key": product,
            "Характеристика_Key": char,
            "ВидЦены_Key": as_guid(kind),
            "Цена": _number(value),
            "Active": True,
        }


def stock_rows(offer: Offer) -> Iterator[dict[str, Any]]:
    """The stock register's (collapsed) records of one offer, one receipt per warehouse."""
    product, char = offer_key(offer.id)
    recorder = str(uuid.uuid5(_NS, f"stock:{offer.id}:{offer.stock_rev}"))
    for line, (store, quantity) in enumerate(offer.stock.items(), start=1):
        yield {
            "Recorder": recorder,
            "Recorder_Type": "StandardODATA.Document_ПересчетТоваров",
            "Period": offer.stock_at,
            "LineNumber": line,
            "Active": True,
            "RecordType": "Receipt",
            "Номенклатура_Key": product,
            "Характеристика_Key": char,
            "Склад_Key": as_guid(store),
            "ВНаличии": _number(quantity),
        }


def partner_row(partner: Partner, index: int = 0) -> dict[str, Any]:
    """One `Catalog_Партнеры` row."""
    return _catalog(partner.id, partner.rev, f"П-{index:07d}", partner.name) | {"Клиент": True}


def counterparty_row(party: Counterparty, index: int = 0) -> dict[str, Any]:
    """One `Catalog_Контрагенты` row."""
    ref = as_guid(party.id)
    contacts = [
        {"Ref_Key": ref, "LineNumber": n, "Тип": kind, "Представление": text}
        for n, (kind, text) in enumerate(party.contacts, start=1)
    ]
    legal = party.legal or ("ЮрЛицо" if party.kpp or len(party.inn) == 10 else "ФизЛицо")
    return _catalog(ref, party.rev, f"К-{index:07d}", party.name) | {
        "НаименованиеПолное": party.full_name or party.name,
        "ИНН": party.inn,
        "КПП": party.kpp,
        "ЮрФизЛицо": legal,
        "Партнер_Key": party.partner or EMPTY,
        "АдресРегистрации": party.address,
        "КонтактнаяИнформация": contacts,
    }


def order_row(order: Order) -> dict[str, Any]:
    """One `Document_ЗаказКлиента` row with its `Товары`."""
    ref = as_guid(order.onec_id)
    goods: list[dict[str, Any]] = []
    for line in (item for item in order.lines if not item.service):
        product, char = offer_key(line.offer)
        goods.append(
            {
                "Ref_Key": ref,
                "LineNumber": len(goods) + 1,
                "Номенклатура_Key": product,
                "Характеристика_Key": char,
                "Количество": _number(line.quantity),
                "Цена": _number(line.price),
                "Сумма": _number(line.amount),
                "СуммаРучнойСкидки": _number(max(line.price * line.quantity - line.amount, Decimal(0))),
                "СтавкаНДС": line.vat,
                "СуммаНДС": _number(line.vat_sum or Decimal(0)),
            }
        )
    return {
        "Ref_Key": ref,
        "DataVersion": data_version(order.rev),
        "DeletionMark": order.deleted,
        "Number": order.onec_number,
        "Date": _datetime(order.onec_date),
        "Posted": order.posted,
        "Партнер_Key": order.site_requisites.get("Партнер_Key", EMPTY),
        "Контрагент_Key": as_guid(order.counterparty),
        "Статус": STATUS_OF_CODE.get(order.status, order.status),
        "НомерПоДаннымКлиента": order.number,
        "ДатаПоДаннымКлиента": _datetime(order.date),
        "СуммаДокумента": _number(order.total),
        "ЦенаВключаетНДС": order.prices_include_vat,
        "Комментарий": order.comment,
        "Товары": goods,
    }


def _datetime(text: str) -> str:
    """A date as 1C's `Edm.DateTime` (`2024-03-20T00:00:00`), whatever form the exchange stored."""
    if not text:
        return "0001-01-01T00:00:00"
    if "T" in text:
        return text
    if "." in text[:3]:
        day, month, year = text[:10].split(".")
        text = f"{year}-{month}-{day}"
    return f"{text[:10]}T00:00:00"


def rows_of(base: Infobase, name: str) -> list[dict[str, Any]]:
    """Every row of one entity set."""
    if name == "Catalog_Номенклатура":
        return list(_nomenclature(base))
    if name == "Catalog_ХарактеристикиНоменклатуры":
        return list(_characteristics(base))
    if name == "ChartOfCharacteristicTypes_ДополнительныеРеквизитыИСведения":
        return list(_properties(base))
    if name == "Catalog_УпаковкиЕдиницыИзмерения":
        return [_catalog(_UNIT, 1, "796", "шт") | {"НаименованиеПолное": "Штука"}]
    if name == "Catalog_Валюты":
        return list(_currencies(base))
    if name == "Catalog_ВидыЦен":
        return list(_price_types(base))
    if name == "Catalog_Склады":
        return list(_warehouses(base))
    if name == "InformationRegister_ЦеныНоменклатуры25":
        return [row for offer in base.offers.values() for row in price_rows(offer)]
    if name == "AccumulationRegister_ТоварыНаСкладах_RecordType":
        return [row for offer in base.offers.values() for row in stock_rows(offer)]
    if name == "Catalog_Партнеры":
        return [partner_row(p, i) for i, p in enumerate(base.partners.values(), start=1)]
    if name == "Catalog_Контрагенты":
        return [counterparty_row(c, i) for i, c in enumerate(base.counterparties.values(), start=1)]
    if name == "Document_ЗаказКлиента":
        return [order_row(order) for order in base.orders.values()]
    raise KeyError(name)
