"""An order's payments as 1C's incoming-payment documents over OData (docs/protocols/onec.md §A1.9).

Every payment of an order is one document: `Document_ПриходныйКассовыйОрдер` when it is paid in cash
(`model.payments.is_cash`), `Document_ПоступлениеБезналичныхДенежныхСредств` otherwise. Its one
`РасшифровкаПлатежа` row names the order (`Заказ`, `Заказ_Type`) and the sum; `СуммаДокумента` is the
payment's amount and `Комментарий` its 1C payment kind (`[mapping] payment_systems`, as the exchange path
writes `Метод оплаты`). A document is posted while its payment is paid and unposted, never deleted, when
it is not: being paid is a fact, and an unpaid payment reaches 1C only once the engine agreed that a paid
one was taken back (a refund, docs/architecture.md §2.11). A payment the order no longer has is unposted and
marked for deletion, if obmen made its document; a document someone entered in 1C is never touched but read.

Reading an order gives its payments back from the documents that settle it (paid = posted). A document
obmen creates gets a `Ref_Key` derived from the order's `Ref_Key` and the payment's place (UUID v5), so a
retry whose answer was lost finds it among the order's documents and sends nothing twice
(docs/architecture.md §2.4).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from obmen.connectors.onec.odata.client import ODataClient
from obmen.connectors.onec.odata.mapping import EMPTY, number, ref
from obmen.model.fields import decimal_text
from obmen.model.payments import amount_of, is_cash, match

__all__ = ["BANK", "CASH", "PAYMENT_SETS", "OrderPayments", "orders_of", "payment_key"]

BANK = "Document_ПоступлениеБезналичныхДенежныхСредств"
CASH = "Document_ПриходныйКассовыйОрдер"
PAYMENT_SETS = (BANK, CASH)
_ORDERS = "Document_ЗаказКлиента"
_ORDER_TYPE = f"StandardODATA.{_ORDERS}"
_STAMP = uuid.UUID("0b6e11a4-6a2e-4f0c-b7b5-5e1c0da7a002")
#: The name a document says when its comment names no payment kind.
_DEFAULT = {CASH: "Наличные", BANK: "Безналичные"}
_SET = "_set"
Row = Mapping[str, Any]


def payment_key(order: str, index: int) -> str:
    """The `Ref_Key` obmen gives the document of an order's `index`-th payment."""
    return str(uuid.uuid5(_STAMP, f"payment:{order.lower()}#{index}"))


def _settles(row: Row) -> str | None:
    """The order a payment document settles (its first `РасшифровкаПлатежа` row that names one)."""
    for line in row.get("РасшифровкаПлатежа") or []:
        if str(line.get("Заказ_Type") or _ORDER_TYPE) == _ORDER_TYPE and (key := ref(line.get("Заказ"))):
            return key
    return None


def _any_order(keys: Sequence[str]) -> str:
    inner = " or ".join(f"d/Заказ eq guid'{key}'" for key in keys)
    return f"РасшифровкаПлатежа/any(d: {inner})"


async def orders_of(client: ODataClient, name: str, keys: Sequence[str]) -> list[str]:
    """The orders the payment documents `keys` of set `name` settle (for the change feed)."""
    rows = await client.by_keys(name, keys, select="Ref_Key,РасшифровкаПлатежа")
    return [order for row in rows if (order := _settles(row))]


def _date(value: Any) -> str | None:
    text = str(value or "")
    return None if not text or text.startswith("0001-") else text


class OrderPayments:
    """The payment documents of orders: read as the orders' payments, written from them."""

    def __init__(self, client: ODataClient, kinds: Mapping[str, str] | None = None) -> None:
        self.client = client
        #: Site payment system → 1C payment kind (`[mapping] payment_systems`), and back.
        self.kinds = dict(kinds or {})
        self.systems = {kind: system for system, kind in reversed(self.kinds.items())}

    # -- reading ----------------------------------------------------------------------------------------

    async def documents(self, orders: Sequence[str]) -> dict[str, list[dict[str, Any]]]:
        """Order `Ref_Key` → every payment document that settles it (deletion marks included), in order:
        obmen's by the payment's place, then 1C's own by date and number."""
        out: dict[str, list[dict[str, Any]]] = {key.lower(): [] for key in orders}
        keys = list(out)
        for name in PAYMENT_SETS:
            for start in range(0, len(keys), 20):
                for row in await self.client.all_rows(name, filter=_any_order(keys[start : start + 20])):
                    order = _settles(row)
                    if order in out:
                        out[order].append({**row, _SET: name})
        for order, rows in out.items():
            places = {payment_key(order, i): i for i in range(len(rows))}
            rows.sort(
                key=lambda r: (
                    places.get(str(r["Ref_Key"]), len(rows)),
                    str(r.get("Date") or ""),
                    str(r.get("Number") or ""),
                )
            )
        return out

    def payment(self, row: Row) -> dict[str, Any]:
        """One live document as a canonical payment (paid while posted)."""
        kind = str(row.get("Комментарий") or "").strip() or _DEFAULT[str(row[_SET])]
        paid = bool(row.get("Posted")) and not row.get("DeletionMark")
        amount = decimal_text(number(row.get("СуммаДокумента"), "СуммаДокумента"))
        return {
            "system": self.systems.get(kind, kind),
            "amount": {"amount": amount, "currency": "RUB"},
            "paid": paid,
            "paid_at": _date(row.get("Date")) if paid else None,
        }

    async def read(self, orders: Sequence[str]) -> dict[str, list[dict[str, Any]]]:
        """Order `Ref_Key` → its payments as 1C's documents show them."""
        held = await self.documents(orders)
        return {k: [self.payment(r) for r in rows if not r.get("DeletionMark")] for k, rows in held.items()}

    # -- writing ----------------------------------------------------------------------------------------

    async def write(self, order: str, wanted: Sequence[Mapping[str, Any]]) -> None:
        """Make the order's documents say `wanted`: each payment paired with its document (by system and
        amount, `model.payments.match`), a new one created, one no longer wanted withdrawn."""
        order = order.lower()
        heads = await self.client.by_keys(
            _ORDERS, [order], select="Ref_Key,Date,Number,НомерПоДаннымКлиента,Контрагент_Key"
        )
        head = heads[0] if heads else {"Ref_Key": order}
        rows = (await self.documents([order]))[order]
        live = [r for r in rows if not r.get("DeletionMark")]
        taken = {str(r["Ref_Key"]) for r in rows}
        gone = {str(r["Ref_Key"]): r for r in rows if r.get("DeletionMark")}
        ours = [payment_key(order, n) for n in range(len(rows) + len(wanted) + 1)]
        for i, j in match(wanted, [self.payment(r) for r in live]):
            if i is not None and j is not None:
                await self._update(live[j], wanted[i])
            elif i is not None:
                # The payment's own place, else the next key no live document holds.
                key = next(k for k in ours[i:] if k in gone or k not in taken)
                await self._create(head, key, wanted[i], gone.pop(key, None))
                taken.add(key)
            elif j is not None and str(live[j]["Ref_Key"]) in ours:
                await self._withdraw(live[j])

    def _body(self, head: Row, payment: Mapping[str, Any], name: str) -> dict[str, Any]:
        amount = float(amount_of(payment))
        system = str(payment.get("system") or "")
        purpose = f"Оплата по заказу {head.get('НомерПоДаннымКлиента') or head.get('Number') or ''}".strip()
        return {
            "Контрагент_Key": str(head.get("Контрагент_Key") or EMPTY),
            "СуммаДокумента": amount,
            "Комментарий": self.kinds.get(system, system),
            "НазначениеПлатежа" if name == BANK else "Основание": purpose,
            "РасшифровкаПлатежа": [
                {"Заказ": str(head["Ref_Key"]), "Заказ_Type": _ORDER_TYPE, "Сумма": amount}
            ],
        }

    async def _create(self, head: Row, key: str, payment: Mapping[str, Any], gone: Row | None) -> None:
        # Withdrawn once and wanted again: the same document comes back instead of a second one.
        name = str(gone[_SET]) if gone is not None else CASH if is_cash(payment, self.kinds) else BANK
        body = self._body(head, payment, name)
        if gone is not None:
            await self.client.patch(
                name, key, {**body, "DeletionMark": False}, if_match=gone.get("DataVersion")
            )
        else:
            # A document needs `Date` (§A1.8): when it was paid, else the order's date.
            when = (
                _naive(payment.get("paid_at"))
                or _date(head.get("Date"))
                or time.strftime("%Y-%m-%dT%H:%M:%S")
            )
            await self.client.create(name, {"Ref_Key": key, "Date": when, **body})
        if payment.get("paid") and amount_of(payment) > 0:
            await self.client.post_document(name, key)

    async def _update(self, row: Row, payment: Mapping[str, Any]) -> None:
        name, key = str(row[_SET]), str(row["Ref_Key"])
        held = self.payment(row)
        system = str(payment.get("system") or "")
        body: dict[str, Any] = {}
        if amount_of(held) != amount_of(payment):
            amount = float(amount_of(payment))
            lines = [dict(line) for line in row.get("РасшифровкаПлатежа") or []]
            for line in lines[:1]:
                line["Сумма"] = amount
            body |= {"СуммаДокумента": amount, "РасшифровкаПлатежа": lines}
        if held["system"] != system and system:
            body["Комментарий"] = self.kinds.get(system, system)
        posted = bool(row.get("Posted"))
        when = _naive(payment.get("paid_at"))
        if payment.get("paid") and not posted and when and when != _date(row.get("Date")):
            # A document made before it was paid (with its order) is dated when the money came: posted
            # with the order's date, 1C would show another moment than the other systems, for ever.
            body["Date"] = when
        if body:
            await self.client.patch(name, key, body, if_match=row.get("DataVersion"))
        if payment.get("paid") and amount_of(payment) > 0 and (not posted or body):
            await self.client.post_document(name, key)  # posted, or re-posted after its sum changed
        elif not payment.get("paid") and posted:
            await self.client.unpost_document(name, key)

    async def _withdraw(self, row: Row) -> None:
        name, key = str(row[_SET]), str(row["Ref_Key"])
        if row.get("Posted"):
            await self.client.unpost_document(name, key)
        await self.client.patch(name, key, {"DeletionMark": True})


def _naive(value: Any) -> str | None:
    """A payment's `paid_at` as 1C's `Edm.DateTime` (no zone)."""
    if not value:
        return None
    try:
        return datetime.fromisoformat(str(value)).replace(tzinfo=None, microsecond=0).isoformat()
    except ValueError:
        return None
