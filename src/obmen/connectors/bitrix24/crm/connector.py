"""Bitrix24 CRM as the sync engine sees it: counterparties and orders (a deal with its smart invoice).

Every read and write goes out in `batch` requests of up to 50 commands (docs/architecture.md §2.5): deals are
listed 50 to a command, their invoices 50 deals to a command (`@parentId2`), their rows one command per
deal; creates chain the rows and the invoice to the new deal with `$result[...]` (docs/protocols/bitrix24.md
§4), so an
order (deal, rows, invoice, invoice rows) is four commands of one request (`orders.py`).
Deals use `crm.item.*`, or the legacy `crm.deal.*` on a portal without them (probed once, `legacy.py`).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any

from obmen.connectors.base import (
    ChangePage,
    Create,
    MatchKey,
    Remote,
    ScanPage,
    Update,
    WriteOp,
    WriteResult,
)
from obmen.connectors.bitrix24.client.rest import BATCH_LIMIT, BatchReply, Bitrix24Client, Call
from obmen.connectors.bitrix24.client.wire import MethodNotFound
from obmen.connectors.bitrix24.crm import feeds as crm_feeds
from obmen.connectors.bitrix24.crm import packing, trust, writes
from obmen.connectors.bitrix24.crm.feeds import items_of
from obmen.connectors.bitrix24.crm.fields import (
    ORIGINATOR,
    PARTY_METHODS,
    REQUISITE_OWNER,
    counterparty_id,
    manager_silence,
    order_from_deal,
    party_from_crm,
    split_party,
    stage_silence,
)
from obmen.connectors.bitrix24.crm.legacy import to_item, to_legacy_filter
from obmen.connectors.bitrix24.crm.orders import OrderMapping, order_parts, payment_state
from obmen.connectors.bitrix24.crm.seen import SeenOrders
from obmen.errors import ObmenError

__all__ = ["CARRIED", "Crm"]

CARRIED: Mapping[str, frozenset[str]] = {
    "counterparty": frozenset({"kind", "name", "phones", "emails", "requisites", "comment"}),
    "order": frozenset(
        {
            "number",
            "site",
            "status",
            "customer",
            "responsible",
            "comment",
            "total",
            "lines",
            "delivery",
            "payments",
            "cancelled",
        }
    ),
}
#: Delivery service names → their catalog product ids (resolved by the connector through the catalog).
DeliveryIds = Callable[[Sequence[str]], Awaitable[Mapping[str, int]]]
_TYPES = {"order": 2, "invoice": 31}
#: Write batches in flight at once for one write call (`Crm._send`).
PARALLEL = 4


class Crm:
    """CRM entities of one portal."""

    def __init__(
        self,
        client: Bitrix24Client,
        *,
        mapping: OrderMapping | None = None,
        legacy: bool | None = None,
        delivery_ids: DeliveryIds | None = None,
        fresh_for: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.client = client
        #: What the last read or write showed of each deal, so that updates need no read of their own.
        self.seen = SeenOrders(fresh_for, clock=clock)
        self.mapping = mapping or OrderMapping()
        self.delivery_ids = delivery_ids
        self._invoice_category: int | None = None
        #: None until probed: whether deals must use the legacy `crm.deal.*` methods.
        self.legacy = legacy

    # -- reading -------------------------------------------------------------------------------------

    async def fetch(self, entity: str, external_ids: Sequence[str]) -> Mapping[str, Remote]:
        """Read objects in bulk; ids that do not exist are absent."""
        if entity == "counterparty":
            return await self._fetch_parties({"ID": list(external_ids)}, external_ids)
        self._known(entity)
        return await self._fetch_items(entity, {}, "@id", [int(x) for x in external_ids if str(x).isdigit()])

    @staticmethod
    def _known(entity: str) -> None:
        if entity not in CARRIED:
            raise ValueError(f"Bitrix24 CRM holds no {entity!r} objects")

    async def find_by_origin(self, entity: str, canonical_ids: Sequence[str]) -> Mapping[str, Remote]:
        """Objects stamped `ORIGINATOR_ID=obmen`, `ORIGIN_ID=<canonical id>` by an earlier create."""
        if entity == "counterparty":
            found = await self._fetch_parties({"ORIGIN_ID": list(canonical_ids)}, None)
        else:
            self._known(entity)
            found = await self._fetch_items(
                entity, {"=originatorId": ORIGINATOR}, "@originId", list(canonical_ids)
            )
        return {r.origin: r for r in found.values() if r.origin is not None and r.origin in canonical_ids}

    async def legacy_deals(self) -> bool:
        """Whether deals go through the legacy methods: the portal has no `crm.item.*` (§1.3)."""
        if self.legacy is None:
            await self._probe()
        return bool(self.legacy)

    async def _probe(self) -> None:
        """One batch learns both portal facts: `crm.item.*` exists, and the default invoice pipeline."""
        calls: dict[str, Call] = {"fields": ("crm.item.fields", {"entityTypeId": 2})}
        if not self.mapping.invoice.category_id:
            calls["invoices"] = ("crm.category.list", {"entityTypeId": 31})
        reply = await self.client.batch(calls)
        error = reply.errors.get("fields")
        if error is not None and not isinstance(error, MethodNotFound):
            raise error
        if self.legacy is None:
            self.legacy = error is not None
        found = (reply.results.get("invoices") or {}).get("categories") or []
        default = next((c for c in found if c.get("isDefault") in ("Y", True)), None)
        self._invoice_category = self.mapping.invoice.category_id or int((default or {}).get("id") or 0)

    async def invoice_category(self) -> int:
        """The smart-invoice pipeline new invoices go to: the configured one, else the portal's default.

        Its id is the portal's own (`DT31_{id}:N`, docs/protocols/bitrix24.md §5.3), so 0 in the config means
        "ask".
        """
        if self._invoice_category is None:
            await self._probe()
        return self._invoice_category or 0

    async def _fetch_items(
        self, entity: str, base: Mapping[str, Any], key: str, values: Sequence[Any]
    ) -> dict[str, Remote]:
        legacy = await self.legacy_deals()
        calls: list[Call] = []
        for start in range(0, len(values), BATCH_LIMIT):
            flt = {**base, key: list(values[start : start + BATCH_LIMIT])}
            if legacy:
                # Legacy `*` leaves user fields out; `UF_*` brings them (docs/protocols/bitrix24.md §2.4).
                select = ["*", "UF_*"] if self.mapping.properties else ["*"]
                calls.append(
                    ("crm.deal.list", {"filter": to_legacy_filter(flt), "select": select, "start": -1})
                )
            else:
                params = {"entityTypeId": 2, "filter": flt, "select": ["*"], "start": -1}
                calls.append(("crm.item.list", params))
        items: list[Mapping[str, Any]] = []
        for result in await self.client.call_many(calls):
            if isinstance(result, ObmenError):
                raise result
            items.extend(to_item(row) for row in result) if legacy else items.extend(items_of(result))
        ids = [int(item["id"]) for item in items]
        rows = await self._rows(ids, legacy)
        invoices = {} if legacy else await self.invoices(ids)
        services = frozenset(self.mapping.delivery)
        out: dict[str, Remote] = {}
        for item in items:
            ident = str(item["id"])
            pipeline = self.mapping.for_category(item.get("categoryId"))
            m = self.mapping
            fields = order_from_deal(
                item, rows.get(ident, []), pipeline, services, m.currency, m.properties, m.managers
            )
            currency = str(item.get("currencyId") or self.mapping.currency)
            fields.update(order_parts(item, invoices.get(ident), self.mapping, currency))
            self.seen.put(
                ident,
                deal=item,
                invoice=invoices.get(ident),
                rows=None if legacy else rows.get(ident, []),
                lines=fields.get("lines"),
                delivery=fields.get("delivery"),
            )
            # A portal without crm.item has no smart invoices at all: nothing to complete there (§5.5).
            lacking = not legacy and ident not in invoices
            stamp = _timestamp(item.get("updatedTime"))
            unknown, fallbacks = stage_silence(item, pipeline)
            unknown = {**unknown, **manager_silence(item, m.managers)}
            out[ident] = Remote(
                "order", ident, fields, stamp, _origin(item), lacking, unknown=unknown, fallbacks=fallbacks
            )
        return out

    async def invoices(self, deal_ids: Sequence[int]) -> dict[str, Mapping[str, Any]]:
        """Deal id → its smart invoice (`crm_feeds.invoices`)."""
        return await crm_feeds.invoices(self.client, deal_ids)

    async def invoice_parents(self, invoice_ids: Sequence[str]) -> dict[str, str]:
        """Invoice id → the id of the deal it belongs to (`parentId2`)."""
        return await crm_feeds.invoice_parents(self.client, invoice_ids)

    async def _rows(self, ids: Sequence[int], legacy: bool = False) -> dict[str, list[Any]]:
        # One productrow.list per owner: a page holds 50 rows, and one owner rarely has more.
        calls: list[Call] = [
            ("crm.deal.productrows.get", {"id": ident})
            if legacy
            else ("crm.item.productrow.list", {"filter": {"=ownerType": "D", "=ownerId": ident}})
            for ident in ids
        ]
        results = await self.client.call_many(calls)
        out: dict[str, list[Any]] = {}
        for ident, result in zip(ids, results, strict=True):
            if isinstance(result, ObmenError):
                raise result
            if legacy:
                out[str(ident)] = [to_item(row) for row in result or []]
            else:
                out[str(ident)] = list(result.get("productRows", [])) if isinstance(result, Mapping) else []
        return out

    async def _fetch_parties(
        self, flt: Mapping[str, list[str]], ids: Sequence[str] | None
    ) -> dict[str, Remote]:
        calls: dict[str, Call] = {}
        for kind in ("contact", "company"):
            if ids is not None:
                wanted = [str(n) for k, n in map(split_party, ids) if k == kind]
                if not wanted:
                    continue
                key_filter: dict[str, Any] = {"@ID": wanted}
            else:
                key_filter = {"=ORIGINATOR_ID": ORIGINATOR, "@ORIGIN_ID": flt["ORIGIN_ID"]}
            select = ["*", "PHONE", "EMAIL", "ORIGINATOR_ID", "ORIGIN_ID", "DATE_MODIFY"]
            params = {"filter": key_filter, "select": select, "start": -1}
            calls[kind] = (f"{PARTY_METHODS[kind]}.list", params)
        if not calls:
            return {}
        reply = await self.client.batch(calls)
        if reply.errors:
            raise next(iter(reply.errors.values()))
        rows = {kind: list(reply.results.get(kind) or []) for kind in calls}
        requisites = await self._requisites(rows)
        out: dict[str, Remote] = {}
        for kind, kind_rows in rows.items():
            for row in kind_rows:
                ident = counterparty_id(kind, row["ID"])
                fields = party_from_crm(kind, row, requisites.get(ident))
                origin = row.get("ORIGIN_ID") if row.get("ORIGINATOR_ID") == ORIGINATOR else None
                out[ident] = Remote("counterparty", ident, fields, _timestamp(row.get("DATE_MODIFY")), origin)
        return out

    async def _requisites(self, rows: Mapping[str, list[Any]]) -> dict[str, Mapping[str, Any]]:
        calls: dict[str, Call] = {}
        for kind, kind_rows in rows.items():
            if kind_rows:
                flt = {"=ENTITY_TYPE_ID": REQUISITE_OWNER[kind], "@ENTITY_ID": [r["ID"] for r in kind_rows]}
                calls[kind] = ("crm.requisite.list", {"filter": flt, "order": {"ID": "ASC"}})
        if not calls:
            return {}
        reply = await self.client.batch(calls)
        out: dict[str, Mapping[str, Any]] = {}
        for kind, found in reply.results.items():
            for req in found or []:
                out.setdefault(counterparty_id(kind, req["ENTITY_ID"]), req)
        return out

    async def match(self, entity: str, keys: Sequence[MatchKey]) -> Mapping[MatchKey, str]:
        """Existing CRM objects for matching keys (docs/protocols/bitrix24.md).

        See §5.4: `crm.duplicate.findbycomm`.
        """
        if entity != "counterparty":
            return {}
        comm = [(k, v) for k, v in keys if k in ("phones", "emails")]
        calls: list[Call] = [
            ("crm.duplicate.findbycomm", {"type": "PHONE" if k == "phones" else "EMAIL", "values": [v]})
            for k, v in comm
        ]
        out: dict[MatchKey, str] = {}
        for key, result in zip(comm, await self.client.call_many(calls), strict=True):
            if isinstance(result, Mapping):
                # A company is the stronger match for an order's buyer: the contact is then a person in it.
                for kind, crm in (("company", "COMPANY"), ("contact", "CONTACT")):
                    if result.get(crm):
                        out[key] = counterparty_id(kind, min(int(x) for x in result[crm]))
                        break
        return out

    # -- writing -------------------------------------------------------------------------------------

    async def write(self, ops: Sequence[WriteOp]) -> Sequence[WriteResult]:
        """Apply writes in as few batches as possible; one result per op (naming the op it was given)."""
        given = list(ops)
        results = await self._write(await trust.whole_rows(self.seen, given, self.fetch))
        return [replace(result, op=op) for result, op in zip(results, given, strict=True)]

    async def _write(self, ops: Sequence[WriteOp]) -> Sequence[WriteResult]:
        parties = [op for op in ops if op.entity == "counterparty"]
        current = await crm_feeds.current_parties(self.client, parties)
        orders = [op for op in ops if op.entity == "order"]
        # Creates alone assume crm.item until the portal answers otherwise (the probe's request is saved),
        # and so do updates of deals last seen through crm.item answers; other updates read the deals
        # first, and that needs to know which methods to read with.
        updates = [op for op in orders if isinstance(op, Update)]
        legacy = (
            bool(self.legacy)
            if all(trust.trusted(self.seen, op) for op in updates)
            else await self.legacy_deals()
        )
        current.update(await trust.current_orders(self.seen, self.client, orders, legacy))
        mapping = self.mapping
        # The invoice pipeline is needed to make an invoice, or to stage one whose pipeline is not known.
        unplaced = any(not (current.get(f"i{op.external_id}") or {}).get("categoryId") for op in updates)
        staged = unplaced or any(_staged(op) for op in orders) or self._invoice_category is not None
        if orders and not legacy and staged:
            category = await self.invoice_category()
            mapping = replace(mapping, invoice=mapping.invoice.model_copy(update={"category_id": category}))
        services = {str(op.fields["delivery"]["service"]) for op in orders if op.fields.get("delivery")}
        wanted = sorted(s for s in services if s in self.mapping.delivery)
        ids = await self.delivery_ids(wanted) if wanted and self.delivery_ids else {}
        results = await self._send(ops, mapping, current, legacy, ids)
        lost = [
            i for i, r in results.items() if isinstance(r.error, MethodNotFound) and ops[i].entity == "order"
        ]
        if lost and not legacy and self.legacy is None and await self.legacy_deals():
            # An old portal without crm.item: the deals go through crm.deal.* after all (§1.3).
            again = await self._send([ops[i] for i in lost], mapping, current, True, ids)
            results.update({i: again[n] for n, i in enumerate(lost)})
        return [results[i] for i in range(len(ops))]

    async def _send(
        self,
        ops: Sequence[WriteOp],
        mapping: OrderMapping,
        current: Mapping[str, Any],
        legacy: bool,
        ids: Mapping[str, int],
    ) -> dict[int, WriteResult]:
        """Plan every op and send the plans in batches of at most 50 commands; results by op index.

        No plan refers to another's (`packing.py`), so the batches go out together (up to `PARALLEL` at
        once): a portal answers a 50-command batch in seconds, and the leaky bucket still paces them
        (docs/protocols/bitrix24.md §3, §4). What the answers show of each deal is kept (`trust.py`).
        """
        results: dict[int, WriteResult] = {}
        planned: list[tuple[int, WriteOp, writes.OpPlan]] = []
        for index, op in enumerate(ops):
            try:
                op_plan = writes.plan(op, mapping, current, legacy=legacy, delivery_ids=ids)
                planned.append((index, op, op_plan))
            except ObmenError as exc:
                results[index] = WriteResult(op, error=exc)
        gate = asyncio.Semaphore(PARALLEL)

        async def run(calls: dict[str, Call]) -> BatchReply | ObmenError:
            async with gate:
                try:
                    return await self.client.batch(calls)
                except ObmenError as exc:
                    return exc

        batches = packing.pack([(index, op_plan) for index, _, op_plan in planned])
        replies = await asyncio.gather(*(run(calls) for calls, _ in batches))
        failed: dict[int, ObmenError] = {}
        for (_, indexes), reply in zip(batches, replies, strict=True):
            if isinstance(reply, ObmenError):
                failed.update(dict.fromkeys(indexes, reply))
        reply = packing.merged([r for r in replies if isinstance(r, BatchReply)])
        written: list[tuple[WriteResult, writes.OpPlan, int]] = []
        for index, op, op_plan in planned:
            if index in failed:
                results[index] = WriteResult(op, error=failed[index])
            else:
                results[index] = op_plan.result(op, index, reply)
            if op.entity == "order":
                written.append((results[index], op_plan, index))
        trust.remember(self.seen, written, reply)
        return results

    # -- change feeds --------------------------------------------------------------------------------

    async def changes(self, cursor: str | None, limit: int) -> ChangePage:
        """Objects modified since the cursor (`crm_feeds.changes`)."""
        return await crm_feeds.changes(self.client, await self.legacy_deals(), cursor)

    async def scan(self, entity: str, cursor: str | None, limit: int) -> ScanPage:
        """Every id of an entity, a page at a time (keyset on id, docs/protocols/bitrix24.md §2.4)."""
        if entity != "counterparty":
            self._known(entity)
        legacy = entity == "order" and await self.legacy_deals()
        return await crm_feeds.scan(self.client, entity, legacy, cursor)


def _staged(op: WriteOp) -> bool:
    """Whether a new order's invoice starts past its first stage (paid or cancelled already)."""
    return isinstance(op, Create) and (payment_state(op.fields)[0] or bool(op.fields.get("cancelled")))


def _origin(item: Mapping[str, Any]) -> str | None:
    return str(item["originId"]) if item.get("originatorId") == ORIGINATOR and item.get("originId") else None


def _timestamp(value: Any) -> float | None:
    try:
        return datetime.fromisoformat(str(value)).timestamp() if value else None
    except ValueError:
        return None
