"""Order updates written from what obmen last saw of the deal instead of a read just before (`seen.py`).

Why that is safe (docs/architecture.md §2.6): the fields an update carries come from the reconciler's
read of this same batch, so that read already bounds the freshness of the write; a read just before the
write narrows the window only for what the plan takes from the deal itself (its pipeline, the invoice
stage a payment is folded into) and closes it for nothing, since the REST API has no conditional update.
A change heard after the read (an event the echo filter kept, the poll, the offline queue) forgets the
record (`Bitrix24Connector._heard`), so the write reads again and keeps it (a cancellation beside a
payment). What a write cannot undo is trusted less: a deal last seen without an invoice is read again
before one is made, so a manager's invoice of the last seconds is not doubled.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

from obmen.connectors.base import Remote, Update, WriteOp, WriteResult
from obmen.connectors.bitrix24.client.rest import BatchReply, Bitrix24Client
from obmen.connectors.bitrix24.crm import feeds as crm_feeds
from obmen.connectors.bitrix24.crm.seen import SeenOrders
from obmen.connectors.bitrix24.crm.writes import OpPlan

__all__ = ["current_orders", "remember", "trusted", "whole_rows"]

Fetch = Callable[[str, Sequence[str]], Awaitable[Mapping[str, Remote]]]


def trusted(seen: SeenOrders, op: Update) -> bool:
    """Whether an update writes from a fresh record: one that knows the deal's invoice."""
    record = seen.fresh(op.external_id)
    return record is not None and record.invoice is not None


async def whole_rows(seen: SeenOrders, ops: list[WriteOp], fetch: Fetch) -> list[WriteOp]:
    """Product rows are one replace-all set of goods and delivery: an update of one keeps the other.

    The part kept comes from a fresh record that knows the rows, else from a read of the order.
    """
    partial = {
        op.external_id
        for op in ops
        if isinstance(op, Update)
        and op.entity == "order"
        and ("lines" in op.fields) != ("delivery" in op.fields)
    }
    if not partial:
        return ops
    kept: dict[str, Mapping[str, Any]] = {}
    for ident in partial:
        record = seen.fresh(ident)
        if record is not None and record.rows is not None:
            kept[ident] = {"lines": record.lines, "delivery": record.delivery}
    unread = sorted(partial - kept.keys())
    found = await fetch("order", unread) if unread else {}
    kept.update({ident: remote.fields for ident, remote in found.items()})
    out: list[WriteOp] = []
    for op in ops:
        before = kept.get(op.external_id) if isinstance(op, Update) else None
        if isinstance(op, Update) and before is not None and op.external_id in partial:
            keep = {k: before.get(k) for k in ("lines", "delivery") if k not in op.fields}
            op = Update(op.entity, op.external_id, {**keep, **op.fields})
        out.append(op)
    return out


async def current_orders(
    seen: SeenOrders, client: Bitrix24Client, ops: Sequence[WriteOp], legacy: bool
) -> dict[str, Any]:
    """`d<id>`, `i<id>` and `rows<id>` for order updates: from fresh records, the rest read in one batch."""
    out: dict[str, Any] = {}
    unread: list[WriteOp] = []
    for op in ops:
        record = seen.fresh(op.external_id) if isinstance(op, Update) and not legacy else None
        if not isinstance(op, Update) or record is None or record.invoice is None:
            unread.append(op)  # a deal last seen without its invoice is read before one is made
            continue
        out[f"d{op.external_id}"] = record.deal
        out[f"i{op.external_id}"] = record.invoice
        if record.rows is not None:
            out[f"rows{op.external_id}"] = record.rows
    read = await crm_feeds.current_orders(client, unread, legacy)
    for op in unread:
        if not isinstance(op, Update):
            continue
        deal, invoice = read.get(f"d{op.external_id}"), read.get(f"i{op.external_id}")
        if deal is not None and invoice is not None:
            seen.put(op.external_id, deal=deal, invoice=invoice, rows=None)  # rows not read: unknown
    out.update(read)
    return out


def remember(seen: SeenOrders, written: Sequence[tuple[WriteResult, OpPlan, int]], reply: BatchReply) -> None:
    """Fold the answers of order writes into the records; a failed or unclear write forgets its deal."""
    for result, op_plan, index in written:
        op = result.op
        ident = result.external_id or (op.external_id if isinstance(op, Update) else None)
        if ident is None:
            continue
        if not result.ok or op_plan.kind != "item":
            seen.forget([ident])
            continue
        deal = invoice = rows = None
        unclear = False
        for step, (method, params) in enumerate(op_plan.calls):
            answer = reply.results.get(f"o{index}{chr(ord('a') + step)}")
            if method == "crm.item.productrow.set" and params.get("ownerType") == "D":
                rows = answer.get("productRows") if isinstance(answer, Mapping) else None
                unclear = not isinstance(rows, list)
            elif not isinstance(answer, Mapping):
                continue
            elif method in ("crm.item.add", "crm.item.update") and isinstance(answer.get("item"), Mapping):
                if params.get("entityTypeId") == 2:
                    deal = answer["item"]
                elif params.get("entityTypeId") == 31:
                    invoice = answer["item"]
        if unclear:  # the rows were written but their answer does not tell them: read them next time
            seen.forget([ident])
            continue
        rows_list = list(rows) if isinstance(rows, list) else None
        seen.wrote(ident, deal=deal, invoice=invoice, rows=rows_list, fields=op.fields)
