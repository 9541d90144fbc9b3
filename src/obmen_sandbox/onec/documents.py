"""Order documents: reading a site's `mode=query` answer (and 1C order files), writing 1C's documents back.

Reading follows docs/protocols/commerceml.md §2.6 (Bitrix 2.05 answer, windows-1251 or UTF-8) and the 2.10
form
where each order travels in a `Контейнер` together with its payment and shipment documents (§1.11).
Writing follows §2.7 (the real 1C file: `Номер по 1С`, `Проведен`, payment and shipment numbers).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal

from lxml import etree

from obmen_sandbox.onec.cml import (
    CmlError,
    child,
    children,
    decimal,
    local,
    parse_bytes,
    requisites,
    serialize,
    text,
)
from obmen_sandbox.onec.infobase import Counterparty, Infobase, Order, OrderLine, OrderPayment

__all__ = ["IncomingOrder", "apply_incoming", "read_document", "read_query_answer", "write_documents"]

# §2.7 names understood by the Bitrix loader; `ХозОперация` values that are not the order itself.
_ORDER = "Заказ товара"
_PAYMENTS = {"Выплата безналичных денег", "Выплата наличных денег", "Эквайринговая операция"}
_SHIPMENT = "Отпуск товара"
_TRUE = {"true", "да", "y", "1"}
_STATUS_NAMES = {"N": "Принят", "P": "Оплачен, формируется к отправке", "F": "Выполнен"}
_ONEC_NAMESPACE = uuid.UUID("6f1c7a2e-0c1b-4bb8-9d0a-1c0000000000")


@dataclass
class IncomingOrder:
    """One order read from an order document, before it is matched against the infobase."""

    doc_id: str
    number: str
    date: str
    currency: str
    total: Decimal
    comment: str
    counterparty: Counterparty | None
    lines: list[OrderLine]
    values: dict[str, str]
    paid: bool = False
    #: `Время` beside `Дата` (docs/protocols/commerceml.md §2.6): the time of day the order was placed.
    time: str = ""
    shipped: bool = False
    extra: list[str] = field(default_factory=list)
    #: The payment documents that came with the order, when there were several (§1.11).
    payments: list[OrderPayment] = field(default_factory=list)

    @property
    def from_onec(self) -> bool:
        """A document written by 1C carries `Номер по 1С` (§2.7); a site's answer does not (§2.6)."""
        return "Номер по 1С" in self.values


def _flag(values: dict[str, str], name: str) -> bool:
    return values.get(name, "").strip().lower() in _TRUE


def _counterparty(document: etree._Element) -> Counterparty | None:
    block = child(document, "Контрагенты")
    if block is None:
        return None
    for item in children(block, "Контрагент"):
        if text(item, "Роль") in ("", "Покупатель"):
            name = text(item, "Наименование") or text(item, "ПолноеНаименование") or text(item, "Ид")
            return Counterparty(
                id=text(item, "Ид"),
                name=name,
                full_name=text(item, "ПолноеНаименование") or text(item, "ОфициальноеНаименование"),
                inn=text(item, "ИНН"),
                kpp=text(item, "КПП"),
                address=text(item, "АдресРегистрации", "Представление"),
            )
    return None


def _lines(document: etree._Element, where: str) -> list[OrderLine]:
    block = child(document, "Товары")
    found: list[OrderLine] = []
    if block is None:
        return found
    for item in children(block, "Товар"):
        kind = requisites(item).get("ТипНоменклатуры", "")
        quantity = decimal(text(item, "Количество") or "0", f"{where} Количество")
        price = decimal(text(item, "ЦенаЗаЕдиницу") or "0", f"{where} ЦенаЗаЕдиницу")
        amount_text = text(item, "Сумма")
        amount = decimal(amount_text, f"{where} Сумма") if amount_text else price * quantity
        line = OrderLine(
            text(item, "Ид"), text(item, "Наименование"), quantity, price, amount, kind == "Услуга"
        )
        found.append(_with_vat(line, item, where))
    return found


def _with_vat(line: OrderLine, item: etree._Element, where: str) -> OrderLine:
    """The line with the VAT its `Налоги` name (НДС with a numeric `Ставка`) and the discounts its
    `Скидки` sum, if any."""
    discounts = child(item, "Скидки")
    for discount in children(discounts, "Скидка") if discounts is not None else ():
        total = text(discount, "Сумма")
        if total:
            line.discount = (line.discount or Decimal(0)) + decimal(total, f"{where} Скидка Сумма")
    taxes = child(item, "Налоги")
    for tax in children(taxes, "Налог") if taxes is not None else ():
        rate = text(tax, "Ставка")
        if text(tax, "Наименование").upper() == "НДС" and rate.replace(".", "", 1).isdigit():
            line.vat_rate = decimal(rate, f"{where} Ставка")
            line.vat_included = text(tax, "УчтеноВСумме") != "false"
            total = text(tax, "Сумма")
            line.vat_sum = decimal(total, f"{where} Налог Сумма") if total else None
            break
    return line


def read_document(document: etree._Element) -> IncomingOrder:
    """Read one `Документ` with `ХозОперация` = `Заказ товара`."""
    where = f"Документ {text(document, 'Ид') or '?'}"
    values = requisites(document)
    return IncomingOrder(
        doc_id=text(document, "Ид"),
        number=text(document, "Номер"),
        date=text(document, "Дата"),
        currency=text(document, "Валюта") or "RUB",
        total=decimal(text(document, "Сумма") or "0", f"{where} Сумма"),
        comment=text(document, "Комментарий"),
        counterparty=_counterparty(document),
        lines=_lines(document, where),
        values=values,
        paid=_flag(values, "Заказ оплачен")
        or _flag(values, "Оплачен")
        or bool(values.get("Номер оплаты по 1С")),
        shipped=_flag(values, "Отгружен") or bool(values.get("Номер отгрузки по 1С")),
        time=text(document, "Время"),
    )


def _documents(root: etree._Element) -> list[list[etree._Element]]:
    """Groups of `Документ` elements: one per `Контейнер` (2.10), or one per bare document (2.05); a bare
    payment document whose `Основание` is the order before it belongs to that order (§1.11, §2.7)."""
    groups: list[list[etree._Element]] = []
    for item in root:
        if local(item) == "Документ":
            if groups and text(item, "ХозОперация") in _PAYMENTS and _basis_of(groups[-1], item):
                groups[-1].append(item)
            else:
                groups.append([item])
        elif local(item) == "Контейнер":
            groups.append(list(children(item, "Документ")))
    return groups


def _basis_of(group: list[etree._Element], payment: etree._Element) -> bool:
    order = group[0]
    basis = text(payment, "Основание")
    return bool(basis) and (text(order, "ХозОперация") or _ORDER) == _ORDER and basis == text(order, "Номер")


def _payment(item: etree._Element) -> OrderPayment:
    """A payment document; one without `Оплачен` (2.10's container) is a payment made."""
    values = requisites(item)
    paid = _flag(values, "Оплачен") if "Оплачен" in values else True
    amount = decimal(text(item, "Сумма") or "0", f"Документ {text(item, 'Ид') or '?'} Сумма")
    return OrderPayment(values.get("Метод оплаты", "").strip(), amount, paid)


def read_query_answer(data: bytes) -> list[IncomingOrder]:
    """Parse a site's `type=sale&mode=query` answer (§2.6); payment and shipment documents mark their
    order."""
    root = parse_bytes(data, "the mode=query answer")
    if local(root) != "КоммерческаяИнформация":
        raise CmlError(
            f"the mode=query answer: root element is <{local(root)}>, not <КоммерческаяИнформация>"
        )
    orders: list[IncomingOrder] = []
    for group in _documents(root):
        operations = [(text(item, "ХозОперация") or _ORDER, item) for item in group]
        main = [read_document(item) for operation, item in operations if operation == _ORDER]
        payments = [_payment(item) for operation, item in operations if operation in _PAYMENTS]
        for order in main:
            # Paid is paid in full: every payment document says paid.
            order.paid = order.paid or (bool(payments) and all(p.paid for p in payments))
            order.shipped = order.shipped or any(operation == _SHIPMENT for operation, _ in operations)
            order.payments = payments if len(payments) > 1 else []
        orders.extend(main)
    return orders


def _onec_number(base: Infobase) -> str:
    base.order_counter += 1
    return f"ОБ-{base.order_counter:06d}"


def apply_incoming(base: Infobase, incoming: IncomingOrder, today: str) -> tuple[Order, bool]:
    """Store or update an order (matched by site `Ид`, then `Номер`); returns (order, created)."""
    site_id = incoming.number if incoming.from_onec else incoming.doc_id
    order = base.find_order(site_id) or (base.find_order(incoming.number) if incoming.number else None)
    created = order is None
    if order is None:
        onec_id = (
            incoming.doc_id if incoming.from_onec else str(uuid.uuid5(_ONEC_NAMESPACE, f"order:{site_id}"))
        )
        number = incoming.values.get("Номер по 1С", "").strip() or _onec_number(base)
        order = Order(site_id, incoming.number, incoming.date, onec_id, number, today)
        base.orders[site_id] = order
    if incoming.counterparty is not None and incoming.counterparty.id:
        base.counterparties[incoming.counterparty.id] = incoming.counterparty
        order.counterparty = incoming.counterparty.id
    order.number, order.date, order.currency = incoming.number, incoming.date, incoming.currency
    order.time = incoming.time
    order.total, order.comment, order.lines = incoming.total, incoming.comment, incoming.lines
    order.site_requisites = incoming.values
    order.paid = order.paid or incoming.paid
    order.payments = _payments(order.payments, incoming.payments)
    order.shipped = order.shipped or incoming.shipped
    order.cancelled = _flag(incoming.values, "Отменен") or order.cancelled
    if order.rev <= order.uploaded_rev:
        # A status set in 1C and not uploaded yet wins over the site's; otherwise the site's is news.
        order.status = incoming.values.get("Статуса заказа ИД", "").strip() or order.status
        order.responsible = incoming.values.get("Ответственный", "").strip() or order.responsible
    if incoming.from_onec:
        order.posted = _flag(incoming.values, "Проведен")
        order.deleted = _flag(incoming.values, "ПометкаУдаления")
        order.payment_number = incoming.values.get("Номер оплаты по 1С", "").strip()
        order.shipment_number = incoming.values.get("Номер отгрузки по 1С", "").strip()
    if created:
        # 1C writes a new order with its own number; registering that change sends `Номер по 1С`
        # back to the site on the same run (§2.7), the way UT registers a written document.
        order.rev = base.stamp()
        order.uploaded_rev = 0 if not incoming.from_onec else order.rev
    return order, created


def _el(parent: etree._Element, name: str, value: str | None = None) -> etree._Element:
    item = etree.SubElement(parent, name)
    if value is not None:
        item.text = value
    return item


def _requisite(block: etree._Element, name: str, value: str) -> None:
    item = _el(block, "ЗначениеРеквизита")
    _el(item, "Наименование", name)
    _el(item, "Значение", value)


def _document(root: etree._Element, base: Infobase, order: Order) -> None:
    doc = _el(root, "Документ")
    for name, value in (
        ("Ид", order.onec_id),
        ("Номер", order.number),
        ("Дата", order.date or order.onec_date),
        ("ХозОперация", _ORDER),
        ("Роль", "Продавец"),
        ("Валюта", order.currency),
        ("Курс", "1"),
        ("Сумма", f"{order.total:.2f}"),
    ):
        _el(doc, name, value)
    party = base.counterparties.get(order.counterparty)
    if party is not None:
        agent = _el(_el(doc, "Контрагенты"), "Контрагент")
        _el(agent, "Ид", party.id)
        _el(agent, "Наименование", party.name)
        _el(agent, "ПолноеНаименование", party.full_name or party.name)
        _el(agent, "Роль", "Покупатель")
    if order.time:
        # After Контрагенты, as the schema orders them; without it the order reads as placed at midnight.
        _el(doc, "Время", order.time)
    _el(doc, "Комментарий", order.comment)
    goods = _el(doc, "Товары")
    for line in order.lines:
        item = _el(goods, "Товар")
        _el(item, "Ид", line.offer)
        _el(item, "Наименование", line.name)
        unit = _el(item, "БазоваяЕдиница", "шт")
        for key, value in (
            ("Код", "796"),
            ("НаименованиеПолное", "Штука"),
            ("МеждународноеСокращение", "PCE"),
        ):
            unit.set(key, value)
        kind = "Услуга" if line.service else "Товар"  # the delivery line is a service (§2.6)
        values = _el(item, "ЗначенияРеквизитов")
        _requisite(values, "ВидНоменклатуры", kind)
        _requisite(values, "ТипНоменклатуры", kind)
        _el(item, "ЦенаЗаЕдиницу", f"{line.price:.2f}")
        _el(item, "Количество", f"{line.quantity:.2f}")
        _el(item, "Сумма", f"{line.amount:.2f}")
        if line.discount is not None:
            discount = _el(_el(item, "Скидки"), "Скидка")
            _el(discount, "Наименование", "Скидка")
            _el(discount, "Сумма", f"{line.discount:.2f}")
            _el(discount, "УчтеноВСумме", "true")
        if line.vat_rate is not None:
            tax = _el(_el(item, "Налоги"), "Налог")
            _el(tax, "Наименование", "НДС")
            _el(tax, "УчтеноВСумме", "true" if line.vat_included else "false")
            if line.vat_sum is not None:
                _el(tax, "Сумма", f"{line.vat_sum:.2f}")
            _el(tax, "Ставка", f"{line.vat_rate:f}")
    _order_requisites(_el(doc, "ЗначенияРеквизитов"), order)


def _order_requisites(block: etree._Element, order: Order) -> None:
    """§2.7 requisites; payment and shipment numbers only once they exist, as in the real 1C file."""
    _requisite(block, "Номер по 1С", order.onec_number)
    _requisite(block, "Дата по 1С", order.onec_date)
    _requisite(block, "ПометкаУдаления", "true" if order.deleted else "false")
    _requisite(block, "Проведен", "true" if order.posted else "false")
    _requisite(block, "Статус заказа", _STATUS_NAMES.get(order.status, order.status))
    _requisite(block, "Статуса заказа ИД", order.status)
    _requisite(block, "Отменен", "true" if order.cancelled else "false")
    if order.responsible:
        _requisite(block, "Ответственный", order.responsible)
    if order.paid:
        _requisite(block, "Номер оплаты по 1С", order.payment_number)
        _requisite(block, "Дата оплаты по 1С", order.payment_date)
    if order.shipped:
        _requisite(block, "Номер отгрузки по 1С", order.shipment_number)
        _requisite(block, "Дата отгрузки по 1С", order.shipment_date)


def _payments(held: list[OrderPayment], incoming: list[OrderPayment]) -> list[OrderPayment]:
    """The site's payments; one 1C had already recorded paid stays paid (a payment is a fact)."""
    kept = {(p.system, p.amount) for p in held if p.paid}
    return [OrderPayment(p.system, p.amount, p.paid or (p.system, p.amount) in kept) for p in incoming]


def _payment_documents(root: etree._Element, order: Order) -> None:
    """One payment document per payment of an order with several, after the order (§1.11, §2.7)."""
    for index, payment in enumerate(order.payments, 1):
        doc = _el(root, "Документ")
        cash = payment.system.lower().startswith("налич")
        paid = payment.paid or order.paid
        for name, value in (
            ("Ид", str(uuid.uuid5(_ONEC_NAMESPACE, f"payment:{order.onec_id}:{index}"))),
            ("Номер", f"{order.onec_number}/{index}"),
            ("Дата", order.onec_date),
            ("ХозОперация", "Выплата наличных денег" if cash else "Выплата безналичных денег"),
            ("Роль", "Продавец"),
            ("Валюта", order.currency),
            ("Курс", "1"),
            ("Сумма", f"{payment.amount:.2f}"),
            ("Основание", order.number),
        ):
            _el(doc, name, value)
        block = _el(doc, "ЗначенияРеквизитов")
        _requisite(block, "Метод оплаты", payment.system)
        _requisite(block, "Оплачен", "true" if paid else "false")
        if paid:
            _requisite(block, "Дата оплаты по 1С", order.payment_date or order.onec_date)


def write_documents(base: Infobase, orders: list[Order], version: str, now: datetime) -> bytes:
    """1C's documents file for the given orders (UTF-8 with a BOM, as UT 11 uploads, §1.9)."""
    root = etree.Element("КоммерческаяИнформация")
    root.set("ВерсияСхемы", version)
    root.set("ДатаФормирования", now.strftime("%Y-%m-%dT%H:%M:%S"))
    for order in orders:
        _document(root, base, order)
        _payment_documents(root, order)
    return serialize(root)


def today_text(now: date) -> str:
    """A CommerceML date (`yyyy-MM-dd`)."""
    return now.strftime("%Y-%m-%d")
