"""Bitrix24 as the sync engine sees it: the CRM, the catalog, users and leads of one portal.

Each entity goes to the part that speaks its methods (`crm`, `catalog`, `people`). Writes that a limit
refused, or whose request came back without a clear answer, are not lost: creates are first looked up
by their stamp (`ORIGIN_ID`, `xmlId`, docs/protocols/bitrix24.md §7.3), so a create that did land becomes an
update of
that object, and the rest are sent again after the wait the portal asked for.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace

from obmen.config.mapping import property_field
from obmen.connectors.base import (
    Capabilities,
    Change,
    ChangePage,
    Create,
    MatchKey,
    Remote,
    ScanPage,
    Update,
    WriteOp,
    WriteResult,
)
from obmen.connectors.bitrix24.catalog.connector import CATALOG_CARRIED, Catalog
from obmen.connectors.bitrix24.client.rest import BATCH_LIMIT, Bitrix24Client
from obmen.connectors.bitrix24.crm.connector import CARRIED as CRM_CARRIED
from obmen.connectors.bitrix24.crm.connector import Crm
from obmen.connectors.bitrix24.crm.orders import INVOICE_ONLY, OrderMapping
from obmen.connectors.bitrix24.crm.people import PEOPLE_CARRIED, People
from obmen.connectors.bitrix24.events.echo import Echoes
from obmen.connectors.bitrix24.events.notices import OfflineQueue
from obmen.errors import TransientError

__all__ = ["CARRIED", "Bitrix24Connector"]

CARRIED: Mapping[str, frozenset[str]] = {**CRM_CARRIED, **CATALOG_CARRIED, **PEOPLE_CARRIED}
#: What the modification-time poll reads (crm_feeds.changes): invoices come back as their orders.
_POLLED = frozenset({"order", "invoice", "counterparty"})
_READ_ONLY = frozenset({"price_type", "warehouse", "user"})


class Bitrix24Connector:
    """One portal: CRM, catalog, users and leads."""

    system = "bitrix24"

    def __init__(
        self,
        client: Bitrix24Client,
        *,
        mapping: OrderMapping | None = None,
        variations: bool = False,
        currency: str = "RUB",
        write_rounds: int = 4,
        offline: OfflineQueue | None = None,
        poll_every: float = 30.0,
        echo_window: float = 10.0,
        catalog_properties: Mapping[str, str] | None = None,
        stores: Sequence[int] = (),
        fresh_for: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.client = client
        #: Application mode reads the offline queue; webhook mode polls modification times (§6.5).
        self.offline = offline
        self.poll_every = poll_every
        self._clock = clock
        self._last_poll: float | None = None
        self._woken = False
        #: How long an order update trusts the last read or write of its deal (crm/trust.py).
        self.crm = Crm(
            client, mapping=mapping, delivery_ids=self._delivery_ids, fresh_for=fresh_for, clock=clock
        )
        #: Delivery service → catalog product id, once found (the products rarely change).
        self._delivery: dict[str, int] = {}
        self.catalog = Catalog(
            client, variations=variations, currency=currency, properties=catalog_properties, stores=stores
        )
        self.people = People(client)
        self.write_rounds = write_rounds
        #: obmen's own recent writes, to know their online events for echoes (echo.py).
        self.echoes = Echoes(echo_window, clock=clock)
        client.on_write = self.echoes.wrote
        # Each mapped order property is an order field of its own (`property:<code>`).
        own = {property_field(code) for code in (mapping.properties if mapping else {})}
        own |= {"manager"} if mapping and mapping.managers else set()
        self.capabilities = Capabilities(
            fields={**CARRIED, "order": CARRIED["order"] | own},
            creates=frozenset(CARRIED) - _READ_ONLY,
            # fetch and write chunk to batches of 50 themselves: a bigger call only saves requests.
            batch_size=BATCH_LIMIT * 10,
            push=True,
            poll=True,
            # Invoice events become their orders' keys when a worker claims them (engine/aliases.py).
            resolves=frozenset({"invoice"}),
            notes={
                "limits": "leaky bucket per portal, batch ≤ 50",
                "read_only": ", ".join(sorted(_READ_ONLY)),
            },
        )

    def _part(self, entity: str) -> Crm | Catalog | People:
        if entity in CRM_CARRIED:
            return self.crm
        if entity in CATALOG_CARRIED:
            return self.catalog
        if entity in PEOPLE_CARRIED:
            return self.people
        raise ValueError(f"Bitrix24 holds no {entity!r} objects")

    async def fetch(self, entity: str, external_ids: Sequence[str]) -> Mapping[str, Remote]:
        """Read objects in bulk; ids that do not exist are absent."""
        found = await self._part(entity).fetch(entity, external_ids)
        self._narrow()
        return found

    def _narrow(self) -> None:
        """On a portal without `crm.item.*` orders have no invoice, so no number or payments (§5.5).

        Declared once the probe has told, so that the engine never reads their absence as "emptied".
        """
        if self.crm.legacy and self.capabilities.fields["order"] >= INVOICE_ONLY:
            fields = {**self.capabilities.fields, "order": self.capabilities.fields["order"] - INVOICE_ONLY}
            self.capabilities = replace(self.capabilities, fields=fields)

    async def find_by_origin(self, entity: str, canonical_ids: Sequence[str]) -> Mapping[str, Remote]:
        """Objects an earlier obmen create stamped with these canonical ids."""
        return await self._part(entity).find_by_origin(entity, canonical_ids)

    async def match(self, entity: str, keys: Sequence[MatchKey]) -> Mapping[MatchKey, str]:
        """Existing objects for matching keys."""
        return await self._part(entity).match(entity, keys)

    async def scan(self, entity: str, cursor: str | None, limit: int) -> ScanPage:
        """Every object id of an entity, a page at a time."""
        return await self._part(entity).scan(entity, cursor, limit)

    async def resolve_changes(self, changes: Sequence[Change]) -> list[Change]:
        """Keys as the engine knows them: an invoice's change is its order's (it is part of it, orders.py).

        Invoice events carry only the invoice id (docs/protocols/bitrix24.md §5.5); one lookup finds their
        deals.
        Invoices that are gone or belong to no deal name nothing.
        """
        ids = [c.external_id for c in changes if c.entity == "invoice"]
        parents = await self.crm.invoice_parents(ids) if ids else {}
        out: list[Change] = []
        for change in changes:
            if change.entity != "invoice":
                out.append(change)
            elif change.external_id in parents:
                out.append(Change("order", parents[change.external_id]))
        return self._heard(list(dict.fromkeys(out)))

    def _heard(self, changes: list[Change]) -> list[Change]:
        """Changes someone made: what obmen last saw of those deals is no longer fresh (crm/trust.py)."""
        self.crm.seen.forget(c.external_id for c in changes if c.entity == "order")
        return changes

    async def resolve(self, changes: Sequence[Change]) -> list[Change]:
        """`Resolver`: invoice keys an event enqueued, as their orders' keys."""
        return await self.resolve_changes(changes)

    def drop_echoes(self, changes: Sequence[Change]) -> list[Change]:
        """Online events minus the echoes of obmen's own writes that a reliable feed would still carry.

        The offline queue (application mode) covers every bound event; the modification-time poll
        (webhook mode) covers the CRM only, so catalog events are then always kept (echo.py).
        """
        return self._heard(self.echoes.drop(changes, only=None if self.offline is not None else _POLLED))

    def wake(self) -> None:
        """The portal rang (`ONOFFLINEEVENT`): the next `changes` reads at once."""
        self._woken = True

    async def changes(self, cursor: str | None, limit: int) -> ChangePage:
        """Changed objects: the offline queue (application) or modification times (webhook).

        Every read costs a request of the portal's 2 per second, so between reads at least `poll_every`
        seconds pass unless the portal rang; a skipped read returns the cursor unchanged.
        """
        now = self._clock()
        due = self._last_poll is None or now - self._last_poll >= self.poll_every
        if not (due or self._woken):
            return ChangePage([], cursor, more=False)
        self._woken = False
        self._last_poll = now
        if self.offline is not None:
            page = await self.offline.changes(cursor, limit)
            page = ChangePage(await self.resolve_changes(page.changes), page.cursor, page.more)
        else:
            page = await self.crm.changes(cursor, limit)
            self._heard(list(page.changes))
        if page.more:
            self._woken = True  # the caller reads on at once while pages are full
        return page

    async def _delivery_ids(self, services: Sequence[str]) -> Mapping[str, int]:
        """The catalog products of delivery services: mapped by `xmlId`, inside the delivery section."""
        mapping = self.crm.mapping
        missing = [s for s in services if s not in self._delivery and s in mapping.delivery]
        if missing:
            found = await self.catalog.match("category", [("xml_id", mapping.delivery_section)])
            section = found.get(("xml_id", mapping.delivery_section))
            wanted = {mapping.delivery[s] for s in missing}
            rows = await self.catalog.rows("product", {"xmlId": sorted(wanted)}) if section else []
            by_xml = {
                str(r.get("xmlId")): int(r["id"]) for r in rows if str(r.get("iblockSectionId")) == section
            }
            for service in missing:
                if mapping.delivery[service] in by_xml:
                    self._delivery[service] = by_xml[mapping.delivery[service]]
        return {s: self._delivery[s] for s in services if s in self._delivery}

    # -- writing -------------------------------------------------------------------------------------

    async def write(self, ops: Sequence[WriteOp]) -> Sequence[WriteResult]:
        """Apply writes in as few batches as possible; one result per op, short refusals absorbed."""
        results: dict[int, WriteResult] = {}
        pending = dict(enumerate(ops))
        for round_ in range(self.write_rounds):
            wait = 0.0
            again: dict[int, WriteOp] = {}
            for index, result in zip(pending, await self._write_once(list(pending.values())), strict=True):
                results[index] = result
                error = result.error
                # Only short waits are taken here; a long one is the queue's (docs/architecture.md §2.6).
                hint = (error.retry_after or 1.0) if isinstance(error, TransientError) else None
                if hint is not None and self.client.retry.short(hint) and round_ + 1 < self.write_rounds:
                    again[index] = ops[index]
                    wait = max(wait, hint)
                    if isinstance(ops[index], Create) and result.external_id:
                        # The object was made before a later step failed: finish it as an update.
                        again[index] = Update(ops[index].entity, result.external_id, ops[index].fields)
            if not again:
                break
            self.client.retries += 1
            await self.client.sleep(wait)
            pending = await self._recover(again)
        return [WriteResult(ops[i], results[i].external_id, results[i].error) for i in range(len(ops))]

    async def _write_once(self, ops: Sequence[WriteOp]) -> list[WriteResult]:
        by_part: dict[int, list[int]] = {}
        parts: dict[int, Crm | Catalog | People] = {}
        for index, op in enumerate(ops):
            part = self._part(op.entity)
            by_part.setdefault(id(part), []).append(index)
            parts[id(part)] = part
        out: list[WriteResult | None] = [None] * len(ops)
        for key, indexes in by_part.items():
            written = await parts[key].write([ops[i] for i in indexes])
            for i, result in zip(indexes, written, strict=True):
                out[i] = result
        return [r for r in out if r is not None]

    async def _recover(self, ops: Mapping[int, WriteOp]) -> dict[int, WriteOp]:
        """CRM creates that may have landed are looked up by `ORIGIN_ID` before they are sent again."""
        by_entity: dict[str, list[str]] = {}
        for op in ops.values():
            if isinstance(op, Create) and (op.entity in CRM_CARRIED or op.entity == "lead"):
                by_entity.setdefault(op.entity, []).append(op.canonical_id)
        found: dict[tuple[str, str], str] = {}
        for entity, cids in by_entity.items():
            for cid, remote in (await self.find_by_origin(entity, cids)).items():
                found[(entity, cid)] = remote.external_id
        out: dict[int, WriteOp] = {}
        for index, op in ops.items():
            key = (op.entity, op.canonical_id) if isinstance(op, Create) else None
            out[index] = Update(op.entity, found[key], op.fields) if key in found else op
        return out
