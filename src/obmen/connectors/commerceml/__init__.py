"""CommerceML 2 codec shared by the 1C side and the site side (docs/protocols/commerceml.md).

Reading (streaming, hardened; memory does not grow with the file):

    context = RunContext()                      # one per exchange run: keeps the classifier
    for item in read("import0_1.xml", context): # FileInfo first, then Section, Group, Property,
        ...                                     # PriceType, Warehouse, Product, Offer or Document
    sniff(path) -> DocumentKind                 # classifier, catalog, offers, documents, empty…

Unchanged re-imports: `read(path, context, known=lambda kind, id, digest: …)` digests each product and
offer (raw bytes + classifier revision); what the caller already holds comes as `Unchanged` without
being parsed or mapped, the rest carries its `digest` to keep for next time.

Every malformed input (truncated XML, a DOCTYPE, a lying encoding declaration, not XML) raises
`obmen.errors.ProtocolError` naming the file and line. Items are frozen dataclasses from `items`.

Writing: `write_documents` (orders as a 1C-Bitrix site answers `mode=query`, and 1C's documents back to
a site), `write_catalog` (import.xml: classifier + catalog) and `write_offers` (offers.xml: price types,
warehouses, offers with prices and stock); each takes a path or binary stream and streams its input.

Recipes:

    # obmen as a site answering 1C's `type=sale&mode=query` (docs/protocols/commerceml.md §2.6)
    docs = (outbound.order_document(id, fields, customer_id=cid, customer=cfields, to="onec") for ...)
    write_documents(stream, docs, schema_version="2.05" or "2.10", encoding="windows-1251")
    # obmen as 1C uploading status, payment and shipment to a site (§2.7)
    docs = (outbound.order_document(guid, fields, customer_id=cid, to="site") for ...)
    write_documents(stream, docs, schema_version="2.07", encoding="utf-8", bitrix_formats=False)
    # obmen as 1C pushing the catalog: write_catalog(import.xml, products, …), write_offers(offers.xml, …)

Mapping: `mapping` turns codec items into canonical field maps (`category_fields`, `product_fields`,
`offer_fields`, `order_fields`, …; references `{"$ref": entity, "id": <1C Ид>}`, fields a file does not
carry left out); `outbound` turns field maps back into codec items for the writers
(`product_from_fields`, `offer_from_fields`, `order_document`, …).
"""

from __future__ import annotations

from obmen.connectors.commerceml.context import Classifier, Known, KnownMany, RunContext
from obmen.connectors.commerceml.items import (
    Address,
    Counterparty,
    Discount,
    Document,
    DocumentKind,
    DocumentLine,
    FileInfo,
    Group,
    Item,
    Offer,
    OfferPrice,
    PriceType,
    Product,
    Property,
    PropertyValue,
    Section,
    SectionKind,
    StockEntry,
    Tax,
    Unchanged,
    Warehouse,
)
from obmen.connectors.commerceml.reader import Source, read, sniff
from obmen.connectors.commerceml.writer import Target, write_catalog, write_documents, write_offers

__all__ = [
    "Address",
    "Classifier",
    "Counterparty",
    "Discount",
    "Document",
    "DocumentKind",
    "DocumentLine",
    "FileInfo",
    "Group",
    "Item",
    "Known",
    "KnownMany",
    "Offer",
    "OfferPrice",
    "PriceType",
    "Product",
    "Property",
    "PropertyValue",
    "RunContext",
    "Section",
    "SectionKind",
    "Source",
    "StockEntry",
    "Target",
    "Tax",
    "Unchanged",
    "Warehouse",
    "read",
    "sniff",
    "write_catalog",
    "write_documents",
    "write_offers",
]
