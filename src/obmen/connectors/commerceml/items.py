"""What the CommerceML reader yields and the writer takes: frozen codec records, not canonical entities.

Values stay close to the wire: `Ид` is an opaque string, numbers are `Decimal`, dates are the text 1C
wrote (they come in several shapes, docs/protocols/commerceml.md §2.1). `mapping.py` turns these into
canonical
field maps; `writer.py` writes them back.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum

__all__ = [
    "Address",
    "Counterparty",
    "Discount",
    "Document",
    "DocumentKind",
    "DocumentLine",
    "FileInfo",
    "Group",
    "Item",
    "Offer",
    "OfferPrice",
    "PriceType",
    "Product",
    "Property",
    "PropertyValue",
    "Section",
    "SectionKind",
    "StockEntry",
    "Tax",
    "Unchanged",
    "Warehouse",
]

_DC = {"frozen": True, "slots": True, "kw_only": True}

#: (name, value) pairs: `ЗначенияРеквизитов`, `ХарактеристикиТовара`, `Контакты`.
Pairs = tuple[tuple[str, str], ...]


class DocumentKind(StrEnum):
    """What a CommerceML file carries, detected by its content (docs/protocols/commerceml.md §1.11)."""

    CLASSIFIER = "classifier"  # only `Классификатор` (split into its own file)
    CATALOG = "catalog"  # `Каталог` (with or without a classifier before it)
    OFFERS = "offers"  # `ПакетПредложений` (offers, prices-only and rests-only files alike)
    OFFERS_CHANGES = "offers_changes"  # `ИзмененияПакетаПредложений` (2.09+)
    DOCUMENTS = "documents"  # `Документ` elements: orders, payments, shipments
    COUNTERPARTIES = "counterparties"  # `Контрагенты` under the root: 1C's counterparties alone
    EMPTY = "empty"  # a root without children (an empty `mode=query` answer)


class SectionKind(StrEnum):
    """A top-level part of a file."""

    CLASSIFIER = "classifier"
    CATALOG = "catalog"
    OFFERS = "offers"
    OFFERS_CHANGES = "offers_changes"


@dataclass(**_DC)
class FileInfo:
    """The first item of every file: its kind and root attributes."""

    kind: DocumentKind
    schema_version: str
    generated_at: str | None = None
    namespace: str | None = None


@dataclass(**_DC)
class Section:
    """The header of a `Классификатор`, `Каталог` or `ПакетПредложений`, yielded before its content."""

    kind: SectionKind
    id: str
    name: str = ""
    classifier_id: str | None = None
    catalog_id: str | None = None
    #: `СодержитТолькоИзменения="true"`: a delta; missing objects must not be deactivated (§2.3).
    changes_only: bool = False


@dataclass(**_DC)
class Group:
    """A classifier group; parents are yielded before their children."""

    id: str
    name: str
    parent_id: str | None = None
    deleted: bool = False


@dataclass(**_DC)
class PropertyValue:
    """One entry of a `Справочник` property (`ИдЗначения` → `Значение`)."""

    id: str
    value: str


@dataclass(**_DC)
class Property:
    """A classifier property with its value dictionary."""

    id: str
    name: str
    value_type: str = "Строка"
    for_offers: bool = False
    values: tuple[PropertyValue, ...] = ()


@dataclass(**_DC)
class PriceType:
    """`ТипЦены`."""

    id: str
    name: str
    currency: str = "RUB"
    tax_name: str | None = None
    tax_included: bool | None = None


@dataclass(**_DC)
class Warehouse:
    """`Склад` of a classifier or an offers package."""

    id: str
    name: str
    address: str | None = None


@dataclass(**_DC)
class Tax:
    """`СтавкаНалога` of a product, or `Налог` of a document line."""

    name: str
    rate: Decimal | None = None
    amount: Decimal | None = None
    included: bool | None = None


@dataclass(**_DC)
class Product:
    """`Каталог/Товары/Товар`. `properties` holds raw values: a `Справочник` value is its `ИдЗначения`."""

    id: str
    name: str
    article: str | None = None
    barcode: str | None = None
    unit: str | None = None
    unit_code: str | None = None
    group_ids: tuple[str, ...] = ()
    description: str | None = None
    images: tuple[str, ...] = ()
    properties: Pairs = ()
    requisites: Pairs = ()
    taxes: tuple[Tax, ...] = ()
    #: `<Статус>Удален</Статус>` or `ПометкаУдаления` true.
    deleted: bool = False
    #: Digest of the raw element, set only when `read(..., known=…)` asks for digests.
    digest: str | None = None


@dataclass(**_DC)
class OfferPrice:
    """`Цена` of an offer in one price type."""

    price_type_id: str
    value: Decimal
    currency: str | None = None
    unit: str | None = None
    ratio: Decimal | None = None


@dataclass(**_DC)
class StockEntry:
    """Units of an offer in one warehouse."""

    warehouse_id: str
    quantity: Decimal


@dataclass(**_DC)
class Offer:
    """`Предложение`: `Ид` is `product#characteristic`, or the bare product `Ид` (no characteristics)."""

    id: str
    product_id: str
    characteristic_id: str | None = None
    name: str = ""
    article: str | None = None
    barcode: str | None = None
    characteristics: Pairs = ()
    properties: Pairs = ()
    prices: tuple[OfferPrice, ...] = ()
    #: `<Количество>` (the total); None when the file does not say.
    quantity: Decimal | None = None
    #: Per warehouse, from `<Склад ИдСклада КоличествоНаСкладе/>` or `<Остатки><Остаток><Склад>`.
    stock: tuple[StockEntry, ...] = ()
    deleted: bool = False
    #: Digest of the raw element, set only when `read(..., known=…)` asks for digests.
    digest: str | None = None


@dataclass(**_DC)
class Unchanged:
    """A product or offer whose raw digest the caller already knows (`read(..., known=…)`): not parsed."""

    kind: str  # "product" | "offer"
    id: str
    digest: str


@dataclass(**_DC)
class Address:
    """An address: its `Представление` and the `АдресноеПоле` parts (type, value)."""

    text: str = ""
    fields: Pairs = ()


@dataclass(**_DC)
class Counterparty:
    """`Контрагент` of a document."""

    id: str
    name: str = ""
    role: str | None = None
    full_name: str | None = None
    official_name: str | None = None
    last_name: str | None = None
    first_name: str | None = None
    inn: str | None = None
    kpp: str | None = None
    address: Address | None = None
    legal_address: Address | None = None
    #: (`Тип`, `Значение`) of `Контакты/Контакт`, e.g. ("Почта", "a@b.ru"), ("ТелефонРабочий", "+7…").
    contacts: Pairs = ()


@dataclass(**_DC)
class Discount:
    """`Скидка` of a line or a document."""

    name: str
    amount: Decimal
    included: bool = True


@dataclass(**_DC)
class DocumentLine:
    """`Документ/Товары/Товар`; the delivery is a line with `Ид` = `ORDER_DELIVERY` (§2.6)."""

    id: str
    name: str
    quantity: Decimal
    price: Decimal
    total: Decimal | None = None
    catalog_id: str | None = None
    article: str | None = None
    unit: str | None = None
    discounts: tuple[Discount, ...] = ()
    taxes: tuple[Tax, ...] = ()
    requisites: Pairs = ()
    unit_code: str | None = None


@dataclass(**_DC)
class Document:
    """`Документ`: an order (site → 1C, §2.6) or 1C's document back to the site (§2.7)."""

    id: str
    number: str
    date: str
    operation: str = "Заказ товара"
    role: str = "Продавец"
    currency: str = "RUB"
    rate: Decimal = Decimal(1)
    total: Decimal = Decimal(0)
    time: str | None = None
    comment: str | None = None
    counterparties: tuple[Counterparty, ...] = ()
    lines: tuple[DocumentLine, ...] = ()
    discounts: tuple[Discount, ...] = ()
    taxes: tuple[Tax, ...] = ()
    #: `ЗначенияРеквизитов`: `Статус заказа`, `Номер по 1С`, `Проведен`, `Дата оплаты по 1С`, …
    requisites: Pairs = ()
    #: `Основание`: the order a payment or shipment document belongs to (2.10, §2.7).
    basis: str | None = None

    def requisite(self, name: str) -> str | None:
        """The value of the first requisite called `name`, stripped; None if absent."""
        for key, value in self.requisites:
            if key == name:
                return value.strip()
        return None


Item = (
    FileInfo
    | Section
    | Group
    | Property
    | PriceType
    | Warehouse
    | Product
    | Offer
    | Document
    | Counterparty
    | Unchanged
)
