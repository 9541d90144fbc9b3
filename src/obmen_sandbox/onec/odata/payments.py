"""Incoming payments in the sandbox 1C: bank receipts and cash receipts over OData, and the accountant.

Two document sets, as УТ 11 names them: `Document_ПоступлениеБезналичныхДенежныхСредств` (a payment to the
bank account) and `Document_ПриходныйКассовыйОрдер` (cash taken at the till). Each carries the standard
document properties (`Ref_Key`, `Number`, `Date`, `Posted`, `DeletionMark`, `DataVersion`), its sum
(`СуммаДокумента`), its payer (`Контрагент_Key`), a comment, its purpose (`НазначениеПлатежа`; a cash
receipt's `Основание`) and one settlement row (`РасшифровкаПлатежа`) naming the order it pays: `Заказ`, a
composite reference with its `Заказ_Type`, and the `Сумма` that goes to it.

The rules are the standard interface's (a document needs `Date`, `Posted` is never written in a body but
by `…/Post` and `…/Unpost`, a PATCH names only what changes and replaces a tabular part whole, `If-Match`
guards a change). Posting a receipt settles its order: an order whose posted receipts cover its sum is
paid, and unposting one (or marking it for deletion, which unposts it) takes that back.

The control API's accountant records a payment the way a person does in 1C:

    POST /_sandbox/odata/payments  {"order": number | site id | Ref_Key, "amount"?, "cash"?, "comment"?}
         posts the order's first unposted receipt (of that sum and kind, when given), else enters a new
         receipt for the sum still due (or `amount`) and posts it
    GET  /_sandbox/odata/payments  every receipt, as its set shows it, with `"set"`
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime
from decimal import Decimal
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from obmen_sandbox.onec.infobase import Infobase, Order, PaymentDocument
from obmen_sandbox.onec.odata.rows import EMPTY, as_guid, data_version
from obmen_sandbox.onec.odata.schema import BANK_RECEIPTS, CASH_RECEIPTS, ENTITY_SETS
from obmen_sandbox.onec.odata.writes import ODataFault, decimal_of, find, guid_of

__all__ = ["PAYMENT_SETS", "create", "patch", "payment_row", "payment_rows", "post", "record", "routes"]

PAYMENT_SETS = (BANK_RECEIPTS, CASH_RECEIPTS)
_ORDER_TYPE = "StandardODATA.Document_ЗаказКлиента"


def _number(value: Decimal) -> float | int:
    return int(value) if value == value.to_integral_value() else float(value)


def payment_row(base: Infobase, doc: PaymentDocument) -> dict[str, Any]:
    """One receipt as its set shows it."""
    settlement = [
        {"Ref_Key": doc.ref, "LineNumber": 1, "Заказ": doc.order, "Заказ_Type": _ORDER_TYPE,
         "Сумма": _number(doc.amount)}
    ] if doc.order else []  # fmt: skip
    row: dict[str, Any] = {
        "Ref_Key": doc.ref,
        "DataVersion": data_version(doc.rev),
        "DeletionMark": doc.deleted,
        "Number": doc.number,
        "Date": doc.date,
        "Posted": doc.posted,
        "Контрагент_Key": as_guid(doc.counterparty) if doc.counterparty else EMPTY,
        "СуммаДокумента": _number(doc.amount),
        "Комментарий": doc.comment,
        "РасшифровкаПлатежа": settlement,
    }
    if doc.cash:
        party = next((c for c in base.counterparties.values() if c.id == doc.counterparty), None)
        return row | {"Основание": doc.purpose, "ПринятоОт": party.name if party else ""}
    return row | {"НазначениеПлатежа": doc.purpose}


def payment_rows(base: Infobase, name: str) -> list[dict[str, Any]]:
    """Every receipt of one set."""
    cash = name == CASH_RECEIPTS
    return [payment_row(base, d) for d in base.payment_documents.values() if d.cash == cash]


def _order_of(base: Infobase, key: str) -> Order:
    order = find(base, "Document_ЗаказКлиента", key)
    if not isinstance(order, Order):
        raise ODataFault(400, f"Заказ {key} не найден / no such order")
    return order


def _settlement(base: Infobase, doc: PaymentDocument, rows: Any) -> None:
    if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
        raise ODataFault(400, "РасшифровкаПлатежа: ожидается массив строк / an array of rows is expected")
    if len(rows) > 1:
        raise ODataFault(400, "РасшифровкаПлатежа: песочница разносит платёж на один заказ / one row only")
    if not rows:
        doc.order = ""
        return
    row = rows[0]
    if row.get("Заказ_Type", _ORDER_TYPE) != _ORDER_TYPE:
        raise ODataFault(400, f"РасшифровкаПлатежа.Заказ_Type: {row.get('Заказ_Type')!r} is not an order")
    doc.order = as_guid(_order_of(base, guid_of(row.get("Заказ"), "РасшифровкаПлатежа.Заказ")).onec_id)
    if "Сумма" in row:
        doc.amount = decimal_of(row["Сумма"], "РасшифровкаПлатежа.Сумма", signed=False)


def _apply(base: Infobase, doc: PaymentDocument, body: dict[str, Any]) -> None:
    entity = ENTITY_SETS[BANK_RECEIPTS if not doc.cash else CASH_RECEIPTS]
    if "Posted" in body:
        raise ODataFault(400, "Свойство Posted нельзя записать: проведение выполняется методом Post")
    unknown = sorted(set(body) - entity.fields - {"Ref_Key", "DataVersion"})
    if unknown:
        raise ODataFault(400, f"Неизвестное свойство / unknown property: {', '.join(unknown)}", "12")
    for prop, attr in (("Number", "number"), ("Date", "date"), ("Комментарий", "comment")):
        if prop in body:
            setattr(doc, attr, str(body[prop] or ""))
    for prop in ("НазначениеПлатежа", "Основание"):
        if prop in body:
            doc.purpose = str(body[prop] or "")
    if "Контрагент_Key" in body:
        key = guid_of(body["Контрагент_Key"], "Контрагент_Key")
        party = next((c for c in base.counterparties.values() if as_guid(c.id) == key), None)
        if party is None and key != EMPTY:
            raise ODataFault(400, f"Контрагент {key} не найден / no such counterparty")
        doc.counterparty = party.id if party else ""
    if "РасшифровкаПлатежа" in body:
        _settlement(base, doc, body["РасшифровкаПлатежа"])
    if "СуммаДокумента" in body:
        doc.amount = decimal_of(body["СуммаДокумента"], "СуммаДокумента", signed=False)
    if "DeletionMark" in body:
        doc.deleted = bool(body["DeletionMark"])
        doc.posted = doc.posted and not doc.deleted  # a document marked for deletion is not posted


def settle(base: Infobase, order_key: str) -> None:
    """An order is paid while its posted receipts cover its sum (1C's settlements with the customer)."""
    order = find(base, "Document_ЗаказКлиента", order_key) if order_key else None
    if not isinstance(order, Order):
        return
    posted = [d for d in base.payment_documents.values() if d.order == order_key and d.posted]
    total = sum((d.amount for d in posted), Decimal(0))
    order.paid = bool(posted) and total >= order.total
    order.payment_number = posted[0].number if order.paid else ""
    order.payment_date = posted[0].date[:10] if order.paid else ""


def _held(base: Infobase, name: str, key: str) -> PaymentDocument:
    doc = base.payment_documents.get(key)
    if doc is None or doc.cash != (name == CASH_RECEIPTS):
        raise ODataFault(404, f"{name}({key}): документ не найден / not found", "3")
    return doc


def create(base: Infobase, name: str, body: dict[str, Any]) -> PaymentDocument:
    """`POST /<receipts>`: a new receipt (its `Ref_Key` the client's, or made here)."""
    ref = guid_of(body["Ref_Key"], "Ref_Key") if body.get("Ref_Key") else str(uuid.uuid4())
    if ref in base.payment_documents:
        raise ODataFault(400, f"{name}({ref}): объект с такой ссылкой уже существует / already exists")
    if not body.get("Date"):
        raise ODataFault(400, "Поле «Дата» не заполнено / a document needs Date")
    cash = name == CASH_RECEIPTS
    count = sum(1 for d in base.payment_documents.values() if d.cash == cash) + 1
    doc = PaymentDocument(ref, cash, f"{'ПКО' if cash else 'ПБ'}-{count:06d}", str(body["Date"]))
    _apply(base, doc, body)
    doc.rev = base.stamp()
    base.payment_documents[ref] = doc
    return doc


def patch(base: Infobase, name: str, key: str, body: dict[str, Any], if_match: str | None) -> PaymentDocument:
    """`PATCH /<receipts>(guid'key')`: only what the body names."""
    doc = _held(base, name, key)
    if if_match is not None and if_match.strip('"') != data_version(doc.rev):
        raise ODataFault(412, "Версия данных изменилась / DataVersion does not match", "5")
    before = doc.order
    _apply(base, doc, body)
    doc.rev = base.stamp()
    settle(base, before)
    settle(base, doc.order)
    return doc


def post(base: Infobase, name: str, key: str, action: str) -> PaymentDocument:
    """`POST …/Post` or `…/Unpost` of a receipt; posting settles its order."""
    doc = _held(base, name, key)
    if action == "Post" and (doc.deleted or doc.amount <= 0):
        raise ODataFault(
            500, "Error running processor: документ помечен на удаление или без суммы / nothing to post"
        )
    doc.posted = action == "Post"
    doc.rev = base.stamp()
    settle(base, doc.order)
    return doc


def record(base: Infobase, body: dict[str, Any], now: datetime) -> PaymentDocument:
    """The accountant records a payment of an order (the control API's `POST /_sandbox/odata/payments`)."""
    unknown = set(body) - {"order", "amount", "cash", "comment"}
    if unknown:
        raise ODataFault(400, f"unknown fields: {sorted(unknown)}")
    if "cash" in body and not isinstance(body["cash"], bool):
        raise ODataFault(400, "cash: true or false is expected")
    order = base.find_order(str(body.get("order") or "")) or next(
        (o for o in base.orders.values() if as_guid(o.onec_id) == str(body.get("order"))), None
    )
    if order is None:
        raise ODataFault(404, f"no order {body.get('order')!r}")
    key = as_guid(order.onec_id)
    amount = decimal_of(body["amount"], "amount", signed=False) if body.get("amount") is not None else None
    waiting = [
        d
        for d in base.payment_documents.values()
        if d.order == key and not d.posted and not d.deleted
        and (amount is None or d.amount == amount) and body.get("cash", d.cash) == d.cash
    ]  # fmt: skip
    if waiting:
        return post(base, CASH_RECEIPTS if waiting[0].cash else BANK_RECEIPTS, waiting[0].ref, "Post")
    paid = sum((d.amount for d in base.payment_documents.values() if d.order == key and d.posted), Decimal(0))
    due = amount if amount is not None else order.total - paid
    if due <= 0:
        raise ODataFault(400, f"order {order.number or order.onec_number} has nothing left to pay")
    name = CASH_RECEIPTS if body.get("cash") else BANK_RECEIPTS
    doc = create(
        base,
        name,
        {
            "Date": now.replace(microsecond=0).isoformat(),
            "Контрагент_Key": as_guid(order.counterparty) if order.counterparty else EMPTY,
            "СуммаДокумента": str(due),
            "Комментарий": str(body.get("comment") or ""),
            "РасшифровкаПлатежа": [{"Заказ": key, "Заказ_Type": _ORDER_TYPE, "Сумма": str(due)}],
        },
    )
    return post(base, name, doc.ref, "Post")


def routes(base: Callable[[], Infobase], changed: Callable[[int], None]) -> list[Route]:
    """The accountant's control routes (`/_sandbox/odata/payments`)."""

    async def listing(request: Request) -> JSONResponse:
        infobase = base()
        return JSONResponse(
            [
                {"set": CASH_RECEIPTS if d.cash else BANK_RECEIPTS, **payment_row(infobase, d)}
                for d in infobase.payment_documents.values()
            ]
        )

    async def recording(request: Request) -> JSONResponse:
        try:
            body = await request.json()
        except ValueError:
            return JSONResponse({"error": "the body is not JSON"}, 400)
        if not isinstance(body, dict):
            return JSONResponse({"error": "the body must be a JSON object"}, 400)
        infobase = base()
        before = infobase.revision
        try:
            doc = record(infobase, body, datetime.now())
        except ODataFault as exc:
            return JSONResponse({"error": str(exc)}, exc.status if exc.status < 500 else 409)
        changed(before)
        return JSONResponse(
            {"set": CASH_RECEIPTS if doc.cash else BANK_RECEIPTS, **payment_row(infobase, doc)}
        )

    return [
        Route("/_sandbox/odata/payments", listing, methods=["GET"]),
        Route("/_sandbox/odata/payments", recording, methods=["POST"]),
    ]
