"""Storefront orders: who changed them last, what was exported, and how 1C's documents update them.

Echo suppression follows Bitrix (docs/protocols/commerceml.md §1.7 point 3, §7 point 5): an order whose last
change came from 1C (`UPDATED_1C = Y`) or that was born in 1C (`EXTERNAL_ORDER`) is not exported;
an order is exported again when the site changes it after the export 1C acknowledged with `success`.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, Literal

from obmen_sandbox.site.cml import DocItem, DocumentRec

__all__ = ["STATUSES", "Customer", "Item", "Order", "OrderBook", "SalePayment"]

# Bitrix's default order statuses; F is the final one.
STATUSES = {"N": "Принят, ожидается оплата", "P": "Оплачен, формируется к отправке", "F": "Выполнен"}
FINAL = {"F"}
_TRUE = {"true", "1", "да", "y"}

Source = Literal["site", "1c", "rest"]
#: What a save touched, for the sale module's events: "order", "payment", "shipment", "property".
Parts = frozenset[str]
ALL_PARTS: Parts = frozenset({"order", "payment", "shipment", "property"})


@dataclass
class Customer:
    """The buyer: a site user identified by e-mail."""

    name: str
    email: str
    phone: str
    company: str = ""
    inn: str = ""
    user_id: int = 0


@dataclass
class Item:
    """A basket line: `price` is the final unit price, `discount` the per-unit discount already taken."""

    offer: str
    name: str
    quantity: Decimal
    price: Decimal
    discount: Decimal = Decimal(0)
    #: The basket item's id (`sale.basketitem.*`), given when the order is placed.
    id: int = 0
    #: The line's VAT rate in percent (None: no VAT) and whether `price` includes it (`VAT_INCLUDED`):
    #: when not, the VAT is added on top, rounded per line as the basket does.
    vat_rate: Decimal | None = None
    vat_included: bool = True

    @property
    def vat(self) -> Decimal:
        """The VAT added on top of the line (0 when it is included or there is none)."""
        if self.vat_included or not self.vat_rate:
            return Decimal(0)
        return (self.price * self.quantity * self.vat_rate / 100).quantize(Decimal("0.01"), ROUND_HALF_UP)

    @property
    def total(self) -> Decimal:
        """Line sum: what the buyer pays for it, VAT on top added."""
        return self.price * self.quantity + self.vat


@dataclass
class SalePayment:
    """One payment of an order (`sale_order_payment`): an order may hold several, each paid on its own.

    `sum` None is "the rest of the order": an order's only payment follows its total as lines change.
    """

    id: int
    system: str
    sum: Decimal | None = None
    paid: bool = False
    paid_at: datetime | None = None
    #: The payment document's number (`payVoucherNum`; 1C's `Номер оплаты по 1С`).
    voucher: str = ""


@dataclass
class Order:
    """A sale order with the flags the exchange reads and writes."""

    id: int
    number: str
    created: datetime
    customer: Customer
    items: list[Item]
    delivery_service: str
    delivery_price: Decimal
    payments: list[SalePayment]
    status: str = "N"
    status_at: datetime | None = None
    allow_delivery: bool = False
    allow_delivery_at: datetime | None = None
    shipped: bool = False
    cancelled: bool = False
    comment: str = ""
    customer_comment: str = ""
    external: bool = False
    version: int = 0
    updated_at: datetime | None = None
    updated_by: Source = "site"
    exported_version: int | None = None
    onec: dict[str, str] = field(default_factory=dict)
    #: The id of its one (non-system) shipment in the REST (`sale.shipment.*`; payments carry their own),
    #: and its external id (`xmlId`), as Bitrix gives them when the order is saved; an order made by
    #: `sale.order.add` has no shipment (0) and no payment until `sale.shipment.add`/`sale.payment.add`.
    shipment_id: int = 0
    xml_id: str = ""
    #: Order properties by name (`Адрес доставки`, `ИНН`…): the export lists them in `ЗначенияРеквизитов`.
    properties: dict[str, str] = field(default_factory=dict)

    @property
    def total(self) -> Decimal:
        """Order sum: lines plus delivery."""
        return sum((i.total for i in self.items), Decimal(0)) + self.delivery_price

    def amount(self, payment: SalePayment) -> Decimal:
        """A payment's sum; the open one (`sum` None) is what the others leave of the order's total."""
        if payment.sum is not None:
            return payment.sum
        return self.total - sum((p.sum for p in self.payments if p.sum is not None), Decimal(0))

    @property
    def paid(self) -> bool:
        """Bitrix's `PAYED`: the paid payments cover the order's sum (paid in full)."""
        covered = sum((self.amount(p) for p in self.payments if p.paid), Decimal(0))
        return bool(self.payments) and covered >= self.total

    @property
    def paid_at(self) -> datetime | None:
        """When the order became paid in full: its last payment's date; None while it is not."""
        return max((p.paid_at for p in self.payments if p.paid_at), default=None) if self.paid else None

    @property
    def payment_system(self) -> str:
        """The order's `PAY_SYSTEM_ID` as the legacy export names it: its first payment's system."""
        return self.payments[0].system if self.payments else ""

    def payment(self, payment_id: int) -> SalePayment | None:
        """The payment with this id, if the order holds it."""
        return next((p for p in self.payments if p.id == payment_id), None)


class OrderBook:
    """All orders, a version sequence and the registries of payment systems and delivery services."""

    def __init__(self, clock: Callable[[], datetime], import_new_orders: bool = False) -> None:
        self.clock = clock
        self.import_new_orders = import_new_orders
        self.orders: dict[int, Order] = {}
        self.pay_systems: dict[str, int] = {"Наличными курьеру": 1, "Банковской картой онлайн": 2, "Счет": 3}
        self.deliveries: dict[str, int] = {"Самовывоз": 1, "Доставка курьером": 2}
        self.users: dict[str, int] = {}
        #: Site users by id (the buyers of orders, and users registered through the control API).
        self.people: dict[int, Customer] = {}
        self._seq = 0
        self._ids = {"basket": 0, "payment": 0, "shipment": 0}
        #: Told of every save: the order and what the save touched (a new order: everything).
        self.listener: Callable[[Order, Parts], None] | None = None

    def next_id(self, kind: str) -> int:
        """The next id of a basket item, a payment or a shipment."""
        return self._next(kind)

    def saved(self, order: Order, parts: Parts) -> None:
        """A REST call saved `order` (its `parts`): version, stamp and the sale events."""
        self._touch(order, "rest", parts)

    def _next(self, kind: str) -> int:
        self._ids[kind] += 1
        return self._ids[kind]

    def _born(self, order: Order) -> None:
        """Give a new order the ids Bitrix gives on its first save."""
        for item in order.items:
            item.id = self._next("basket")
        for payment in order.payments:
            payment.id = self._next("payment")
        order.shipment_id = self._next("shipment")
        order.xml_id = f"bx_{order.id:013x}"

    def _touch(self, order: Order, by: Source, parts: Parts = ALL_PARTS) -> None:
        self._seq += 1
        # Bitrix counts an order's saves in its VERSION; REST and the exchange read it.
        order.version, order.updated_at = self._seq, self.clock()
        # A REST call is the site's own change as far as the 1C exchange is concerned (§1.7 point 3).
        order.updated_by = "site" if by == "rest" else by
        if self.listener is not None and parts:
            self.listener(order, parts)

    def _user(self, customer: Customer) -> None:
        key = customer.email or customer.name
        customer.user_id = self.users.setdefault(key, len(self.users) + 1)
        self.people.setdefault(customer.user_id, customer)

    def register(self, customer: Customer) -> int:
        """A site user (the same e-mail is the same user); returns the user's id."""
        self._user(customer)
        return customer.user_id

    def create(
        self,
        customer: Customer,
        items: list[Item],
        delivery: tuple[str, Decimal],
        payment: str | list[tuple[str, Decimal | None]],
    ) -> Order:
        """Place an order on the storefront: one payment system for the whole order, or several
        (system, sum) payments, at most one of them with sum None (the rest of the order)."""
        self._user(customer)
        splits = [(payment, None)] if isinstance(payment, str) else payment
        for system, _ in splits:
            self.pay_systems.setdefault(system, len(self.pay_systems) + 1)
        self.deliveries.setdefault(delivery[0], len(self.deliveries) + 1)
        oid = max(self.orders, default=0) + 1
        now = self.clock()
        payments = [SalePayment(0, system, amount) for system, amount in splits]
        order = Order(oid, str(oid), now, customer, items, delivery[0], delivery[1], payments, status_at=now)
        self.orders[oid] = order
        self._born(order)
        self._touch(order, "site")
        return order

    def patch(self, order: Order, changes: dict[str, Any], by: Source = "site") -> None:
        """A manager edits the order in the admin panel, or a REST call does (values already validated)."""
        now = self.clock()
        parts = {"order"}
        if "status" in changes and changes["status"] != order.status:
            order.status, order.status_at = changes["status"], now
        # `paid` pays (or unpays) every payment; `pay` ({payment id: flag}) the ones it names.
        wanted = {p.id: changes["paid"] for p in order.payments} if "paid" in changes else {}
        wanted.update(changes.get("pay") or {})
        for payment in order.payments:
            if payment.id in wanted and wanted[payment.id] != payment.paid:
                payment.paid, payment.paid_at = wanted[payment.id], now if wanted[payment.id] else None
                parts.add("payment")
        for payment_id, number in (changes.get("vouchers") or {}).items():
            found = order.payment(payment_id)
            if found is not None and found.voucher != number:
                found.voucher = number
                parts.add("payment")
        if "allow_delivery" in changes and changes["allow_delivery"] != order.allow_delivery:
            order.allow_delivery = changes["allow_delivery"]
            order.allow_delivery_at = now if order.allow_delivery else None
            parts.add("shipment")
        if "shipped" in changes and changes["shipped"] != order.shipped:
            parts.add("shipment")
        for key in ("cancelled", "comment", "shipped", "customer_comment"):
            if key in changes:
                setattr(order, key, changes[key])
        if changes.get("properties"):
            order.properties.update(changes["properties"])
            parts.add("property")
        if "items" in changes:
            self._rebasket(order, changes["items"])
        for key, part in (
            ("payment_number", "payment"),
            ("shipment_number", "shipment"),
            ("number", "order"),
        ):
            if key in changes:
                order.onec[key] = changes[key]
                parts.add(part)
        self._touch(order, by, frozenset(parts))

    def _rebasket(self, order: Order, items: list[Item]) -> None:
        """The basket as it is left: a line kept keeps its basket item's id, a new one is given one."""
        held: dict[str, list[int]] = {}
        for item in order.items:
            held.setdefault(item.offer, []).append(item.id)
        for item in items:
            kept = held.get(item.offer) or []
            # One basket item per line: the same offer twice is two lines, each with an id of its own.
            if item.id in kept:
                kept.remove(item.id)
            else:
                item.id = kept.pop(0) if kept else self._next("basket")
        order.items = items

    def to_export(self) -> list[Order]:
        """Orders a `query` returns: changed on the site and not yet acknowledged at this version."""
        return [
            o
            for o in self.orders.values()
            if o.updated_by == "site"
            and not o.external
            and (o.exported_version is None or o.version > o.exported_version)
        ]

    def acknowledge(self, versions: dict[int, int]) -> None:
        """1C sent `success`: the orders it received are exported at the versions it saw."""
        for oid, version in versions.items():
            order = self.orders.get(oid)
            if order is not None:
                order.exported_version = max(order.exported_version or 0, version)

    def find(self, doc: DocumentRec) -> Order | None:
        """Bitrix looks an order up by `Номер` (ACCOUNT_NUMBER), then by the stored 1C `Ид` (§2.7)."""
        for order in self.orders.values():
            if doc.number and order.number == doc.number:
                return order
        for order in self.orders.values():
            if doc.xml_id and order.onec.get("id") == doc.xml_id:
                return order
        return None

    def apply_document(self, doc: DocumentRec, offers: dict[str, str]) -> str:
        """Apply one 1C document; returns "updated", "created" or "skipped"."""
        order = self.find(doc)
        if order is None:
            if not self.import_new_orders or not doc.items:
                return "skipped"
            order = self._from_document(doc, offers)
            result = "created"
        else:
            result = "updated"
        before = _parts_state(order)
        if result == "updated":
            self._apply_goods(order, doc, offers)
        self._apply_requisites(order, doc)
        after = _parts_state(order)
        touched = {part for part in before if before[part] != after[part]}
        parts = ALL_PARTS if result == "created" else frozenset(touched | {"order"})
        self._touch(order, "1c", parts)
        return result

    def _from_document(self, doc: DocumentRec, offers: dict[str, str]) -> Order:
        # Bitrix creates orders born in 1C only with 1C_IMPORT_NEW_ORDERS=Y and marks them external.
        delivery = [i for i in doc.items if i.xml_id == "ORDER_DELIVERY"]
        items = [
            Item(i.xml_id, offers.get(i.xml_id, i.name), i.quantity, i.price)
            for i in doc.items
            if i.xml_id != "ORDER_DELIVERY"
        ]
        customer = Customer(doc.counterparty, "", "")
        self._user(customer)
        oid = max(self.orders, default=0) + 1
        now = self.clock()
        price = delivery[0].price if delivery else Decimal(0)
        payments = [SalePayment(0, "")]
        order = Order(oid, doc.number or str(oid), now, customer, items, "", price, payments, external=True)
        order.status_at = now
        self.orders[oid] = order
        self._born(order)
        return order

    def _apply_goods(self, order: Order, doc: DocumentRec, offers: dict[str, str]) -> None:
        """1C's lines replace the basket of an order the site still lets change (§2.7): not in a final
        status, not paid, not allowed for delivery; the delivery line sets the delivery's price."""
        if order.status in FINAL or order.paid or order.allow_delivery or not doc.items:
            return
        goods = [i for i in doc.items if i.xml_id != "ORDER_DELIVERY"]
        if not goods:
            return
        held = {item.offer: item for item in order.items}
        items = [_line(i, held.get(i.xml_id), offers) for i in goods]
        if [(i.offer, i.quantity, i.price) for i in items] != [
            (i.offer, i.quantity, i.price) for i in order.items
        ]:
            self._rebasket(order, items)
        delivery = next((i for i in doc.items if i.xml_id == "ORDER_DELIVERY"), None)
        if delivery is not None:
            order.delivery_price = delivery.price

    def _apply_requisites(self, order: Order, doc: DocumentRec) -> None:
        req, now = doc.requisites, self.clock()
        order.onec["id"] = doc.xml_id
        for key, name in (
            ("number", "Номер по 1С"),
            ("date", "Дата по 1С"),
            ("payment_number", "Номер оплаты по 1С"),
            ("shipment_number", "Номер отгрузки по 1С"),
            ("posted", "Проведен"),
        ):
            if req.get(name):
                order.onec[key] = req[name]
        # The order's requisites speak of the order as a whole (§2.7): `Оплачен` pays every payment.
        if _flag(req, "Оплачен") or bool(req.get("Номер оплаты по 1С")):
            for payment in order.payments:
                if not payment.paid:
                    payment.paid, payment.paid_at = True, now
        shipped = _flag(req, "Отгружен") or bool(req.get("Номер отгрузки по 1С"))
        if shipped:
            order.shipped = True
        if (shipped or _flag(req, "Доставка разрешена")) and not order.allow_delivery:
            order.allow_delivery, order.allow_delivery_at = True, now
        if _flag(req, "Отменен") or _flag(req, "ПометкаУдаления"):
            order.cancelled = True
        status = _status_letter(req)
        if status is not None and status != order.status:
            order.status, order.status_at = status, now


def _line(doc_item: DocItem, held: Item | None, offers: dict[str, str]) -> Item:
    """A basket line for a document's line: a kept line keeps its name, and its discount at its price."""
    name = held.name if held is not None else offers.get(doc_item.xml_id, doc_item.name)
    discount = held.discount if held is not None and held.price == doc_item.price else Decimal(0)
    return Item(
        doc_item.xml_id,
        name,
        doc_item.quantity,
        doc_item.price,
        discount,
        vat_rate=doc_item.vat_rate,
        vat_included=doc_item.vat_included,
    )


def _parts_state(order: Order) -> dict[str, tuple[Any, ...]]:
    """What each entity of an order holds, to tell which ones a save changed."""
    return {
        "payment": (tuple(p.paid for p in order.payments), order.onec.get("payment_number")),
        "shipment": (order.allow_delivery, order.shipped, order.onec.get("shipment_number")),
    }


def _flag(req: dict[str, str], name: str) -> bool:
    return req.get(name, "").strip().lower() in _TRUE


def _status_letter(req: dict[str, str]) -> str | None:
    """`Статуса заказа ИД` (sic, §2.6) or `Статус заказа` as `[N] name` or a known name; else None."""
    letter = req.get("Статуса заказа ИД", "").strip()
    if letter in STATUSES:
        return letter
    text = req.get("Статус заказа", "").strip()
    match = re.match(r"\[(\w+)\]", text)
    if match and match.group(1) in STATUSES:
        return match.group(1)
    by_name = {name: key for key, name in STATUSES.items()}
    return by_name.get(text)  # unknown names (1C's `Открыт`) leave the status as it is
