"""Outbox orders → CommerceML documents.

The `mode=query` answer for 1C (docs/protocols/commerceml.md §2.6), and 1C-style documents carrying
status, payment and shipment for a site (§2.7).

CommerceML has no document of its own for a counterparty: it travels inside the orders that name it, so
the writer needs each order's customer fields beside the order. An order that cannot be expressed is
refused on its own (the caller keeps it pending and says why) instead of failing the whole answer.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from lxml import etree

from obmen.connectors.commerceml import Document
from obmen.connectors.commerceml.names import Vocabulary
from obmen.connectors.commerceml.outbound import order_document, payment_documents
from obmen.connectors.commerceml.writer import write_documents
from obmen.connectors.mirrored.records import Record

__all__ = [
    "DEFAULT_STATUSES",
    "Documents",
    "build_documents",
    "customer_id",
    "document_number",
    "documents_xml",
    "info_xml",
]

#: A 1C-Bitrix site's stock order statuses (`F` is the final one).
DEFAULT_STATUSES: Mapping[str, str] = {
    "N": "Принят, ожидается оплата",
    "P": "Оплачен, формируется к отправке",
    "F": "Выполнен",
}


def document_number(fields: Mapping[str, Any]) -> str:
    """The `Номер` an order's document carries: the site's number when the order has one (§2.7)."""
    numbers = {pair[0]: pair[1] for pair in fields.get("external_numbers") or () if len(pair) == 2}
    return str(numbers.get("site") or fields.get("number") or "")


def customer_id(fields: Mapping[str, Any]) -> str | None:
    """The counterparty an order's field map refers to, if any."""
    ref = fields.get("customer")
    if isinstance(ref, Mapping) and ref.get("$ref") == "counterparty" and ref.get("id"):
        return str(ref["id"])
    return None


@dataclass(slots=True)
class Documents:
    """Orders ready to write, and those the outbox cannot express (id → why), kept out of the file."""

    documents: list[Document] = field(default_factory=list)
    refused: dict[str, str] = field(default_factory=dict)


def build_documents(
    orders: Sequence[Record],
    customers: Mapping[str, Mapping[str, Any]],
    *,
    to: str,
    vocabulary: Vocabulary | None = None,
) -> Documents:
    """Each order as a `Документ`; one order that cannot be expressed never holds back the others.

    With `vocabulary`, statuses and payment systems are written in the partner's names.
    """
    out = Documents()
    # An order built in the CRM has no order date there: it is dated when it is first handed on.
    now = datetime.now().astimezone().isoformat(timespec="seconds")
    for order in orders:
        party = customer_id(order.fields)
        fields = order.fields if order.fields.get("date") else {**order.fields, "date": now}
        try:
            document = order_document(
                order.external_id, fields, customer_id=party, customer=customers.get(party or ""), to=to
            )
        except (KeyError, TypeError, ValueError, ArithmeticError) as exc:
            out.refused[order.external_id] = f"cannot be written as CommerceML: {exc!r}"
            continue
        status = document.requisite("Статус заказа")
        if to == "site" and status and document.requisite("Статуса заказа ИД") is None:
            # The site's loader takes the status *id* from `Статуса заказа ИД` (sic, §2.6/§2.7);
            # `Статус заказа` alone is read as a name, and a bare id there would be ignored.
            document = replace(document, requisites=(*document.requisites, ("Статуса заказа ИД", status)))
        # To 1C each payment of an order with several follows it as a payment document, as a site sends it.
        payments = payment_documents(order.external_id, fields) if to == "onec" else ()
        for item in (document, *payments):
            out.documents.append(vocabulary.outgoing(item) if vocabulary else item)
    return out


def documents_xml(
    documents: Sequence[Document], *, to: str, schema_version: str = "2.05", encoding: str = "windows-1251"
) -> bytes:
    """One CommerceML file (`to="onec"`: as a site answers `query`; `"site"`: as 1C uploads documents)."""
    buffer = io.BytesIO()
    write_documents(
        buffer, documents, schema_version=schema_version, encoding=encoding, bitrix_formats=to == "onec"
    )
    return buffer.getvalue()


def info_xml(statuses: Mapping[str, str], payment_systems: Mapping[str, str]) -> bytes:
    """The `mode=info` answer: statuses and payment systems, for 1C to map its own to (§1.7)."""
    root = etree.Element("Справочник")
    # Bitrix spells the list `Cтатусы` with a Latin C (verified byte dump, §1.7); 1C builds that read
    # the Cyrillic spelling exist too, so both are given.
    for tag, entries in (("Cтатусы", statuses), ("Статусы", statuses), ("ПлатежныеСистемы", payment_systems)):
        group = etree.SubElement(root, tag)
        for key, name in entries.items():
            element = etree.SubElement(group, "Элемент")
            etree.SubElement(element, "Ид").text = key
            etree.SubElement(element, "Название").text = name
    body = etree.tostring(root, xml_declaration=False, encoding="windows-1251", pretty_print=True)
    # The declaration as Bitrix writes it, double quotes included (lxml would write single ones).
    encoded = body if isinstance(body, bytes) else body.encode("cp1251")
    return b'<?xml version="1.0" encoding="windows-1251"?>\n' + encoded
