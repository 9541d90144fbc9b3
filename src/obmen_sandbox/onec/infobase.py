"""The sandbox 1C's infobase: catalog, prices, stock, counterparties and customer orders, in memory.

Every change bumps a revision counter and stamps the changed object with it, the way a 1C exchange
plan registers changes: a change-only catalog run exports what was stamped after the last successful
run (docs/protocols/commerceml.md §2.3 `СодержитТолькоИзменения`), and the sale exchange uploads the orders
whose 1C-side revision is newer than the one last uploaded (§1.7 step 5).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

__all__ = [
    "DEFAULT_NAMESPACE",
    "DEFAULT_VERSION",
    "Counterparty",
    "Group",
    "Infobase",
    "Offer",
    "Order",
    "OrderLine",
    "OrderPayment",
    "Partner",
    "PriceType",
    "Product",
    "Property",
    "Warehouse",
]

DEFAULT_VERSION = "2.07"
DEFAULT_NAMESPACE = "urn:1C.ru:commerceml_2"


@dataclass
class Group:
    """A node of the groups tree (`Классификатор/Группы`)."""

    id: str
    name: str
    parent: str | None = None
    rev: int = 0


@dataclass
class Property:
    """A classifier property; `values` maps `ИдЗначения` to text for `Справочник` properties."""

    id: str
    name: str
    value_type: str = "Строка"
    values: dict[str, str] = field(default_factory=dict)
    for_offers: bool = False


@dataclass
class PriceType:
    """A price type (`ТипыЦен/ТипЦены`)."""

    id: str
    name: str
    currency: str = "RUB"


@dataclass
class Warehouse:
    """A warehouse (`Склады/Склад`)."""

    id: str
    name: str


@dataclass
class Product:
    """A product card (`Каталог/Товары/Товар`)."""

    id: str
    name: str
    article: str = ""
    barcode: str = ""
    groups: list[str] = field(default_factory=list)
    description: str = ""
    unit: str = "796"
    properties: dict[str, str] = field(default_factory=dict)
    requisites: dict[str, str] = field(default_factory=dict)
    images: list[str] = field(default_factory=list)
    deleted: bool = False
    rev: int = 0


@dataclass
class Offer:
    """An offer: the product itself (`Ид` = product) or a characteristic (`Ид` = `product#characteristic`)."""

    id: str
    name: str
    article: str = ""
    characteristics: list[tuple[str, str]] = field(default_factory=list)
    properties: dict[str, str] = field(default_factory=dict)
    prices: dict[str, Decimal] = field(default_factory=dict)
    stock: dict[str, Decimal] = field(default_factory=dict)
    quantity: Decimal | None = None
    rev: int = 0
    #: Revisions and times of the last price and stock change: the registers' records of this offer
    #: (`InformationRegister_ЦеныНоменклатуры25`, `AccumulationRegister_ТоварыНаСкладах`, onec/odata/).
    prices_rev: int = 0
    stock_rev: int = 0
    prices_at: str = "2024-01-01T00:00:00"
    stock_at: str = "2024-01-01T00:00:00"

    @property
    def product_id(self) -> str:
        """The product part of the `Ид` (§2.4: split on the first `#`)."""
        return self.id.split("#", 1)[0]

    def total(self) -> Decimal:
        """Total stock: the sum over warehouses, or the bare `Количество` when no warehouse is known."""
        if self.stock:
            return sum(self.stock.values(), Decimal(0))
        return self.quantity if self.quantity is not None else Decimal(0)


@dataclass
class Counterparty:
    """A counterparty (`Контрагент`)."""

    id: str
    name: str
    full_name: str = ""
    inn: str = ""
    kpp: str = ""
    address: str = ""
    #: `ЮрЛицо` or `ФизЛицо` (УТ 11 `ЮрФизЛицо`), and (kind, text) pairs of contact information.
    legal: str = ""
    contacts: list[tuple[str, str]] = field(default_factory=list)
    #: The business partner (`Catalog_Партнеры`) the counterparty belongs to.
    partner: str = ""
    rev: int = 0


@dataclass
class Partner:
    """A business partner (УТ 11 `Catalog_Партнеры`): the customer a counterparty and an order belong to."""

    id: str
    name: str
    rev: int = 0


@dataclass
class OrderLine:
    """One line of a customer order; `offer` is the site's `Ид` of the goods (or `ORDER_DELIVERY`)."""

    offer: str
    name: str
    quantity: Decimal
    price: Decimal
    amount: Decimal
    service: bool = False
    #: The line's VAT rate as УТ 11 names it (`НДС20`, `БезНДС`), shown over OData.
    vat: str = "НДС20"
    #: The VAT a CommerceML document gave the line (`Налоги/Налог`): its rate in percent, whether the
    #: price includes it, and the sum of VAT on top; written back as it came (§2.6).
    vat_rate: Decimal | None = None
    vat_included: bool = True
    vat_sum: Decimal | None = None
    #: The line's discount sum its document gave (`Скидки/Скидка`, taken already), written back as it came.
    discount: Decimal | None = None


@dataclass
class OrderPayment:
    """One payment of an order with several, as 1C keeps it: its own payment document (§1.11, §2.7)."""

    system: str
    amount: Decimal
    paid: bool = False


@dataclass
class Order:
    """A customer order as 1C holds it: the site's `Ид`/`Номер` plus 1C's own GUID, number and state."""

    site_id: str
    number: str
    date: str
    onec_id: str
    onec_number: str
    onec_date: str
    counterparty: str = ""
    currency: str = "RUB"
    total: Decimal = Decimal(0)
    comment: str = ""
    #: `Время` of the order's document (the site's time of day; empty for orders 1C made itself).
    time: str = ""
    lines: list[OrderLine] = field(default_factory=list)
    #: УТ 11's `ЦенаВключаетНДС`: whether the lines' prices include their VAT; when not, each line's
    #: `Сумма` is net and its `СуммаНДС` (`vat_sum`) is added to the document's sum.
    prices_include_vat: bool = True
    status: str = "N"
    posted: bool = False
    paid: bool = False
    shipped: bool = False
    cancelled: bool = False
    deleted: bool = False
    payment_number: str = ""
    payment_date: str = ""
    #: Its payments when the site's document was followed by several payment documents (else empty: the
    #: order's `paid` is its only payment).
    payments: list[OrderPayment] = field(default_factory=list)
    shipment_number: str = ""
    shipment_date: str = ""
    site_requisites: dict[str, str] = field(default_factory=dict)
    #: The order's responsible manager (`Ответственный`, a person's name as 1C's users list has it).
    responsible: str = ""
    rev: int = 0
    uploaded_rev: int = 0


@dataclass
class PaymentDocument:
    """An incoming payment as 1C's own document: a bank receipt or a cash receipt, settling one order."""

    ref: str
    cash: bool
    number: str
    date: str
    amount: Decimal = Decimal(0)
    counterparty: str = ""
    #: The order it settles (its `Ref_Key`), the one row of its `РасшифровкаПлатежа`.
    order: str = ""
    purpose: str = ""
    comment: str = ""
    posted: bool = False
    deleted: bool = False
    rev: int = 0


class Infobase:
    """All objects of the sandbox 1C, keyed by `Ид`, with change stamps."""

    def __init__(self) -> None:
        self.version = DEFAULT_VERSION
        self.namespace: str | None = DEFAULT_NAMESPACE
        self.catalog_id = ""
        self.catalog_name = "Каталог товаров"
        self.classifier_id = ""
        self.owner: Counterparty | None = None
        self.groups: dict[str, Group] = {}
        self.properties: dict[str, Property] = {}
        self.price_types: dict[str, PriceType] = {}
        self.warehouses: dict[str, Warehouse] = {}
        self.products: dict[str, Product] = {}
        self.offers: dict[str, Offer] = {}
        self.counterparties: dict[str, Counterparty] = {}
        self.orders: dict[str, Order] = {}
        self.partners: dict[str, Partner] = {}
        #: Incoming payment documents made over OData or recorded by the accountant, by `Ref_Key`.
        self.payment_documents: dict[str, PaymentDocument] = {}
        self.files: dict[str, bytes] = {}
        self.revision = 0
        self.catalog_mark = 0
        self.order_counter = 0

    def stamp(self) -> int:
        """Advance the change counter and return the new revision."""
        self.revision += 1
        return self.revision

    def offers_of(self, product_id: str) -> list[Offer]:
        """The offers that belong to one product."""
        return [offer for offer in self.offers.values() if offer.product_id == product_id]

    def find_order(self, key: str) -> Order | None:
        """An order by the site's `Ид`, the site's number, or 1C's GUID (§2.7 matching)."""
        if key in self.orders:
            return self.orders[key]
        for order in self.orders.values():
            if key in (order.number, order.onec_id):
                return order
        return None

    def price_type(self, key: str) -> PriceType | None:
        """A price type by `Ид` or by name (Bitrix matches price types by name, §2.4)."""
        return self.price_types.get(key) or next(
            (item for item in self.price_types.values() if item.name == key), None
        )

    def warehouse(self, key: str) -> Warehouse | None:
        """A warehouse by `Ид` or by name."""
        return self.warehouses.get(key) or next(
            (item for item in self.warehouses.values() if item.name == key), None
        )

    def counts(self) -> dict[str, int]:
        """How many objects of each kind the infobase holds."""
        return {
            "groups": len(self.groups),
            "properties": len(self.properties),
            "price_types": len(self.price_types),
            "warehouses": len(self.warehouses),
            "products": len(self.products),
            "offers": len(self.offers),
            "counterparties": len(self.counterparties),
            "orders": len(self.orders),
        }


def products_json(base: Infobase) -> list[dict[str, Any]]:
    """Every product card with its offers (offers grouped once, not scanned per product)."""
    grouped: dict[str, list[Offer]] = {}
    for offer in base.offers.values():
        grouped.setdefault(offer.product_id, []).append(offer)
    return [product_json(base, product, grouped.get(product.id, [])) for product in base.products.values()]


def product_json(base: Infobase, product: Product, offers: list[Offer] | None = None) -> dict[str, Any]:
    """A product card with its offers for the control API."""
    offers = base.offers_of(product.id) if offers is None else offers
    return {
        "id": product.id,
        "name": product.name,
        "article": product.article,
        "barcode": product.barcode,
        "groups": product.groups,
        "properties": product.properties,
        "deleted": product.deleted,
        "offers": [offer_json(offer) for offer in offers],
    }


def offer_json(offer: Offer) -> dict[str, Any]:
    """One offer for the control API (numbers as strings, never floats)."""
    return {
        "id": offer.id,
        "name": offer.name,
        "characteristics": [{"name": name, "value": value} for name, value in offer.characteristics],
        "prices": {key: str(value) for key, value in offer.prices.items()},
        "stock": {key: str(value) for key, value in offer.stock.items()},
        "quantity": str(offer.total()),
    }


def order_json(order: Order) -> dict[str, Any]:
    """One order for the control API."""
    return {
        "id": order.site_id,
        "number": order.number,
        "date": order.date,
        "time": order.time,
        "onec_id": order.onec_id,
        "onec_number": order.onec_number,
        "counterparty": order.counterparty,
        "currency": order.currency,
        "total": str(order.total),
        "status": order.status,
        "posted": order.posted,
        "paid": order.paid,
        "shipped": order.shipped,
        "cancelled": order.cancelled,
        #: The order's deletion mark (`DeletionMark` through OData, `ПометкаУдаления` in a document).
        "deleted": order.deleted,
        "payment_number": order.payment_number,
        "payments": [
            {"system": p.system, "amount": str(p.amount), "paid": p.paid or order.paid}
            for p in order.payments
        ],
        "shipment_number": order.shipment_number,
        "lines": [
            {"offer": line.offer, "name": line.name, "quantity": str(line.quantity), "price": str(line.price)}
            for line in order.lines
        ],
        "pending_upload": order.rev > order.uploaded_rev,
        #: What the site's document said in `ЗначенияРеквизитов` (order properties among them).
        "requisites": dict(order.site_requisites),
        "responsible": order.responsible,
    }
