"""CommerceML items → mirror records: what an uploaded file says about 1C's objects (docs/architecture.md).

See §2.7.

The codec reads and maps (`obmen.connectors.commerceml`); this module decides what each item *is* in
the mirror: which entity, which id, and whether the file described its kind in full. A section without
`СодержитТолькоИзменения="true"` lists every object of its kinds, so a full run may retire what it did
not mention (docs/protocols/commerceml.md §2.3); a delta never retires anything.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from obmen.connectors.commerceml import (
    Counterparty,
    Document,
    DocumentKind,
    FileInfo,
    Group,
    Item,
    Offer,
    PriceType,
    Product,
    RunContext,
    Section,
    SectionKind,
    Unchanged,
    Warehouse,
)
from obmen.connectors.commerceml import mapping as cml
from obmen.connectors.commerceml.names import Vocabulary

__all__ = ["CATALOG_ENTITIES", "ORDER_OPERATION", "PAYMENT_OPERATIONS", "FileReport", "Record", "records"]

#: The catalog entities a full run describes, each from the section that lists it.
CATALOG_ENTITIES = ("category", "product", "offer", "price_type", "warehouse")
#: `ХозОперация` of an order document (docs/protocols/commerceml.md §2.6, §2.7).
ORDER_OPERATION = "Заказ товара"
#: `ХозОперация` of a payment document; its `Основание` is the order's number (§1.11, §2.7).
PAYMENT_OPERATIONS = frozenset(
    {"Выплата безналичных денег", "Выплата наличных денег", "Эквайринговая операция"}
)
_FULL_BY_SECTION = {
    SectionKind.CLASSIFIER: ("category",),
    SectionKind.CATALOG: ("product",),
    SectionKind.OFFERS: ("offer",),
}

_ENTITY_OF: dict[type[Any], str] = {Group: "category", Product: "product", Offer: "offer"}


@dataclass(frozen=True, slots=True)
class Record:
    """One object as the file describes it: canonical fields, in the sender's id space.

    Fields the file does not carry are absent (a prices-only file, a document without a status), so the
    receiver lays the record over what it mirrored before instead of replacing it.
    """

    entity: str
    external_id: str
    fields: dict[str, Any]
    #: The raw digest of the element it was read from (`read(..., known_many=…)`), if any.
    digest: str | None = None
    #: The partner sent it again exactly as the mirror holds it: nothing to parse or store but the sighting.
    unchanged: bool = False


@dataclass(slots=True)
class FileReport:
    """What one file was, after it has been read to the end."""

    kind: DocumentKind | None = None
    #: Entities this file listed in full (no `СодержитТолькоИзменения`): candidates for retirement.
    full: set[str] = field(default_factory=set)
    #: Documents skipped because they are not orders (payments, shipments: `ХозОперация`).
    skipped: list[str] = field(default_factory=list)
    #: The catalog's `Ид`: a Bitrix site finds its catalog (infoblock) by it (docs/protocols/commerceml.md
    # §2.3).
    catalog_id: str | None = None


def records(
    items: Iterable[Item], context: RunContext, report: FileReport, vocabulary: Vocabulary | None = None
) -> Iterator[Record]:
    """Map a file's items to records, noting in `report` what the file covered.

    With `vocabulary`, documents are the partner's and are read in the site's terms first.
    """
    classifier = context.classifier
    full: tuple[str, ...] = ()
    total = False
    order = _Pending(vocabulary)
    for item in items:
        if isinstance(item, Document) and order.takes(item):
            continue
        yield from order.flush()
        entity = item.kind if isinstance(item, Unchanged) else _ENTITY_OF.get(type(item))
        if entity in full:
            # Only a full section that really lists objects of a kind covers it: 2.07 offers files
            # repeat an empty `Классификатор` header, which says nothing about the groups.
            report.full.add(entity)
        if isinstance(item, FileInfo):
            report.kind = item.kind
        elif isinstance(item, Section):
            full = () if item.changes_only else _FULL_BY_SECTION.get(item.kind, ())
            if item.kind is SectionKind.CATALOG and item.id:
                report.catalog_id = item.id
            elif item.kind is SectionKind.OFFERS and item.catalog_id:
                report.catalog_id = report.catalog_id or item.catalog_id
        elif isinstance(item, Group):
            yield Record("category", item.id, cml.category_fields(item))
        elif isinstance(item, PriceType):
            yield Record("price_type", item.id, cml.price_type_fields(item))
        elif isinstance(item, Warehouse):
            yield Record("warehouse", item.id, cml.warehouse_fields(item))
        elif isinstance(item, Unchanged):
            yield Record(item.kind, item.id, {}, item.digest, unchanged=True)
        elif isinstance(item, Product):
            yield Record("product", item.id, cml.product_fields(item, classifier), item.digest)
        elif isinstance(item, Offer):
            fields = cml.offer_fields(item, classifier)
            if not total and _totals(fields):
                # Stock known only as a total refers to a pseudo-warehouse: it must exist like any other.
                total = True
                yield Record("warehouse", cml.TOTAL_STOCK, cml.total_warehouse_fields())
            yield Record("offer", item.id, fields, item.digest)
        elif isinstance(item, Counterparty):
            if item.id:
                yield Record("counterparty", item.id, cml.counterparty_fields(item))
        elif isinstance(item, Document):
            if item.operation.strip() and item.operation.strip() != ORDER_OPERATION:
                report.skipped.append(f"{item.operation} {item.number or item.id}")
                continue
            order.hold(item)
    yield from order.flush()


class _Pending:
    """An order document held until the documents after it are read: its payment documents follow it
    (`Основание` = its number, §1.11) and become its payments."""

    def __init__(self, vocabulary: Vocabulary | None) -> None:
        self.vocabulary = vocabulary
        self.order: Document | None = None
        self.payments: list[Document] = []

    def _read(self, document: Document) -> Document:
        return self.vocabulary.incoming(document) if self.vocabulary else document

    def hold(self, document: Document) -> None:
        """Hold an order document."""
        self.order = self._read(document)

    def takes(self, document: Document) -> bool:
        """Take a payment document of the order held; False for any other document."""
        basis = (document.basis or "").strip()
        if self.order is None or document.operation.strip() not in PAYMENT_OPERATIONS:
            return False
        if not basis or basis not in (self.order.number, self.order.id):
            return False
        self.payments.append(self._read(document))
        return True

    def flush(self) -> Iterator[Record]:
        """The order held, with its payments, and nothing held after."""
        if self.order is not None:
            yield from document_records(self.order, self.payments)
        self.order, self.payments = None, []


def _totals(fields: Mapping[str, Any]) -> bool:
    return any(
        isinstance(level, Mapping) and (level.get("warehouse") or {}).get("id") == cml.TOTAL_STOCK
        for level in fields.get("stock") or ()
    )


def document_records(document: Document, payments: Sequence[Document] = ()) -> Iterator[Record]:
    """An order document (and the payment documents that followed it): its counterparties, then the
    order itself."""
    for party in document.counterparties:
        if party.id:
            yield Record("counterparty", party.id, cml.counterparty_fields(party))
    yield Record("order", document.id, cml.order_fields(document, payments=payments))
