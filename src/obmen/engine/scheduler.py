"""Where keys come from: change feeds polled on a schedule, pushed notifications, periodic full resync.

Everything here only *enqueues keys* and returns (docs/architecture.md §2.1). The periodic full
reconciliation walks every object of every system and enqueues it: it is the safety net for
notifications that were lost (Bitrix24 online events are at-most-once, `docs/protocols/bitrix24.md §6.4`).
Unchanged objects cost no remote write, so the net is cheap to cast.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Collection, Iterable

from obmen.connectors.base import Change
from obmen.engine.breaker import Breakers
from obmen.engine.context import Engine
from obmen.errors import ObmenError, SystemRefused
from obmen.store import queue, state
from obmen.store.keeper import Leases
from obmen.store.queue import NewItem

__all__ = ["Scheduler", "enqueue_changes", "full_resync", "poll_changes"]

log = logging.getLogger(__name__)


async def enqueue_changes(
    engine: Engine,
    system: str,
    changes: Iterable[Change],
    *,
    trigger: str,
    delay: float = 0.0,
    seen: set[str] | None = None,
) -> int:
    """Enqueue the keys of changed objects of `system` (a webhook, a poll, an upload)."""
    items = [
        NewItem(entity=c.entity, system=system, external_id=c.external_id, trigger=trigger, delay=delay)
        for c in changes
    ]
    if not items:
        return 0
    async with engine.db.begin() as conn:
        return await queue.enqueue(engine.db, conn, engine.tenant, items, now=engine.clock(), seen=seen)


async def poll_changes(
    engine: Engine, system: str, *, limit: int = 500, cursors: dict[str, str | None] | None = None
) -> int:
    """Read one system's change feed from its checkpoint; keys and checkpoint commit together.

    `cursors` keeps the checkpoints this process committed, so a poll that finds nothing costs no
    statement (issue 14); it is valid only while the caller alone polls (the scheduler's lease).
    """
    connector = engine.connectors[system]
    source = f"{system}:changes"
    total = 0
    while True:
        if cursors is not None and source in cursors:
            cursor = cursors[source]
        else:
            async with engine.db.begin() as conn:
                cursor = await state.get_cursor(conn, engine.tenant, source)
            if cursors is not None:
                cursors[source] = cursor
        page = await connector.changes(cursor, limit)
        if not page.changes and page.cursor == cursor and not page.more:
            return total  # nothing new: an idle poll writes nothing (issue 14)
        items = [
            NewItem(entity=c.entity, system=system, external_id=c.external_id, trigger=f"{system}:poll")
            for c in page.changes
        ]
        async with engine.db.begin() as conn:
            now = engine.clock()
            await queue.enqueue(engine.db, conn, engine.tenant, items, now=now)
            await state.set_cursor(conn, engine.tenant, source, page.cursor, now=now)
        if cursors is not None:
            cursors[source] = page.cursor
        total += len(items)
        if not page.more:
            return total


async def full_resync(
    engine: Engine,
    *,
    page_size: int = 500,
    entities: Collection[str] | None = None,
    trigger: str = "resync",
    on_page: Callable[[int], Awaitable[None]] | None = None,
    breakers: Breakers | None = None,
) -> int:
    """Enqueue every object of every system (the safety net), or of `entities` only; returns how many
    keys were given. `on_page` hears how many distinct keys so far after each page (`obmen sync --full`'s
    progress: one object linked in three systems is one key). With `breakers`, a system whose breaker is
    open is skipped, and one that refuses opens it and the others go on (docs/architecture.md §2.13)."""
    total = 0
    seen: set[str] = set()
    for system in sorted(engine.connectors):
        if breakers is not None and breakers.outage(system) is not None:
            continue
        try:
            total += await _scan_system(engine, system, page_size, entities, trigger, on_page, seen)
        except SystemRefused as exc:
            if breakers is None:
                raise
            await breakers.refused(exc)
    return total


async def _scan_system(
    engine: Engine,
    system: str,
    page_size: int,
    entities: Collection[str] | None,
    trigger: str,
    on_page: Callable[[int], Awaitable[None]] | None,
    seen: set[str],
) -> int:
    """Enqueue every object of one system; returns how many keys were given."""
    connector = engine.connectors[system]
    total = 0
    for entity in sorted(connector.capabilities.fields):
        if entities is not None and entity not in entities:
            continue
        cursor: str | None = None
        while True:
            page = await connector.scan(entity, cursor, page_size)
            changes = (Change(entity, x) for x in page.external_ids)
            total += await enqueue_changes(engine, system, changes, trigger=trigger, seen=seen)
            if on_page is not None:
                await on_page(len(seen))
            cursor = page.cursor
            if cursor is None:
                break
    return total


class Scheduler:
    """Polls change feeds every `poll_interval` and resyncs everything every `resync_interval`.

    Only the holder of the lease `scheduler:<tenant>` runs it, so many workers never poll twice; the
    process's heartbeat keeps the lease through a long resync (docs/operations.md §10).
    """

    def __init__(
        self,
        engine: Engine,
        *,
        leases: Leases,
        poll_interval: float,
        resync_interval: float,
        resync_now: bool = True,
    ) -> None:
        self.engine = engine
        self.lease = leases.lease(f"scheduler:{engine.tenant}")
        self.poll_interval = poll_interval
        self.resync_interval = resync_interval
        #: None: resync on the first round (a worker that starts catches up on what it missed); a process
        #: started for one load (`obmen sync`) waits a whole interval instead.
        self._last_resync: float | None = None if resync_now else engine.clock()
        #: The feeds' checkpoints as this holder of the lease last committed them (`poll_changes`).
        self._cursors: dict[str, str | None] = {}

    async def tick(self) -> None:
        """One round: poll every pollable system; resync if it is due."""
        if not self.lease.held:
            # Not held since the last round: another process may have polled and moved the checkpoints.
            self._cursors.clear()
            if not await self.lease.hold():
                return
        breakers = self.engine.breakers
        await breakers.refresh()
        for system, connector in sorted(self.engine.connectors.items()):
            if not connector.capabilities.poll or breakers.outage(system) is not None:
                continue  # a refusing system is the worker's to probe (docs/architecture.md §2.13)
            self.lease.tick(f"polling {system}")
            try:
                await poll_changes(self.engine, system, cursors=self._cursors)
            except SystemRefused as exc:
                await breakers.refused(exc)
        now = self.engine.clock()
        if self._last_resync is None or now - self._last_resync >= self.resync_interval:
            self._last_resync = now
            self.lease.tick("full resync")

            async def page(keys: int) -> None:
                self.lease.tick(f"full resync: {keys} keys")

            count = await full_resync(self.engine, on_page=page, breakers=breakers)
            log.info("full resync enqueued %d keys", count)
        self.lease.tick("polled")

    async def run(self, stop: asyncio.Event) -> None:
        """Tick until `stop` is set; a failing round is logged and retried next interval."""
        self.lease.bind()
        try:
            while not stop.is_set():
                try:
                    await self.tick()
                except ObmenError as exc:
                    # A remote's failure is one line; a traceback is for obmen's own bugs.
                    log.warning("scheduler round failed: %s; retrying in %.1fs", exc, self.poll_interval)
                except Exception:
                    log.exception("scheduler round failed; retrying in %.1fs", self.poll_interval)
                with self.lease.idle(), contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=self.poll_interval)
        finally:
            await self.lease.release()
