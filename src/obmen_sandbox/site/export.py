"""The orders answer a 1C-Bitrix site gives to `type=sale&mode=query` (2.05, windows-1251).

Shape after docs/protocols/commerceml.md §2.6 and the fixture bitrix-site-orders-2.05: the format attributes
on
the root, counterparty inline, goods with `СвойствоКорзины#…`, delivery as the `ORDER_DELIVERY`
service line, then the order requisites (payment, delivery, paid, cancelled, status). `Заказ оплачен` is
the order as a whole (paid in full) and `Метод оплаты` its first payment's system. An order with several
payments is followed by one `Документ` per payment, as Bitrix's export of order + payments does (§1.11):
`ХозОперация` «Выплата наличных денег» or «Выплата безналичных денег» (the loader's names, §2.7),
`Основание` the order's number, its own `Сумма` and its `Оплачен`/`Дата оплаты`.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from decimal import Decimal

from lxml import etree

from obmen_sandbox.site.orders import FINAL, STATUSES, Order, OrderBook, SalePayment

__all__ = ["cp1251_document", "orders_xml"]

_ROOT_ATTRS = {
    "ВерсияСхемы": "2.05",
    "ФорматДаты": "ДФ=yyyy-MM-dd; ДЛФ=DT",
    "ФорматВремени": "ДФ=ЧЧ:мм:сс; ДЛФ=T",
    "РазделительДатаВремя": "T",
    "ФорматСуммы": "ЧЦ=18; ЧДЦ=2; ЧРД=.",
    "ФорматКоличества": "ЧЦ=18; ЧДЦ=2; ЧРД=.",
}
_SITE = "[s1] Сайт по умолчанию"


def _sub(parent: etree._Element, tag: str, text: str | None = None) -> etree._Element:
    elem = etree.SubElement(parent, tag)
    if text is not None:
        elem.text = text
    return elem


def _money(value: Decimal, places: int = 4) -> str:
    return f"{value:.{places}f}"


def _bool(value: bool) -> str:
    return "true" if value else "false"


def _stamp(value: datetime | None) -> str:
    # Bitrix prints requisite dates as `11.02.2021 18:45:21` (fixture bitrix-site-orders-2.05).
    return value.strftime("%d.%m.%Y %H:%M:%S") if value else ""


def _requisites(parent: etree._Element, pairs: Iterable[tuple[str, str]]) -> None:
    block = _sub(parent, "ЗначенияРеквизитов")
    for name, value in pairs:
        req = _sub(block, "ЗначениеРеквизита")
        _sub(req, "Наименование", name)
        _sub(req, "Значение", value)


def _unit(parent: etree._Element) -> None:
    unit = _sub(parent, "БазоваяЕдиница", "шт")
    unit.set("Код", "796")
    unit.set("НаименованиеПолное", "Штука")
    unit.set("МеждународноеСокращение", "PCE")


def _counterparty(doc: etree._Element, order: Order) -> None:
    c = order.customer
    party = _sub(_sub(doc, "Контрагенты"), "Контрагент")
    # Bitrix's counterparty Ид is USER_ID#LOGIN#NAME (§2.6); the login here is the e-mail.
    _sub(party, "Ид", f"{c.user_id}#{c.email}#{c.name}")
    _sub(party, "Наименование", c.company or c.name)
    _sub(party, "ПолноеНаименование", c.company or c.name)
    if c.company:
        # Without ОфициальноеНаименование 1C files a legal entity as an individual entrepreneur.
        _sub(party, "ОфициальноеНаименование", c.company)
    if c.inn:
        _sub(party, "ИНН", c.inn)
    _sub(_sub(party, "АдресРегистрации"), "Представление", "")
    contacts = _sub(party, "Контакты")
    for kind, value in (("Почта", c.email), ("ТелефонРабочий", c.phone)):
        if value:
            contact = _sub(contacts, "Контакт")
            _sub(contact, "Тип", kind)
            _sub(contact, "Значение", value)
    if c.company:
        rep = _sub(_sub(_sub(party, "Представители"), "Представитель"), "Контрагент")
        _sub(rep, "Отношение", "Контактное лицо")
        _sub(rep, "Ид", f"{c.user_id}#{c.email}#{c.name}")
        _sub(rep, "Наименование", c.name)
    _sub(party, "Роль", "Покупатель")


def _goods(doc: etree._Element, order: Order, catalog_id: str) -> None:
    goods = _sub(doc, "Товары")
    for item in order.items:
        good = _sub(goods, "Товар")
        _sub(good, "Ид", item.offer)
        _sub(good, "ИдКаталога", catalog_id)
        _sub(good, "Наименование", item.name)
        _unit(good)
        _sub(good, "ЦенаЗаЕдиницу", _money(item.price))
        _sub(good, "Количество", _money(item.quantity))
        _sub(good, "Сумма", _money(item.total, 2))
        if item.discount:
            discount = _sub(_sub(good, "Скидки"), "Скидка")
            _sub(discount, "Наименование", "Скидка на товар")
            _sub(discount, "Сумма", _money(item.discount * item.quantity, 2))
            _sub(discount, "УчтеноВСумме", "true")
        if item.vat_rate is not None:
            tax = _sub(_sub(good, "Налоги"), "Налог")
            _sub(tax, "Наименование", "НДС")
            _sub(tax, "УчтеноВСумме", _bool(item.vat_included))
            if not item.vat_included:
                _sub(tax, "Сумма", _money(item.vat, 2))
            _sub(tax, "Ставка", _money(item.vat_rate, 0))
        _requisites(
            good,
            [
                ("ВидНоменклатуры", "Товар"),
                ("ТипНоменклатуры", "Товар"),
                ("СвойствоКорзины#CATALOG.XML_ID", catalog_id),
                ("СвойствоКорзины#PRODUCT.XML_ID", item.offer),
            ],
        )
    if order.delivery_price > 0:
        # Bitrix adds delivery as a service line only when it costs something (CSaleExport, §2.6).
        line = _sub(goods, "Товар")
        _sub(line, "Ид", "ORDER_DELIVERY")
        _sub(line, "Наименование", "Доставка заказа")
        _unit(line)
        _sub(line, "ЦенаЗаЕдиницу", _money(order.delivery_price))
        _sub(line, "Количество", "1")
        _sub(line, "Сумма", _money(order.delivery_price, 2))
        _requisites(line, [("ВидНоменклатуры", "Услуга"), ("ТипНоменклатуры", "Услуга")])


def _order_requisites(doc: etree._Element, order: Order, book: OrderBook) -> None:
    pairs = [
        ("Способ доставки", order.delivery_service),
        ("Метод доставки ИД", str(book.deliveries.get(order.delivery_service, ""))),
        ("Метод оплаты", order.payment_system),
        ("Метод оплаты ИД", str(book.pay_systems.get(order.payment_system, ""))),
        ("Заказ оплачен", _bool(order.paid)),
    ]
    if order.paid:
        pairs.append(("Дата оплаты", _stamp(order.paid_at)))
    pairs.append(("Доставка разрешена", _bool(order.allow_delivery)))
    if order.allow_delivery:
        pairs.append(("Дата разрешения доставки", _stamp(order.allow_delivery_at)))
    if order.shipped:
        pairs.append(("Отгружено", "true"))
    pairs += [
        ("Отменен", _bool(order.cancelled)),
        ("Финальный статус", _bool(order.status in FINAL)),
        ("Статус заказа", f"[{order.status}] {STATUSES.get(order.status, order.status)}"),
        ("Статуса заказа ИД", order.status),  # sic: the real Bitrix key (§2.6)
        ("Дата изменения статуса", _stamp(order.status_at)),
    ]
    if order.customer_comment:
        pairs.append(("Комментарии покупателя", order.customer_comment))
    pairs += sorted(order.properties.items())  # the order's properties, by their names
    pairs.append(("Сайт", _SITE))
    _requisites(doc, pairs)


def _document(root: etree._Element, order: Order, book: OrderBook, catalog_id: str) -> None:
    doc = _sub(root, "Документ")
    _sub(doc, "Ид", str(order.id))
    _sub(doc, "Номер", order.number)
    _sub(doc, "Дата", order.created.strftime("%Y-%m-%d"))
    _sub(doc, "ХозОперация", "Заказ товара")
    _sub(doc, "Роль", "Продавец")
    _sub(doc, "Валюта", "руб")
    _sub(doc, "Курс", "1")
    _sub(doc, "Сумма", _money(order.total))
    _counterparty(doc, order)
    _sub(doc, "Время", order.created.strftime("%H:%M:%S"))
    _sub(doc, "Комментарий", order.comment)
    _goods(doc, order, catalog_id)
    _order_requisites(doc, order, book)


def _payment_document(root: etree._Element, order: Order, payment: SalePayment, book: OrderBook) -> None:
    """One payment of an order with several, as its own document bound to the order by `Основание`."""
    doc = _sub(root, "Документ")
    _sub(doc, "Ид", f"{order.xml_id}_p{order.payments.index(payment) + 1}")
    _sub(doc, "Номер", f"{order.number}/{order.payments.index(payment) + 1}")
    _sub(doc, "Дата", order.created.strftime("%Y-%m-%d"))
    cash = payment.system.lower().startswith("налич")
    _sub(doc, "ХозОперация", "Выплата наличных денег" if cash else "Выплата безналичных денег")
    _sub(doc, "Роль", "Продавец")
    _sub(doc, "Валюта", "руб")
    _sub(doc, "Курс", "1")
    _sub(doc, "Сумма", _money(order.amount(payment)))
    _sub(doc, "Основание", order.number)
    pairs = [
        ("Метод оплаты", payment.system),
        ("Метод оплаты ИД", str(book.pay_systems.get(payment.system, ""))),
        ("Оплачен", _bool(payment.paid)),
    ]
    if payment.paid:
        pairs.append(("Дата оплаты", _stamp(payment.paid_at)))
    _requisites(doc, pairs)


def orders_xml(orders: Iterable[Order], book: OrderBook, catalog_id: str, now: datetime) -> bytes:
    """Serialize `orders` as windows-1251 CommerceML 2.05, exactly one root, no BOM."""
    root = etree.Element("КоммерческаяИнформация")
    root.set("ВерсияСхемы", _ROOT_ATTRS["ВерсияСхемы"])
    root.set("ДатаФормирования", now.strftime("%Y-%m-%dT%H:%M:%S"))
    for key, value in _ROOT_ATTRS.items():
        if key != "ВерсияСхемы":
            root.set(key, value)
    for order in orders:
        _document(root, order, book, catalog_id)
        if len(order.payments) > 1:
            for payment in order.payments:
                _payment_document(root, order, payment, book)
    return cp1251_document(root)


def cp1251_document(root: etree._Element) -> bytes:
    """Serialize with the declaration Bitrix prints (double quotes), no BOM.

    Characters outside windows-1251 become `&#N;` references; libxml2's own converter silently
    drops some of them (U+E0000 and friends), so the encoding is done here.
    """
    body = etree.tostring(root, encoding="unicode", pretty_print=True)
    text = '<?xml version="1.0" encoding="windows-1251"?>\n' + body
    return text.encode("cp1251", errors="xmlcharrefreplace")
