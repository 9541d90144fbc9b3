"""Bitrix24 CRM keys: what changed since a cursor (the polling net, §6.4), every id (a scan), and the
links between a deal and its smart invoice (`parentId2`, §5.5).

An order is a deal with its smart invoice (orders.py), so an invoice that changed names its deal's order.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from obmen.connectors.base import Change, ChangePage, Create, ScanPage, Update, WriteOp
from obmen.connectors.bitrix24.client.rest import BATCH_LIMIT, Bitrix24Client, Call
from obmen.connectors.bitrix24.crm.fields import PARTY_METHODS, REQUISITE_OWNER, counterparty_id, split_party
from obmen.connectors.bitrix24.crm.legacy import to_item
from obmen.connectors.bitrix24.crm.orders import by_parent
from obmen.errors import ObmenError, ProtocolError

__all__ = [
    "changes",
    "current_orders",
    "current_parties",
    "invoice_calls",
    "invoice_parents",
    "invoices",
    "invoices_of",
    "items_of",
    "scan",
]

_TYPES = {"order": 2, "invoice": 31}


async def changes(client: Bitrix24Client, legacy: bool, cursor: str | None) -> ChangePage:
    """Objects modified since the cursor: the polling safety net beside events (§6.4).

    The cursor keeps, per entity, the last modification time and the last id at that time: one
    batch asks for the rest of that second by id and for what came after it, so a bulk import
    that stamps hundreds of objects with one second is walked through, not skipped or repeated.
    """
    since: dict[str, list[Any]] = json.loads(cursor) if cursor else {}
    feeds = {
        "order": ("crm.deal.list", "ID", "DATE_MODIFY") if legacy else ("crm.item.list", "id", "updatedTime"),
        # An invoice changes its order: paid or cancelled in the CRM (§5.5).
        "invoice": ("crm.item.list", "id", "updatedTime"),
        "contact": ("crm.contact.list", "ID", "DATE_MODIFY"),
        "company": ("crm.company.list", "ID", "DATE_MODIFY"),
    }
    calls: dict[str, Call] = {}
    for entity, (method, key, stamp) in feeds.items():
        extra = {"entityTypeId": _TYPES[entity]} if method == "crm.item.list" else {}
        select = [key, stamp, "parentId2"] if entity == "invoice" else [key, stamp]
        params = {**extra, "order": {stamp: "ASC", key: "ASC"}, "select": select}
        if entity in since:
            at, last = since[entity]
            calls[f"{entity}_same"] = (method, {**params, "filter": {f"={stamp}": at, f">{key}": last}})
            calls[f"{entity}_after"] = (method, {**params, "filter": {f">{stamp}": at}})
        else:
            calls[f"{entity}_after"] = (method, {**params, "filter": {}})
    reply = await client.batch(calls)
    if reply.errors:
        raise next(iter(reply.errors.values()))
    found: list[Change] = []
    more = False
    for entity, (method, key, stamp) in feeds.items():
        page = _page(reply.results.get(f"{entity}_same"), method)
        if len(page) < 50:
            page += _page(reply.results.get(f"{entity}_after"), method)[: 50 - len(page)]
        for row in page:
            ident = str(row[key])
            if entity in PARTY_METHODS:
                found.append(Change("counterparty", counterparty_id(entity, ident)))
            elif entity == "order":
                found.append(Change("order", ident))
            elif row.get("parentId2"):
                found.append(Change("order", str(row["parentId2"])))
            since[entity] = [row[stamp], int(row[key])]
        more = more or len(page) == 50
    # A deal and its invoice changed together name their order once.
    return ChangePage(list(dict.fromkeys(found)), json.dumps(since, sort_keys=True), more=more)


async def scan(client: Bitrix24Client, entity: str, legacy: bool, cursor: str | None) -> ScanPage:
    """Every id of an entity, a page at a time (keyset on id, docs/protocols/bitrix24.md §2.4)."""
    if entity == "counterparty":
        return await _scan_parties(client, cursor)
    last = int(cursor or 0)
    if legacy:
        params = {"filter": {">ID": last}, "order": {"ID": "ASC"}, "select": ["ID"], "start": -1}
        ids = [str(row["ID"]) for row in (await client.call("crm.deal.list", params)).result or []]
        return ScanPage(ids, ids[-1] if len(ids) == 50 else None)
    reply = await client.call(
        "crm.item.list",
        {
            "entityTypeId": 2,
            "filter": {">id": last},
            "order": {"id": "ASC"},
            "select": ["id"],
            "start": -1,
        },
    )
    ids = [str(item["id"]) for item in items_of(reply.result)]
    return ScanPage(ids, ids[-1] if len(ids) == 50 else None)


async def _scan_parties(client: Bitrix24Client, cursor: str | None) -> ScanPage:
    kind, _, last = (cursor or "contact:0").partition(":")
    reply = await client.call(
        f"{PARTY_METHODS[kind]}.list",
        {"filter": {">ID": int(last)}, "order": {"ID": "ASC"}, "select": ["ID"], "start": -1},
    )
    rows = list(reply.result or [])
    ids = [counterparty_id(kind, row["ID"]) for row in rows]
    if len(rows) == 50:
        return ScanPage(ids, f"{kind}:{rows[-1]['ID']}")
    return ScanPage(ids, "company:0" if kind == "contact" else None)


def invoice_calls(deal_ids: Sequence[int]) -> list[Call]:
    """The `crm.item.list` commands that find the invoices of these deals, 50 deals each (§5.5)."""
    select = [
        "id",
        "parentId2",
        "stageId",
        "stageSemanticId",
        "movedTime",
        "opportunity",
        "xmlId",
        "accountNumber",
    ]
    return [
        (
            "crm.item.list",
            {
                "entityTypeId": 31,
                "filter": {"@parentId2": list(deal_ids[start : start + BATCH_LIMIT])},
                "select": [*select, "currencyId", "categoryId"],
                "order": {"id": "ASC"},
                "start": -1,
            },
        )
        for start in range(0, len(deal_ids), BATCH_LIMIT)
    ]


def invoices_of(results: Sequence[Any]) -> dict[str, Mapping[str, Any]]:
    """Deal id → its invoice, from the answers to `invoice_calls`."""
    found: list[Mapping[str, Any]] = []
    for result in results:
        if isinstance(result, ObmenError):
            raise result
        found.extend(items_of(result))
    return by_parent(found)


async def invoices(client: Bitrix24Client, deal_ids: Sequence[int]) -> dict[str, Mapping[str, Any]]:
    """Deal id → its smart invoice: one `crm.item.list` per 50 deals (`@parentId2`, §5.5)."""
    return invoices_of(await client.call_many(invoice_calls(deal_ids)))


async def invoice_parents(client: Bitrix24Client, invoice_ids: Sequence[str]) -> dict[str, str]:
    """Invoice id → the id of the deal it belongs to (`parentId2`)."""
    ids = [int(x) for x in invoice_ids if str(x).isdigit()]
    calls: list[Call] = [
        (
            "crm.item.list",
            {
                "entityTypeId": 31,
                "filter": {"@id": ids[s : s + BATCH_LIMIT]},
                "select": ["id", "parentId2"],
                "start": -1,
            },
        )
        for s in range(0, len(ids), BATCH_LIMIT)
    ]
    out: dict[str, str] = {}
    for result in await client.call_many(calls):
        if isinstance(result, ObmenError):
            raise result
        out.update({str(i["id"]): str(i["parentId2"]) for i in items_of(result) if i.get("parentId2")})
    return out


def items_of(result: Any) -> list[Mapping[str, Any]]:
    """The `items` of a `crm.item.list` answer."""
    if not isinstance(result, Mapping) or not isinstance(result.get("items"), list):
        raise ProtocolError("crm.item.list answered without result.items")
    return list(result["items"])


def _page(result: Any, method: str) -> list[Mapping[str, Any]]:
    if result is None:
        return []
    return items_of(result) if method == "crm.item.list" else list(result or [])


async def current_orders(client: Bitrix24Client, ops: Sequence[WriteOp], legacy: bool) -> dict[str, Any]:
    """`d<id>`: the deal (its pipeline decides the stage), `i<id>`: its invoice, for order updates."""
    ids = [int(op.external_id) for op in ops if isinstance(op, Update) and op.external_id.isdigit()]
    if not ids:
        return {}
    calls: list[Call] = [
        (
            "crm.deal.list" if legacy else "crm.item.list",
            {"filter": {"@ID": ids[s : s + BATCH_LIMIT]}, "select": ["ID", "CATEGORY_ID"], "start": -1}
            if legacy
            else {
                "entityTypeId": 2,
                "filter": {"@id": ids[s : s + BATCH_LIMIT]},
                "select": ["id", "categoryId", "stageId"],
                "start": -1,
            },
        )
        for s in range(0, len(ids), BATCH_LIMIT)
    ]
    # The deals and their invoices are read by one batch.
    extra = [] if legacy else invoice_calls(ids)
    answers = await client.call_many([*calls, *extra])
    out: dict[str, Any] = {}
    for result in answers[: len(calls)]:
        if isinstance(result, ObmenError):
            raise result
        for deal in [to_item(r) for r in result or []] if legacy else items_of(result):
            out[f"d{deal['id']}"] = deal
    if not legacy:
        found = invoices_of(answers[len(calls) :])
        out.update({f"i{deal}": item for deal, item in found.items()})
    return out


async def current_parties(client: Bitrix24Client, ops: Sequence[WriteOp]) -> dict[str, Any]:
    """`p<id>`: the contact or company, `r<id>`: its requisites, for counterparty updates."""
    # Multi-field updates need the current item ids (DELETE by ID, docs/protocols/bitrix24.md §5.4),
    # requisites too.
    ids = [op.external_id for op in ops if not isinstance(op, Create)]
    if not ids:
        return {}
    calls: dict[str, Call] = {}
    for ident in ids:
        kind, crm_id = split_party(ident)
        calls[f"p{ident}"] = (f"{PARTY_METHODS[kind]}.get", {"id": crm_id})
        flt = {"=ENTITY_TYPE_ID": REQUISITE_OWNER[kind], "=ENTITY_ID": crm_id}
        calls[f"r{ident}"] = ("crm.requisite.list", {"filter": flt, "order": {"ID": "ASC"}})
    out: dict[str, Any] = {}
    names = list(calls)
    for start in range(0, len(names), BATCH_LIMIT):
        part = {n: calls[n] for n in names[start : start + BATCH_LIMIT]}
        reply = await client.batch(part)
        out.update(reply.results)
    return out
