"""The canonical entities: what an order, a counterparty or an offer *is*, whichever system holds it.

Frozen dataclasses with keyword-only fields; Decimal quantities and `Money` amounts; references to
other objects as `Ref`. Connectors map their wire formats to these (in their `mapping.py`) and the
engine sees them as flat field maps (`obmen.model.fields`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import ClassVar

from obmen.model.base import EntityType, Money, Ref

__all__ = [
    "Category",
    "Counterparty",
    "Delivery",
    "Invoice",
    "Lead",
    "Offer",
    "Order",
    "OrderLine",
    "Payment",
    "Price",
    "PriceType",
    "Product",
    "Requisites",
    "StockLevel",
    "User",
    "Warehouse",
]

_DC = {"frozen": True, "slots": True, "kw_only": True}


@dataclass(**_DC)
class Category:
    """A node of the category tree (a 1C group, a site section, a Bitrix24 catalog section)."""

    ENTITY: ClassVar[EntityType] = EntityType.CATEGORY
    name: str
    xml_id: str | None = None
    parent: Ref | None = None
    active: bool = True


@dataclass(**_DC)
class PriceType:
    """A price type (Розничная, Оптовая…)."""

    ENTITY: ClassVar[EntityType] = EntityType.PRICE_TYPE
    name: str
    currency: str = "RUB"
    xml_id: str | None = None


@dataclass(**_DC)
class Warehouse:
    """A warehouse or store."""

    ENTITY: ClassVar[EntityType] = EntityType.WAREHOUSE
    name: str
    xml_id: str | None = None


@dataclass(**_DC)
class Price:
    """The price of an offer in one price type."""

    price_type: Ref
    value: Money


@dataclass(**_DC)
class StockLevel:
    """How many units of an offer one warehouse holds."""

    warehouse: Ref
    quantity: Decimal


@dataclass(**_DC)
class Product:
    """A product card; sellable units are its offers."""

    ENTITY: ClassVar[EntityType] = EntityType.PRODUCT
    name: str
    xml_id: str | None = None
    article: str | None = None
    barcode: str | None = None
    description: str | None = None
    categories: tuple[Ref, ...] = ()
    unit: str = "шт"
    vat_rate: Decimal | None = None
    properties: tuple[tuple[str, str], ...] = ()
    images: tuple[str, ...] = ()
    active: bool = True


@dataclass(**_DC)
class Offer:
    """A sellable unit (SKU, trade offer): a product with characteristics, prices and stock."""

    ENTITY: ClassVar[EntityType] = EntityType.OFFER
    product: Ref
    name: str
    xml_id: str | None = None
    article: str | None = None
    barcode: str | None = None
    characteristics: tuple[tuple[str, str], ...] = ()
    prices: tuple[Price, ...] = ()
    stock: tuple[StockLevel, ...] = ()
    #: The price in the one price type the storefront and the CRM show (`[mapping] price_type`), and the
    #: stock over every warehouse: what a system with a single price and quantity (Bitrix24) carries.
    price: Money | None = None
    quantity: Decimal | None = None
    #: (Bitrix24 store id, quantity) of every store `[mapping] warehouses` maps 1C's warehouses to: the
    #: stock per store of a portal with inventory management (docs/configuration.md).
    store_stock: tuple[tuple[str, Decimal], ...] = ()
    active: bool = True


@dataclass(**_DC)
class Requisites:
    """An organisation's legal and bank details."""

    inn: str | None = None
    kpp: str | None = None
    ogrn: str | None = None
    legal_address: str | None = None
    bank_account: str | None = None
    bik: str | None = None


@dataclass(**_DC)
class Counterparty:
    """A customer: a person or an organisation (контрагент, contact, company)."""

    ENTITY: ClassVar[EntityType] = EntityType.COUNTERPARTY
    kind: str  # "person" | "organization"
    name: str
    phones: tuple[str, ...] = ()
    emails: tuple[str, ...] = ()
    requisites: Requisites | None = None
    address: str | None = None
    comment: str | None = None


@dataclass(**_DC)
class OrderLine:
    """One line of an order or invoice: `price` is what the buyer pays per unit (the discount taken),
    `discount` the line's discount sum, already taken; the line sums to price × quantity, to the kopeck.

    With `vat_included` false the price is net and VAT at `vat_rate` is charged on top: the line then sums
    to price × quantity plus that VAT, rounded once per line (`model/totals.py`). A line with no rate
    always reads as included.
    """

    offer: Ref | None
    name: str
    quantity: Decimal
    price: Money
    discount: Money | None = None
    vat_rate: Decimal | None = None
    vat_included: bool = True


@dataclass(**_DC)
class Delivery:
    """How an order travels to the customer."""

    service: str
    price: Money
    address: str | None = None


@dataclass(**_DC)
class Payment:
    """A payment of an order."""

    system: str
    amount: Money
    paid: bool = False
    paid_at: datetime | None = None


@dataclass(**_DC)
class Order:
    """An order ⇄ a deal ⇄ a 1C customer order."""

    ENTITY: ClassVar[EntityType] = EntityType.ORDER
    number: str
    date: datetime
    status: str
    customer: Ref | None = None
    site: str | None = None
    lines: tuple[OrderLine, ...] = ()
    delivery: Delivery | None = None
    payments: tuple[Payment, ...] = ()
    total: Money | None = None
    responsible: Ref | None = None
    comment: str | None = None
    #: The order's number in each system: (system, number), e.g. ("onec", "УТ-000123").
    external_numbers: tuple[tuple[str, str], ...] = ()
    cancelled: bool = False


@dataclass(**_DC)
class Invoice:
    """An invoice for an order (a Bitrix24 smart invoice)."""

    ENTITY: ClassVar[EntityType] = EntityType.INVOICE
    order: Ref
    stage: str
    lines: tuple[OrderLine, ...] = ()
    total: Money | None = None
    paid: bool = False
    due: date | None = None


@dataclass(**_DC)
class User:
    """A manager (a Bitrix24 user ⇄ a 1C responsible person)."""

    ENTITY: ClassVar[EntityType] = EntityType.USER
    name: str
    email: str | None = None
    active: bool = True


@dataclass(**_DC)
class Lead:
    """A request from a web form that is not an order yet."""

    ENTITY: ClassVar[EntityType] = EntityType.LEAD
    title: str
    name: str | None = None
    phones: tuple[str, ...] = ()
    emails: tuple[str, ...] = ()
    comment: str | None = None
    source: str | None = None
