"""Codec items → lxml elements, in the child order 1C and Bitrix write (docs/protocols/commerceml.md §2)."""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal
from typing import Any

from lxml import etree

from obmen.connectors.commerceml.items import (
    Address,
    Counterparty,
    Discount,
    Document,
    DocumentLine,
    Group,
    Offer,
    PriceType,
    Product,
    Property,
    Tax,
    Warehouse,
)

__all__ = [
    "document_element",
    "group_element",
    "number",
    "offer_element",
    "price_type_element",
    "product_element",
    "property_element",
    "warehouse_element",
]

El = Any


def number(value: Decimal) -> str:
    """A Decimal as written, without an exponent (`231.7400` stays `231.7400`)."""
    return format(value, "f")


def _add(parent: El, tag: str, text: str | None = None, attrib: dict[str, str] | None = None) -> El:
    el = etree.SubElement(parent, tag, attrib or {})
    if text is not None:
        el.text = text
    return el


def _opt(parent: El, tag: str, text: str | None) -> None:
    if text is not None:
        _add(parent, tag, text)


def _flag(value: bool) -> str:
    return "true" if value else "false"


def _pairs(parent: El, list_tag: str, item_tag: str, pairs: Iterable[tuple[str, str]]) -> None:
    items = list(pairs)
    if items:
        holder = _add(parent, list_tag)
        for name, value in items:
            item = _add(holder, item_tag)
            _add(item, "Наименование", name)
            _add(item, "Значение", value)


def group_element(group: Group, children: list[El]) -> El:
    """`Группа` with its nested groups."""
    el = etree.Element("Группа")
    _add(el, "Ид", group.id)
    _add(el, "Наименование", group.name)
    if group.deleted:
        _add(el, "ПометкаУдаления", "true")
    if children:
        holder = _add(el, "Группы")
        holder.extend(children)
    return el


def property_element(prop: Property) -> El:
    """`Свойство` with its `Справочник` values."""
    el = etree.Element("Свойство")
    _add(el, "Ид", prop.id)
    _add(el, "Наименование", prop.name)
    _add(el, "ТипЗначений", prop.value_type)
    if prop.values:
        options = _add(el, "ВариантыЗначений")
        for value in prop.values:
            entry = _add(options, "Справочник")
            _add(entry, "ИдЗначения", value.id)
            _add(entry, "Значение", value.value)
    if prop.for_offers:
        _add(el, "ДляПредложений", "true")
    return el


def price_type_element(price_type: PriceType) -> El:
    """`ТипЦены`."""
    el = etree.Element("ТипЦены")
    _add(el, "Ид", price_type.id)
    _add(el, "Наименование", price_type.name)
    _add(el, "Валюта", price_type.currency)
    if price_type.tax_name is not None:
        tax = _add(el, "Налог")
        _add(tax, "Наименование", price_type.tax_name)
        if price_type.tax_included is not None:
            _add(tax, "УчтеноВСумме", _flag(price_type.tax_included))
    return el


def warehouse_element(warehouse: Warehouse) -> El:
    """`Склад` of a `Склады` list."""
    el = etree.Element("Склад")
    _add(el, "Ид", warehouse.id)
    _add(el, "Наименование", warehouse.name)
    if warehouse.address is not None:
        _add(_add(el, "Адрес"), "Представление", warehouse.address)
    return el


def _unit(parent: El, name: str | None, code: str | None) -> None:
    if name is None and code is None:
        return
    _add(parent, "БазоваяЕдиница", name or "", {"Код": code} if code else None)


def _taxes(parent: El, list_tag: str, item_tag: str, taxes: Iterable[Tax]) -> None:
    items = list(taxes)
    if not items:
        return
    holder = _add(parent, list_tag)
    for tax in items:
        el = _add(holder, item_tag)
        _add(el, "Наименование", tax.name)
        if tax.included is not None:
            _add(el, "УчтеноВСумме", _flag(tax.included))
        if tax.amount is not None:
            _add(el, "Сумма", number(tax.amount))
        _add(el, "Ставка", number(tax.rate) if tax.rate is not None else "Без налога")


def _property_values(parent: El, values: tuple[tuple[str, str], ...]) -> None:
    """Consecutive values of one property share one `ЗначенияСвойства` (a multi-valued property)."""
    if not values:
        return
    holder = _add(parent, "ЗначенияСвойств")
    current, item = None, None
    for prop_id, value in values:
        if prop_id != current or item is None:
            item = _add(holder, "ЗначенияСвойства")
            _add(item, "Ид", prop_id)
            current = prop_id
        _add(item, "Значение", value)


def product_element(product: Product) -> El:
    """`Товар` of a catalog."""
    el = etree.Element("Товар")
    _add(el, "Ид", product.id)
    _opt(el, "Штрихкод", product.barcode)
    _opt(el, "Артикул", product.article)
    _add(el, "Наименование", product.name)
    _unit(el, product.unit, product.unit_code)
    if product.group_ids:
        holder = _add(el, "Группы")
        for group_id in product.group_ids:
            _add(holder, "Ид", group_id)
    _opt(el, "Описание", product.description)
    for image in product.images:
        _add(el, "Картинка", image)
    _property_values(el, product.properties)
    _taxes(el, "СтавкиНалогов", "СтавкаНалога", product.taxes)
    _pairs(el, "ЗначенияРеквизитов", "ЗначениеРеквизита", product.requisites)
    if product.deleted:
        _add(el, "Статус", "Удален")
    return el


def offer_element(offer: Offer, *, rests: bool) -> El:
    """`Предложение` with prices and stock (`Склад` attributes, or 2.08+ `Остатки`)."""
    el = etree.Element("Предложение")
    _add(el, "Ид", offer.id)
    _opt(el, "Штрихкод", offer.barcode)
    _opt(el, "Артикул", offer.article)
    _add(el, "Наименование", offer.name)
    _pairs(el, "ХарактеристикиТовара", "ХарактеристикаТовара", offer.characteristics)
    _property_values(el, offer.properties)
    if offer.prices:
        holder = _add(el, "Цены")
        for price in offer.prices:
            item = _add(holder, "Цена")
            _add(item, "ИдТипаЦены", price.price_type_id)
            _add(item, "ЦенаЗаЕдиницу", number(price.value))
            _opt(item, "Валюта", price.currency)
            _opt(item, "Единица", price.unit)
            _opt(item, "Коэффициент", number(price.ratio) if price.ratio is not None else None)
    if offer.quantity is not None:
        _add(el, "Количество", number(offer.quantity))
    if rests and offer.stock:
        holder = _add(el, "Остатки")
        for entry in offer.stock:
            store = _add(_add(holder, "Остаток"), "Склад")
            _add(store, "Ид", entry.warehouse_id)
            _add(store, "Количество", number(entry.quantity))
    else:
        for entry in offer.stock:
            _add(
                el,
                "Склад",
                None,
                {"ИдСклада": entry.warehouse_id, "КоличествоНаСкладе": number(entry.quantity)},
            )
    if offer.deleted:
        _add(el, "ПометкаУдаления", "true")
    return el


def _address(parent: El, tag: str, address: Address | None) -> None:
    if address is None:
        return
    el = _add(parent, tag)
    _add(el, "Представление", address.text)
    for kind, value in address.fields:
        field = _add(el, "АдресноеПоле")
        _add(field, "Тип", kind)
        _add(field, "Значение", value)


def _counterparty(parent: El, party: Counterparty) -> None:
    el = _add(parent, "Контрагент")
    _add(el, "Ид", party.id)
    _add(el, "Наименование", party.name)
    _add(el, "ПолноеНаименование", party.full_name or "")  # Bitrix always writes it, even empty
    _opt(el, "ОфициальноеНаименование", party.official_name)
    _opt(el, "Фамилия", party.last_name)
    _opt(el, "Имя", party.first_name)
    _address(el, "АдресРегистрации", party.address)
    _address(el, "ЮридическийАдрес", party.legal_address)
    _opt(el, "ИНН", party.inn)
    _opt(el, "КПП", party.kpp)
    if party.contacts:
        holder = _add(el, "Контакты")
        for kind, value in party.contacts:
            contact = _add(holder, "Контакт")
            _add(contact, "Тип", kind)
            _add(contact, "Значение", value)
    _opt(el, "Роль", party.role)


def _discounts(parent: El, discounts: tuple[Discount, ...]) -> None:
    if not discounts:
        return
    holder = _add(parent, "Скидки")
    for discount in discounts:
        el = _add(holder, "Скидка")
        _add(el, "Наименование", discount.name)
        _add(el, "Сумма", number(discount.amount))
        _add(el, "УчтеноВСумме", _flag(discount.included))


def _unit_attrib(code: str | None) -> dict[str, str] | None:
    """Bitrix spells the piece unit out in full (BX `CSaleExport::outputXmlUnit`)."""
    if code == "796":
        return {"Код": "796", "НаименованиеПолное": "Штука", "МеждународноеСокращение": "PCE"}
    return {"Код": code} if code else None


def _line(parent: El, line: DocumentLine, new_units: bool) -> None:
    el = _add(parent, "Товар")
    _add(el, "Ид", line.id)
    _opt(el, "ИдКаталога", line.catalog_id)
    _opt(el, "Артикул", line.article)
    _add(el, "Наименование", line.name)
    if line.unit is None and line.unit_code is None:
        pass
    elif new_units:  # BX CSaleExport::outputXmlUnit for versions above 2.05
        unit = _add(el, "Единица")
        _opt(unit, "Код", line.unit_code)
        _opt(unit, "НаименованиеПолное", line.unit)
        _add(el, "Коэффициент", "1")
    else:
        _add(el, "БазоваяЕдиница", line.unit or "", _unit_attrib(line.unit_code))
    _add(el, "ЦенаЗаЕдиницу", number(line.price))
    _add(el, "Количество", number(line.quantity))
    _opt(el, "Сумма", number(line.total) if line.total is not None else None)
    _discounts(el, line.discounts)
    _taxes(el, "Налоги", "Налог", line.taxes)
    _pairs(el, "ЗначенияРеквизитов", "ЗначениеРеквизита", line.requisites)


def document_element(document: Document, *, new_units: bool) -> El:
    """`Документ` in Bitrix's child order (bitrix-site-orders-2.05)."""
    el = etree.Element("Документ")
    for tag, text in (
        ("Ид", document.id),
        ("Номер", document.number),
        ("Дата", document.date),
        ("ХозОперация", document.operation),
        ("Роль", document.role),
        ("Валюта", document.currency),
        ("Курс", number(document.rate)),
        ("Сумма", number(document.total)),
    ):
        _add(el, tag, text)
    if document.counterparties:
        holder = _add(el, "Контрагенты")
        for party in document.counterparties:
            _counterparty(holder, party)
    _opt(el, "Время", document.time)
    _add(el, "Комментарий", document.comment or "")  # Bitrix always writes it, even empty
    _opt(el, "Основание", document.basis)
    _taxes(el, "Налоги", "Налог", document.taxes)
    _discounts(el, document.discounts)
    if document.lines:
        holder = _add(el, "Товары")
        for line in document.lines:
            _line(holder, line, new_units)
    _pairs(el, "ЗначенияРеквизитов", "ЗначениеРеквизита", document.requisites)
    return el
