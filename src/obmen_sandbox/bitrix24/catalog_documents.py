"""Inventory documents: `catalog.document.*` and `catalog.document.element.*` (§5.7).

A document is a draft (`status` N) until `conduct` moves stock by its rows and marks it Y; `cancel`
moves the stock back and marks it C (D:…/catalog/document/catalog-document-conduct.md, -cancel.md).
Receipts (`A`), acquisitions (`S`) and returns (`R`) add to `storeTo`, write-offs (`D`) take from
`storeFrom`, moves (`M`) do both (D:…/catalog/enum/catalog-enum-get-store-document-types.md). Stock
never goes negative: such a conduct or cancel fails and changes nothing. The product's `quantity` is the
sum over warehouses, as with inventory management on. Conducting needs inventory management on.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from obmen_sandbox.bitrix24.catalog_common import (
    DATE,
    FLOAT,
    INT,
    OTHER,
    STR,
    Listed,
    catalog_error,
    coerce_fields,
    fill,
    list_answer,
    now_iso,
    number,
    project,
    require,
    require_fields,
    store_control,
)
from obmen_sandbox.bitrix24.catalog_items import PARENT, PARENT_EMPTY, get_product, touch
from obmen_sandbox.bitrix24.registry import Call, PortalLike, Table, method

__all__ = ["DOCUMENT_FIELDS", "ELEMENT_FIELDS"]

DOCUMENT_FIELDS = (
    "id",
    "docType",
    "docNumber",
    "title",
    "siteId",
    "responsibleId",
    "createdBy",
    "modifiedBy",
    "status",
    "statusBy",
    "dateStatus",
    "dateCreate",
    "dateModify",
    "dateDocument",
    "currency",
    "total",
    "commentary",
)
ELEMENT_FIELDS = ("id", "docId", "elementId", "storeFrom", "storeTo", "amount", "purchasingPrice")
_DOC_KINDS = {
    "docType": STR,
    "currency": STR,
    "responsibleId": INT,
    "siteId": STR,
    "dateDocument": DATE,
    "title": STR,
    "commentary": STR,
    "total": FLOAT,
    "docNumber": STR,
    "createdBy": INT,
    "modifiedBy": INT,
}
_UPDATABLE = ("responsibleId", "dateDocument", "total", "commentary", "title", "docNumber", "modifiedBy")
_ELEMENT_KINDS = {"docId": INT, "elementId": INT, "storeFrom": INT, "storeTo": INT, "amount": FLOAT}
_ELEMENT_KINDS |= {"purchasingPrice": FLOAT}
INCOMING, OUTGOING, MOVING = frozenset("ASR"), frozenset("D"), frozenset("M")


def _documents(portal: PortalLike) -> Table:
    return portal.table("catalog.document")


def _elements(portal: PortalLike) -> Table:
    return portal.table("catalog.document.element")


def _document(portal: PortalLike, doc_id: Any) -> dict[str, Any]:
    row = _documents(portal).get(doc_id)
    if row is None:
        raise catalog_error(OTHER, "Document not found")
    return fill(int(doc_id), row, DOCUMENT_FIELDS, status="N", siteId="s1")


def _element(portal: PortalLike, element_id: Any) -> dict[str, Any]:
    row = _elements(portal).get(element_id)
    if row is None:
        raise catalog_error("ERROR_DOCUMENT_STATUS", "Document element not found")
    return fill(int(element_id), row, ELEMENT_FIELDS, amount=0)


def _doc_answer(row: Mapping[str, Any]) -> dict[str, Any]:
    return {"document": project(row, (), DOCUMENT_FIELDS)}


@method("catalog.document.add", scope="catalog")
def document_add(portal: PortalLike, call: Call) -> dict[str, Any]:
    """Create a draft document (status N)."""
    fields = coerce_fields(require(call, "fields"), _DOC_KINDS)
    require_fields(fields, ("docType", "currency", "responsibleId"))
    if fields["docType"] not in INCOMING | OUTGOING | MOVING:
        raise catalog_error(OTHER, "DOC_TYPE isn't available")
    stamp = now_iso(portal)
    row: dict[str, Any] = dict.fromkeys(DOCUMENT_FIELDS)
    row |= {"siteId": "s1", "createdBy": call.user_id, "modifiedBy": call.user_id, "status": "N"}
    row |= {"dateCreate": stamp, "dateModify": stamp, "dateStatus": stamp} | fields
    new_id = _documents(portal).add(row)
    stored = _documents(portal).rows[new_id]
    stored["id"] = new_id
    stored["docNumber"] = stored["docNumber"] or str(new_id)
    return _doc_answer(stored)


@method("catalog.document.update", scope="catalog")
def document_update(portal: PortalLike, call: Call) -> dict[str, Any]:
    """Change a document's header; a conducted one is frozen until cancelled."""
    row = _document(portal, require(call, "id"))
    fields = coerce_fields(require(call, "fields"), {name: _DOC_KINDS[name] for name in _UPDATABLE})
    if row["status"] == "Y":
        raise catalog_error(OTHER, "Conducted document cannot be changed")
    row.update(fields)
    row["modifiedBy"] = fields.get("modifiedBy", call.user_id)
    row["dateModify"] = now_iso(portal)
    return _doc_answer(row)


@method("catalog.document.list", scope="catalog")
def document_list(portal: PortalLike, call: Call) -> Listed:
    """Documents by filter."""
    rows = [row for _, row in _documents(portal)]
    return list_answer(call, rows, "documents", DOCUMENT_FIELDS)


@method("catalog.document.delete", scope="catalog")
def document_delete(portal: PortalLike, call: Call) -> bool:
    """Delete a document that is not conducted, with its rows."""
    row = _document(portal, require(call, "id"))
    if row["status"] == "Y":
        raise catalog_error(OTHER, "Conducted document cannot be deleted")
    for element_id in [eid for eid, el in _elements(portal) if el.get("docId") == row["id"]]:
        _elements(portal).delete(element_id)
    _documents(portal).delete(row["id"])
    return True


def _movements(portal: PortalLike, doc: Mapping[str, Any]) -> dict[tuple[int, int], float]:
    """Stock change per (product, warehouse) that conducting `doc` makes."""
    deltas: dict[tuple[int, int], float] = defaultdict(float)
    rows = [_element(portal, eid) for eid, el in _elements(portal) if el.get("docId") == doc["id"]]
    if not rows:
        raise catalog_error(OTHER, "Document conducting error: the document has no products")
    kind = doc["docType"]
    if kind not in INCOMING | OUTGOING | MOVING:
        raise catalog_error(OTHER, "DOC_TYPE isn't available")
    for el in rows:
        if get_product(portal, el["elementId"]) is None:
            raise catalog_error(OTHER, f"Document conducting error: product {el['elementId']} does not exist")
        amount = float(el.get("amount") or 0)
        if amount <= 0:
            raise catalog_error(OTHER, f"Document conducting error: product {el['elementId']} has no amount")
        needs_to, needs_from = kind in INCOMING | MOVING, kind in OUTGOING | MOVING
        if (needs_to and not el.get("storeTo")) or (needs_from and not el.get("storeFrom")):
            raise catalog_error(
                OTHER, f"Document conducting error: product {el['elementId']} has no warehouse"
            )
        if needs_to:
            deltas[(el["elementId"], el["storeTo"])] += amount
        if needs_from:
            deltas[(el["elementId"], el["storeFrom"])] -= amount
    return deltas


def _move(portal: PortalLike, call: Call, deltas: Mapping[tuple[int, int], float], failure: str) -> None:
    """Apply stock changes all or nothing, then refresh each product's `quantity`."""
    stock = portal.table("catalog.storeproduct")
    existing = {(row.get("productId"), row.get("storeId")): row for _, row in stock}
    for (product_id, store_id), delta in deltas.items():
        held = (existing.get((product_id, store_id)) or {}).get("amount") or 0
        if held + delta < 0:
            raise catalog_error(
                OTHER, f"{failure}: not enough of product {product_id} in warehouse {store_id}"
            )
    for (product_id, store_id), delta in deltas.items():
        row = existing.get((product_id, store_id))
        if row is None:
            new_id = stock.add(
                {"productId": product_id, "storeId": store_id, "amount": 0, "quantityReserved": 0}
            )
            row = stock.rows[new_id]
            row["id"] = new_id
        row["amount"] = number((row.get("amount") or 0) + delta)
    for product_id in {product_id for product_id, _ in deltas}:
        product = get_product(portal, product_id)
        if product is None:
            continue
        product["quantity"] = number(
            sum(r.get("amount") or 0 for _, r in stock if r.get("productId") == product_id)
        )
        touch(portal, product)
        portal.emit("CATALOG.PRODUCT.ON.UPDATE", product_id, call, TYPE=product["type"])


def _set_status(portal: PortalLike, call: Call, doc: dict[str, Any], status: str) -> None:
    stamp = now_iso(portal)
    doc.update(status=status, statusBy=call.user_id, dateStatus=stamp, dateModify=stamp)


@method("catalog.document.conduct", scope="catalog")
def document_conduct(portal: PortalLike, call: Call) -> bool:
    """Conduct a draft or cancelled document: stock moves, status Y."""
    doc = _document(portal, require(call, "id"))
    if not store_control(portal):
        raise catalog_error(OTHER, "Warehouse accounting must be enabled to conduct the document")
    if doc["status"] == "Y":
        raise catalog_error(OTHER, "Document conducting error: Document has already been conducted")
    _move(portal, call, _movements(portal, doc), "Document conducting error")
    if doc.get("total") is None:
        rows = [el for _, el in _elements(portal) if el.get("docId") == doc["id"]]
        doc["total"] = number(
            sum(float(el.get("amount") or 0) * float(el.get("purchasingPrice") or 0) for el in rows)
        )
    _set_status(portal, call, doc, "Y")
    return True


@method("catalog.document.cancel", scope="catalog")
def document_cancel(portal: PortalLike, call: Call) -> bool:
    """Cancel a conducted document: stock moves back, status C."""
    doc = _document(portal, require(call, "id"))
    if not store_control(portal):
        raise catalog_error(OTHER, "Warehouse accounting must be enabled to conduct the document")
    if doc["status"] != "Y":
        raise catalog_error(OTHER, "Error cancelling document conduct: Document has not been conducted yet")
    back = {key: -delta for key, delta in _movements(portal, doc).items()}
    _move(portal, call, back, "Error cancelling document conduct")
    _set_status(portal, call, doc, "C")
    return True


def _each(portal: PortalLike, call: Call, action: Any) -> bool:
    """Run `action` per id of `documentIds`; the first failure is the answer, earlier ones stay done."""
    ids = call.param("documentIds")
    if isinstance(ids, Mapping):
        ids = list(ids.values())
    if not isinstance(ids, list) or not ids:
        raise catalog_error("100", "Could not find value for parameter {documentIds}")
    for doc_id in ids:
        action(portal, replace(call, params={"id": doc_id}))
    return True


@method("catalog.document.conductList", scope="catalog")
def document_conduct_list(portal: PortalLike, call: Call) -> bool:
    """Conduct several documents in order (D:…/catalog-document-conduct-list.md)."""
    return _each(portal, call, document_conduct)


@method("catalog.document.cancelList", scope="catalog")
def document_cancel_list(portal: PortalLike, call: Call) -> bool:
    """Cancel several documents in order."""
    return _each(portal, call, document_cancel)


@method("catalog.document.deleteList", scope="catalog")
def document_delete_list(portal: PortalLike, call: Call) -> bool:
    """Delete several documents in order."""
    return _each(portal, call, document_delete)


def _editable(portal: PortalLike, doc_id: Any) -> dict[str, Any]:
    doc = _documents(portal).get(doc_id)
    if doc is None or doc.get("status") == "Y":
        raise catalog_error("ERROR_DOCUMENT_STATUS", "Document not found or conducted")
    return doc


def _check_element(portal: PortalLike, row: Mapping[str, Any]) -> None:
    product = get_product(portal, row["elementId"])
    if product is None or product["type"] in (PARENT, PARENT_EMPTY):
        raise catalog_error(OTHER, f"Product {row['elementId']} does not exist or has no stock of its own")
    for store in ("storeFrom", "storeTo"):
        if row.get(store) and portal.table("catalog.store").get(row[store]) is None:
            raise catalog_error("ERROR_DOCUMENT_RIGHTS", "Access denied")
    if row.get("amount") is not None and row["amount"] < 0:
        raise catalog_error(OTHER, "Amount must not be negative")


def _element_answer(row: Mapping[str, Any]) -> dict[str, Any]:
    return {"documentElement": project(row, (), ELEMENT_FIELDS)}


@method("catalog.document.element.add", scope="catalog")
def element_add(portal: PortalLike, call: Call) -> dict[str, Any]:
    """Add a product row to a document that is not conducted."""
    fields = coerce_fields(require(call, "fields"), _ELEMENT_KINDS)
    require_fields(fields, ("docId", "elementId"))
    _editable(portal, fields["docId"])
    row = dict.fromkeys(ELEMENT_FIELDS) | {"amount": 0} | fields
    _check_element(portal, row)
    new_id = _elements(portal).add(row)
    _elements(portal).rows[new_id]["id"] = new_id
    return _element_answer(_elements(portal).rows[new_id])


@method("catalog.document.element.update", scope="catalog")
def element_update(portal: PortalLike, call: Call) -> dict[str, Any]:
    """Change warehouses, amount or price of a row of a document that is not conducted."""
    row = _element(portal, require(call, "id"))
    _editable(portal, row["docId"])
    kinds = {name: _ELEMENT_KINDS[name] for name in ("storeFrom", "storeTo", "amount", "purchasingPrice")}
    changed = {**row, **coerce_fields(require(call, "fields"), kinds)}
    _check_element(portal, changed)
    row.update(changed)
    return _element_answer(row)


@method("catalog.document.element.list", scope="catalog")
def element_list(portal: PortalLike, call: Call) -> Listed:
    """Document rows by filter."""
    rows = [row for _, row in _elements(portal)]
    return list_answer(call, rows, "documentElements", ELEMENT_FIELDS)


@method("catalog.document.element.delete", scope="catalog")
def element_delete(portal: PortalLike, call: Call) -> bool:
    """Remove a row from a document that is not conducted."""
    row = _element(portal, require(call, "id"))
    _editable(portal, row["docId"])
    _elements(portal).delete(row["id"])
    return True
