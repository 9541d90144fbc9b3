"""The site exchange driver: obmen runs a 1C-Bitrix site's exchange as 1C would, on a schedule.

One round (`tick`):

1. *pull*: `mode=query` → the orders are read to the end, absorbed into the site mirror and their
   changed keys enqueued in one transaction, and only then `success` is sent, so the site's watermark
   never moves past orders obmen has not stored (docs/protocols/commerceml.md §1.7). A round that dies before
   `success` gets the same orders again; their fingerprints are unchanged, so nothing is enqueued twice.
2. *push*: the site outbox is collected under a fresh run id, catalog changes go as 1C's catalog files
   and orders as 1C's documents; the run is acknowledged only when the site accepted all of it. A
   failed push is sent again next round: the site imports by `Ид` and `Номер`, so a repeat duplicates
   nothing (and every attempt is a new exchange run, so no half-uploaded file is appended to).

Many processes on one PostgreSQL run the exchange once: a round runs only under the lease
`site-exchange:<tenant>`, short and kept by the process's heartbeat while the round lasts; each step of
a round is a tick of its progress, so a round that stops moving shows as stalled (docs/operations.md §10).
"""

from __future__ import annotations

import asyncio
import io
import logging
import tempfile
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from obmen.connectors.commerceml import RunContext, read
from obmen.connectors.commerceml.names import Vocabulary
from obmen.connectors.mirrored.documents import build_documents, customer_id, documents_xml
from obmen.connectors.mirrored.ingest import CATALOG_ID, Absorbed, MirrorIngest
from obmen.connectors.mirrored.records import FileReport, Record, records
from obmen.connectors.site.catalog import CatalogChanges, write_files
from obmen.connectors.site.client import Session, SiteExchange
from obmen.connectors.site.connector import SYSTEM, refuses
from obmen.errors import ObmenError, ProtocolError, TransientError
from obmen.store.database import Database
from obmen.store.keeper import Lease, Leases
from obmen.store.mirror import OutboxItem

__all__ = ["SiteDriver", "SiteRound", "site_driver"]

log = logging.getLogger(__name__)

_CATALOG = ("category", "product", "offer", "price_type", "warehouse")


@dataclass(slots=True)
class SiteRound:
    """What one round did."""

    pulled: Absorbed = field(default_factory=Absorbed)
    pushed: dict[str, int] = field(default_factory=dict)
    acknowledged: int = 0


class SiteDriver:
    """Pulls the site's orders into its mirror and pushes its outbox to it."""

    def __init__(
        self,
        client: SiteExchange,
        ingest: MirrorIngest,
        *,
        catalog_id: str | None = None,
        onec: MirrorIngest | None = None,
        batch: int = 1000,
        documents_version: str = "2.09",
        pull: bool = True,
        vocabulary: Vocabulary | None = None,
    ) -> None:
        self.client = client
        #: The site's names of the order properties (`[mapping] order_properties`, `site`).
        self.vocabulary = vocabulary
        #: False in `site.mode = "rest"`: orders come through REST; the exchange only pushes the catalog.
        self.pulls = pull
        self.ingest = ingest
        self.catalog_id = catalog_id
        self._wakeup = asyncio.Event()
        self.onec = onec
        self.batch = batch
        self.documents_version = documents_version
        #: The sale run of this round's confirmed `query`, for its documents (docs/protocols/commerceml.md
        # §1.7).
        self._run: Session | None = None
        #: The lease the rounds run under (`run` with `leases`), told of each step's progress.
        self._lease: Lease | None = None

    async def tick(self) -> SiteRound:
        """One round: pull, then push; a failed pull does not hold the push back (it is raised after)."""
        result = SiteRound()
        failed: ObmenError | None = None
        self._run = None
        try:
            if self.pulls:
                self._progress("pull: query")
                result.pulled = await self.pull()
        except ObmenError as exc:
            failed = exc
        try:
            result.pushed, result.acknowledged = await self.push()
        finally:
            self._run = None
        if failed is not None:
            raise failed
        return result

    async def run(self, stop: asyncio.Event, *, interval: float, leases: Leases | None = None) -> None:
        """Tick until `stop` is set; a failed round is logged and retried next interval.

        With `leases` (the process's, whose heartbeat runs beside), a round runs only while this process
        holds the lease `site-exchange:<tenant>`, so many workers on one PostgreSQL never run the exchange
        twice, and a restarted process takes it over within the lease's ttl.
        """
        lease = self._lease = leases.lease(f"site-exchange:{self.ingest.tenant}") if leases else None
        if lease is not None:
            lease.bind()
        try:
            while not stop.is_set():
                try:
                    if lease is None or await lease.keep():
                        await self._round()
                except Exception:
                    # A bug must not stop the exchange for good: log it whole and try again next interval.
                    log.exception("site exchange round failed")
                if lease is None:
                    await self._pause(stop, interval)
                    continue
                with lease.idle():
                    await self._pause(stop, interval)
        finally:
            self._lease = None
            if lease is not None:
                await lease.release()

    def wake(self) -> None:
        """Run the next round now: obmen has just queued something for the site (its outbox filled)."""
        self._wakeup.set()

    async def _pause(self, stop: asyncio.Event, interval: float) -> None:
        """Sleep until the next poll, an earlier `wake()`, or `stop`."""
        waits = {asyncio.ensure_future(stop.wait()), asyncio.ensure_future(self._wakeup.wait())}
        _, pending = await asyncio.wait(waits, timeout=interval, return_when=asyncio.FIRST_COMPLETED)
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
        self._wakeup.clear()

    async def _round(self) -> None:
        try:
            done = await self.tick()
        except ObmenError as exc:
            log.warning("site exchange round failed (%s): %s", type(exc).__name__, exc)
            await self.ingest.note("exchange", f"failed: {type(exc).__name__}: {exc}")
            return
        if done.pulled.seen or done.pushed:
            log.info("site exchange: pulled %s; pushed %s", done.pulled.summary(), done.pushed)
        pulled = done.pulled.summary() or "nothing"
        await self.ingest.note("exchange", f"ok: pulled {pulled}; pushed {done.pushed or 'nothing'}")

    def _progress(self, doing: str) -> None:
        """A step of the round begins; under a lease another holder took meanwhile the round stops here."""
        if self._lease is None:
            return
        if not self._lease.held:
            raise TransientError("the site exchange's lease was lost mid-round; its holder runs the next one")
        self._lease.tick(doing)

    # -- pull -------------------------------------------------------------------------------------------

    async def pull(self) -> Absorbed:
        """New and changed orders from the site, stored before the site is told `success`."""
        answer = await self.client.query_orders()
        self._progress(f"pull: reading {len(answer.body)} bytes")
        found = await asyncio.to_thread(_parse, answer.body, self.vocabulary)
        self._progress(f"pull: storing {len(found)} records")
        absorbed = await self.ingest.absorb(found, trigger="site:query") if found else Absorbed()
        self._progress("pull: success")
        await self.client.confirm(answer)
        self._run = answer.session
        return absorbed

    # -- push -------------------------------------------------------------------------------------------

    async def push(self) -> tuple[dict[str, int], int]:
        """Send the outbox in batches; returns documents delivered by entity, and their total."""
        pushed: dict[str, int] = {}
        acknowledged = 0
        while True:
            self._progress(f"push: {acknowledged} sent so far")
            run = f"site-{uuid.uuid4().hex}"
            items = await self.ingest.collect(run, limit=self.batch)
            if not items:
                return pushed, acknowledged
            refused = await self._send(items)
            if refused:
                await self._keep(run, refused)
            await self.ingest.acknowledge(run)
            for item in items:
                if item.external_id not in refused.get(item.entity, {}):
                    pushed[item.entity] = pushed.get(item.entity, 0) + 1
                    acknowledged += 1
            if len(items) < self.batch or refused:
                # Refused documents stay pending: the next round (not this loop) tries them again.
                return pushed, acknowledged

    async def _send(self, items: Sequence[OutboxItem]) -> dict[str, dict[str, str]]:
        """Push one batch; returns what could not be written (entity → id → why)."""
        refused: dict[str, dict[str, str]] = {}
        changes = CatalogChanges()
        for item in items:
            if item.entity in _CATALOG:
                changes.add(item.entity, item.external_id, item.fields)
        if changes:
            await self._with_references(changes)
            with tempfile.TemporaryDirectory(prefix="obmen-site-") as scratch:
                catalog_id = await self._catalog_id()
                files, bad = await asyncio.to_thread(
                    write_files, Path(scratch), changes, catalog_id=catalog_id
                )
                if files:
                    await self.client.push_catalog(dict(files.items()))
            for item in items:
                if item.entity in _CATALOG and item.external_id in bad:
                    refused.setdefault(item.entity, {})[item.external_id] = bad[item.external_id]
        orders = [Record("order", i.external_id, i.fields) for i in items if i.entity == "order"]
        if orders:
            customers: dict[str, Any] = {i.external_id: i.fields for i in items if i.entity == "counterparty"}
            wanted = [c for c in (customer_id(o.fields) for o in orders) if c and c not in customers]
            customers |= await self.ingest.snapshots("counterparty", wanted) if wanted else {}
            built = build_documents(orders, customers, to="site", vocabulary=self.vocabulary)
            if built.refused:
                refused["order"] = built.refused
            if built.documents:
                body = documents_xml(
                    built.documents, to="site", schema_version=self.documents_version, encoding="utf-8"
                )
                # The round's own sale run carries the first documents, as 1C does (§1.7 steps 5-6).
                run, self._run = self._run, None
                await self.client.push_documents(body, session=run)
        return refused

    async def _keep(self, run: str, refused: dict[str, dict[str, str]]) -> None:
        """Keep refused documents pending (out of this run's acknowledgement), loudly."""
        for entity, reasons in refused.items():
            for external_id, reason in reasons.items():
                log.error("site exchange: %s %s is kept back: %s", entity, external_id, reason)
            await self.ingest.withhold(run, entity, list(reasons))

    async def _catalog_id(self) -> str:
        """The configured catalog `Ид`, else the one 1C last uploaded, else a stable one of this tenant."""
        if self.catalog_id:
            return self.catalog_id
        if self.onec is not None:
            known = (await self.onec.recall(CATALOG_ID, ["catalog"])).get("catalog")
            if known and known.get("id"):
                return str(known["id"])
        return str(uuid.uuid5(uuid.NAMESPACE_URL, f"obmen:{self.ingest.tenant}:catalog"))

    async def _with_references(self, changes: CatalogChanges) -> None:
        """Add the price types and warehouses that changed offers name, so the package header has them."""
        for entity, key, inner in (
            ("price_type", "prices", "price_type"),
            ("warehouse", "stock", "warehouse"),
        ):
            have = {x for x, _ in changes.get(entity)}
            wanted: set[str] = set()
            for _, fields in changes.get("offer"):
                for entry in fields.get(key) or ():
                    ref = entry.get(inner) if isinstance(entry, dict) else None
                    if isinstance(ref, dict) and ref.get("id") and ref["id"] not in have:
                        wanted.add(str(ref["id"]))
            found = await self.ingest.snapshots(entity, sorted(wanted)) if wanted else {}
            for external_id, fields in found.items():
                changes.add(entity, external_id, fields)


def _parse(body: bytes, vocabulary: Vocabulary | None = None) -> list[Record]:
    """The site's `query` answer, read to its end before anything is stored."""
    context = RunContext()
    try:
        items = read(io.BytesIO(body), context)
        return [_stable(r) for r in records(items, context, FileReport(), vocabulary)]
    except (ValueError, ArithmeticError, KeyError) as exc:
        raise ProtocolError(f"site's orders: {exc}") from exc


def _buyer(ident: str) -> str:
    # Bitrix names a buyer `USER_ID#LOGIN#NAME` (docs/protocols/commerceml.md §2.6): the name part changes
    # when the
    # person renames themselves, the user id never does.
    head, sep, _ = ident.partition("#")
    return head if sep and head.isdigit() else ident


def _stable(record: Record) -> Record:
    if record.entity == "counterparty":
        return Record("counterparty", _buyer(record.external_id), record.fields)
    party = customer_id(record.fields)
    if record.entity == "order" and party is not None:
        fields = {**record.fields, "customer": {"$ref": "counterparty", "id": _buyer(party)}}
        return Record("order", record.external_id, fields)
    return record


def site_driver(
    db: Database,
    *,
    url: str,
    login: str,
    password: str,
    catalog_id: str | None = None,
    tenant: str = "default",
    transport: Any = None,
    clock: Callable[[], float] = time.time,
    on_enqueued: Callable[[], None] | None = None,
    catalog_system: str = "onec",
    pull: bool = True,
    vocabulary: Vocabulary | None = None,
) -> SiteDriver:
    """The driver of one site's exchange (`url` ends with `/bitrix/admin/1c_exchange.php`).

    Without `catalog_id` the catalog `Ид` is the one `catalog_system` (1C) last uploaded to
    obmen. `transport` is an httpx
    transport for tests (the sync layer itself does not speak HTTP).
    """
    client = SiteExchange(url, login, password, transport=transport)
    ingest = MirrorIngest(db, tenant, SYSTEM, clock=clock, on_enqueued=on_enqueued, refuses=refuses)
    onec = MirrorIngest(db, tenant, catalog_system, clock=clock)
    return SiteDriver(client, ingest, catalog_id=catalog_id, onec=onec, pull=pull, vocabulary=vocabulary)
