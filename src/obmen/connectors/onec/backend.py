"""What obmen's 1C exchange endpoint does with a run (the `ExchangeBackend` of `onec.server`).

Catalog files are read by the streaming codec in a worker thread (a big one in a helper process,
`connectors/onec/spooler.py`) and their records *spooled* to a file next to the upload; only a file
read to its end is absorbed into the 1C mirror, so truncated or hostile XML imports nothing, and memory
does not grow with the file. Products and offers whose raw digest the mirror already holds are neither
parsed nor mapped (the reader asks the mirror a few hundred at a time), and only their sighting is
stored: an unchanged re-import costs little more than the XML walk.
Absorbing enqueues the keys of the objects whose fingerprint changed (`obmen.connectors.mirrored.ingest`).
`deactivate` retires what a full run did not mention. `query` answers 1C with the outbox's orders,
acknowledged only by `success` (docs/protocols/commerceml.md §1.7).

1C sends an order back under its own `Ид` but with the site's `Номер` (§2.7), so every order handed to
1C is indexed by number in the mirror (`ORDER_NUMBERS`), and 1C's documents find their order by it.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from obmen.connectors.commerceml import KnownMany, RunContext
from obmen.connectors.commerceml.names import Vocabulary
from obmen.connectors.commerceml.reader import read_classifier
from obmen.connectors.mirrored.documents import (
    DEFAULT_STATUSES,
    build_documents,
    customer_id,
    document_number,
    documents_xml,
    info_xml,
)
from obmen.connectors.mirrored.ingest import CATALOG_ID, LAST_ORDER, ORDER_NUMBERS, Absorbed, MirrorIngest
from obmen.connectors.mirrored.records import CATALOG_ENTITIES, FileReport, Record
from obmen.connectors.onec.ahead import Ahead, next_file, read_ahead
from obmen.connectors.onec.connector import SYSTEM
from obmen.connectors.onec.repeats import Repeats, file_digest, file_kind
from obmen.connectors.onec.server import ExchangeEndpoint, Run
from obmen.connectors.onec.spooler import Spooler, SpoolReader
from obmen.connectors.onec.spooler import spool as read_spool
from obmen.connectors.onec.throttle import TrustedProxies
from obmen.connectors.onec.uploads import Limits
from obmen.errors import ObmenError, TransientError
from obmen.store.database import Database
from obmen.store.uploads import Upload

__all__ = ["OneCBackend", "onec_endpoint"]

log = logging.getLogger(__name__)

_STATE_TTL = 6 * 3600.0
#: How long the reading thread waits for the mirror to answer which items it holds.
_ASK_TIMEOUT = 120.0


@dataclass(slots=True)
class _RunState:
    started: float
    context: RunContext = field(default_factory=RunContext)
    full: set[str] = field(default_factory=set)
    #: Files of this run not read because 1C sent them again unchanged: (kind, name) → what they wrote.
    skipped: dict[tuple[str, str], frozenset[str]] = field(default_factory=dict)
    #: How many times `context` has changed (each file read or skipped): a file read ahead from an older
    #: one is read again (`connectors/onec/ahead.py`).
    generation: int = 0
    ahead: Ahead | None = None


class OneCBackend:
    """The 1C mirror behind the exchange endpoint."""

    def __init__(
        self,
        ingest: MirrorIngest,
        *,
        query_limit: int = 1000,
        schema_version: str = "2.05",
        encoding: str = "windows-1251",
        statuses: Mapping[str, str] = DEFAULT_STATUSES,
        payment_systems: Mapping[str, str] | None = None,
        vocabulary: Vocabulary | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.ingest = ingest
        self.repeats = Repeats(ingest.db, ingest.tenant, ingest.system)
        self.statuses = dict(statuses)
        self.payment_systems = dict(payment_systems or {})
        #: 1C's names of statuses and payment kinds (`[mapping] onec_statuses`, `payment_systems`).
        self.vocabulary = vocabulary or Vocabulary()
        self.query_limit = query_limit
        self.schema_version = schema_version
        self.encoding = encoding
        self.clock = clock
        self._runs: dict[str, _RunState] = {}
        self.spooler = Spooler()

    def _state(self, run: Run) -> _RunState:
        now = self.clock()
        for stale in [k for k, s in self._runs.items() if now - s.started > _STATE_TTL]:
            del self._runs[stale]
        return self._runs.setdefault(run.id, _RunState(run.started))

    # -- catalog ----------------------------------------------------------------------------------------

    async def import_file(self, run: Run, path: Path) -> str:
        """Read one catalog file to its end, then absorb it into the mirror; a file sent again unchanged
        is not read (`onec.repeats`)."""
        state = self._state(run)
        name = path.relative_to(run.directory).as_posix() if path.is_relative_to(run.directory) else path.name
        kind = file_kind(name)
        async with self._noted("catalog", path):
            digest = await asyncio.to_thread(file_digest, path)
            held = await self.repeats.held(kind, name, digest)
            if held is not None:
                self._drop_ahead(state)
                return await self._skip(state, path, held)
            await self.repeats.forget([(kind, name)])
            spool, report = await self._read(state, path, name, digest)
            ahead = state.ahead = self._read_next(run, state, path)
            absorbed = await self._absorb(spool, trigger="onec:exchange")
            if ahead is not None:
                ahead.written |= absorbed.seen.keys()
            full = frozenset(e for e in report.full if e in CATALOG_ENTITIES)
            if report.catalog_id:
                await self.ingest.remember(CATALOG_ID, {"catalog": {"id": report.catalog_id}})
            # Only now, absorbed to its end, may the file be skipped next time. A full section
            # (`СодержитТолькоИзменения="false"`, docs/protocols/commerceml.md §2.3) also says that what it
            # does not list is gone, which only the run's `deactivate` makes true in the mirror (§1.6):
            # until then (a run that stopped before it) the same bytes must be read again.
            upload = Upload(
                kind, name, digest, frozenset(absorbed.seen), full, run.id, not full, self.ingest.clock()
            )
            await self.repeats.remember(upload)
        state.full |= report.full
        summary = f"{path.name}: {absorbed.summary() or 'nothing to import'}"
        await self.ingest.note("catalog", f"ok: {summary}")
        return summary

    async def _read(self, state: _RunState, path: Path, name: str, digest: str) -> tuple[Path, FileReport]:
        """The file's spool and report: the one read ahead if it still holds, or read now."""
        ahead, state.ahead = state.ahead, None
        taken = await ahead.take(name, digest, state.generation) if ahead is not None else None
        state.generation += 1
        if taken is not None:
            spool, state.context, report = taken
            return spool, report
        report = FileReport()
        known = self._known_many(asyncio.get_running_loop())
        return await asyncio.to_thread(self.spooler.run, path, state.context, report, known), report

    def _read_next(self, run: Run, state: _RunState, path: Path) -> Ahead | None:
        """Start reading the file 1C will likely ask for next, while this one is absorbed."""
        done = {PurePosixPath(n).name for n in (*run.imported, *run.tasks)}
        upcoming = next_file(path, done, self.spooler.min_bytes)
        if upcoming is None or not upcoming.is_relative_to(run.directory):
            return None
        name = upcoming.relative_to(run.directory).as_posix()
        kind = file_kind(name)

        async def repeated(digest: str) -> bool:
            return await self.repeats.held(kind, name, digest) is not None

        loop = asyncio.get_running_loop()
        return read_ahead(
            self.spooler,
            upcoming,
            name,
            context=state.context,
            generation=state.generation,
            repeated=repeated,
            known=self._known_many(loop),
        )

    def _drop_ahead(self, state: _RunState) -> None:
        if state.ahead is not None:
            state.ahead.drop()
            state.ahead = None

    async def _skip(self, state: _RunState, path: Path, held: Upload) -> str:
        """Acknowledge a file 1C sent again unchanged: only its classifier is read, for the files after it."""
        await asyncio.to_thread(read_classifier, path, state.context)
        state.generation += 1
        state.skipped[(held.kind, held.name)] = held.entities
        summary = f"{path.name}: unchanged since it was last imported, not read again"
        await self.ingest.note("catalog", f"ok: {summary}")
        return summary

    def _known_many(self, loop: asyncio.AbstractEventLoop) -> KnownMany:
        """The reader's question, asked from its thread, answered by the mirror on this loop."""

        def known(batch: Sequence[tuple[str, str, str]]) -> Collection[tuple[str, str]]:
            future = asyncio.run_coroutine_threadsafe(self.ingest.held(batch), loop)
            try:
                return future.result(timeout=_ASK_TIMEOUT)
            except concurrent.futures.TimeoutError as exc:
                future.cancel()
                raise TransientError("the 1C mirror did not answer in time") from exc

        return known

    @contextlib.asynccontextmanager
    async def _noted(self, what: str, path: Path) -> AsyncIterator[None]:
        """A failed upload is recorded for the operator (`obmen status`) before 1C hears `failure`."""
        try:
            yield
        except ObmenError as exc:
            await self._note(what, f"failed: {path.name}: {exc}")
            raise
        except Exception as exc:
            # The store failing under us (or a bug) must still reach 1C as a readable `failure` line;
            # 1C runs the exchange again later and an absorb is idempotent.
            log.exception("1C exchange: storing %s failed", path.name)
            error = TransientError(f"{path.name}: obmen could not store it ({type(exc).__name__})")
            await self._note(what, f"failed: {error}")
            raise error from exc

    async def _note(self, what: str, text: str) -> None:
        try:
            await self.ingest.note(what, text)
        except Exception:
            # Best effort: the store may be what failed; the log has the story either way.
            log.warning("1C exchange: could not record %r for the operator", text, exc_info=True)

    async def deactivate(self, run: Run) -> str:
        """Retire the catalog objects a full run did not mention (docs/protocols/commerceml.md §1.6)."""
        state = self._runs.get(run.id)
        if state is not None:
            self._drop_ahead(state)  # what it retires would make the mirror's answers to it stale
        if state is None:
            return "Обмен содержал только изменения, деактивировать нечего / a delta run retires nothing"
        full = sorted(e for e in state.full if e in CATALOG_ENTITIES)
        # Retiring keeps what this run saw (§1.6), and a skipped file's objects were not seen: retiring
        # an entity it wrote would retire them too. Such entities are kept this once, and neither file
        # is skipped next time, so the next run retires what it should.
        clash = {e for e in full if any(e in wrote for wrote in state.skipped.values())}
        if clash:
            await self.repeats.void(run.id, clash)
            await self.repeats.forget([key for key, wrote in state.skipped.items() if wrote & clash])
            full = [e for e in full if e not in clash]
        started = self.ingest.clock()
        retired = (
            await self.ingest.retire(full, before=run.started, trigger="onec:deactivate") if full else None
        )
        await self.repeats.settle(run.id, retired_from=started, now=self.ingest.clock())
        if retired is None:
            return "Обмен содержал только изменения, деактивировать нечего / a delta run retires nothing"
        counts = ", ".join(f"{e} {retired.seen.get(e, 0)}" for e in full)
        return f"Деактивировано / retired: {counts}"

    async def _absorb(self, spool: Path, *, trigger: str, rekey: bool = False) -> Absorbed:
        total = Absorbed()
        reader = SpoolReader(spool)
        try:
            # On the loop, not in a thread: a chunk is a few hundred lines of a local file read by orjson
            # (a few ms), and the thread hop each cost more than that while the worker held the loop.
            while chunk := reader.next_chunk():
                if rekey:
                    chunk = await self.ingest.rekey_orders(chunk)
                total.add(await self.ingest.absorb(chunk, trigger=trigger))
        finally:
            await asyncio.to_thread(reader.close)
        return total

    # -- sale -------------------------------------------------------------------------------------------

    async def query(self, run: Run) -> bytes:
        """The outbox's orders as a site answers `mode=query`, marked as sent under this run."""
        items = await self.ingest.collect(run.id, limit=self.query_limit)
        orders = [Record(i.entity, i.external_id, i.fields) for i in items if i.entity == "order"]
        customers: dict[str, Any] = {i.external_id: i.fields for i in items if i.entity == "counterparty"}
        orders += await self._carriers(customers, orders)
        missing = [c for c in (customer_id(o.fields) for o in orders) if c and c not in customers]
        if missing:
            customers |= await self.ingest.snapshots("counterparty", missing)
        numbers = {n: {"order": o.external_id} for o in orders if (n := document_number(o.fields))}
        await self.ingest.remember(ORDER_NUMBERS, numbers)
        await self.ingest.remember(
            LAST_ORDER, {c: {"order": o.external_id} for o in orders if (c := customer_id(o.fields))}
        )
        built = build_documents(orders, customers, to="onec", vocabulary=self.vocabulary)
        for external_id, reason in built.refused.items():
            log.error("1C query: order %s is kept back: %s", external_id, reason)
        if built.refused:
            # Not in this answer, so `success` must not acknowledge it: it stays pending.
            await self.ingest.withhold(run.id, "order", list(built.refused))
        body = documents_xml(
            built.documents, to="onec", schema_version=self.schema_version, encoding=self.encoding
        )
        log.info("1C query: %d orders, %d counterparties under run %s", len(orders), len(customers), run.id)
        await self.ingest.note(
            "query", f"sent {len(orders) - len(built.refused)} orders, waiting for success (run {run.id})"
        )
        return body

    async def _carriers(self, customers: dict[str, Any], orders: list[Record]) -> list[Record]:
        """The last order of each changed customer no order of this answer names, to carry the change.

        CommerceML has no document for a counterparty alone (§2.6): a change of one reaches 1C inside
        an order. A customer without an order known to 1C travels with its first order anyway.
        """
        named = {customer_id(o.fields) for o in orders}
        alone = [c for c in customers if c not in named]
        last = await self.ingest.recall(LAST_ORDER, alone) if alone else {}
        ids = sorted({str(entry["order"]) for entry in last.values()} - {o.external_id for o in orders})
        found = await self.ingest.snapshots("order", ids) if ids else {}
        return [Record("order", x, dict(fields)) for x, fields in found.items()]

    async def info(self, run: Run) -> bytes:
        """Order statuses and payment systems for 1C to map its own to (`mode=info`)."""
        return info_xml(self.statuses, self.payment_systems)

    async def acknowledge(self, run: Run) -> None:
        """1C confirmed the orders it collected under this run."""
        count = await self.ingest.acknowledge(run.id)
        await self.ingest.note("query", f"ok: 1C confirmed {count} documents (run {run.id})")

    async def import_documents(self, run: Run, path: Path) -> str:
        """1C's orders back: statuses, postings, payments, shipments, and orders born in 1C."""
        report = FileReport()
        async with self._noted("documents", path):
            spool = await asyncio.to_thread(read_spool, path, RunContext(), report, None, self.vocabulary)
            total = await self._absorb(spool, trigger="onec:documents", rekey=True)
        skipped = f"; skipped {len(report.skipped)} non-order documents" if report.skipped else ""
        summary = f"{path.name}: {total.summary() or 'no documents'}{skipped}"
        await self.ingest.note("documents", f"ok: {summary}")
        return summary


def onec_endpoint(
    db: Database,
    *,
    login: str,
    password: str,
    workdir: Path,
    tenant: str = "default",
    limits: Limits | None = None,
    statuses: Mapping[str, str] = DEFAULT_STATUSES,
    payment_systems: Mapping[str, str] | None = None,
    vocabulary: Vocabulary | None = None,
    clock: Callable[[], float] = time.time,
    on_enqueued: Callable[[], None] | None = None,
    trusted_proxies: Sequence[str] = (),
) -> ExchangeEndpoint:
    """The 1C exchange endpoint over the 1C mirror; mount its `routes()` in the web app.

    `statuses` and `payment_systems` (id → name) are what `mode=info` offers 1C to map to; `vocabulary`
    translates 1C's status names and payment kinds both ways; `on_enqueued` is told when an upload's
    changed keys are committed (a worker may start now);
    `trusted_proxies` are the addresses whose `X-Forwarded-For` names the client (`web.trusted_proxies`).
    """
    ingest = MirrorIngest(db, tenant, SYSTEM, clock=clock, on_enqueued=on_enqueued)
    backend = OneCBackend(
        ingest, statuses=statuses, payment_systems=payment_systems, vocabulary=vocabulary, clock=clock
    )
    return ExchangeEndpoint(
        backend,
        login=login,
        password=password,
        workdir=workdir,
        limits=limits,
        clock=clock,
        trusted_proxies=TrustedProxies(trusted_proxies),
    )
