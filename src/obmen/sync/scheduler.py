"""Where keys come from: change feeds polled on a schedule, pushed notifications, periodic full resync.

Everything here only *enqueues keys* and returns (ARCHITECTURE §2.1). The periodic full
reconciliation walks every object of every system and enqueues it: it is the safety net for
notifications that were lost (Bitrix24 online events are at-most-once, `docs/bitrix24.md §6.4`).
Unchanged objects cost no remote write, so the net is cheap to cast.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterable

from obmen.connectors.base import Change
from obmen.store import queue, state
from obmen.store.queue import NewItem
from obmen.sync.context import Engine

__all__ = ["Scheduler", "enqueue_changes", "full_resync", "poll_changes"]

log = logging.getLogger(__name__)


async def enqueue_changes(
    engine: Engine, system: str, changes: Iterable[Change], *, trigger: str, delay: float = 0.0
) -> int:
    """Enqueue the keys of changed objects of `system` (a webhook, a poll, an upload)."""
    items = [
        NewItem(entity=c.entity, system=system, external_id=c.external_id, trigger=trigger, delay=delay)
        for c in changes
    ]
    if not items:
        return 0
    async with engine.db.begin() as conn:
        return await queue.enqueue(engine.db, conn, engine.tenant, items, now=engine.clock())


async def poll_changes(engine: Engine, system: str, *, limit: int = 500) -> int:
    """Read one system's change feed from its checkpoint; keys and checkpoint commit together."""
    connector = engine.connectors[system]
    source = f"{system}:changes"
    total = 0
    while True:
        async with engine.db.begin() as conn:
            cursor = await state.get_cursor(conn, engine.tenant, source)
        page = await connector.changes(cursor, limit)
        items = [
            NewItem(entity=c.entity, system=system, external_id=c.external_id, trigger=f"{system}:poll")
            for c in page.changes
        ]
        async with engine.db.begin() as conn:
            now = engine.clock()
            await queue.enqueue(engine.db, conn, engine.tenant, items, now=now)
            await state.set_cursor(conn, engine.tenant, source, page.cursor, now=now)
        total += len(items)
        if not page.more:
            return total


async def full_resync(engine: Engine, *, page_size: int = 500) -> int:
    """Enqueue every object of every system (the safety net); returns how many keys were given."""
    total = 0
    for system, connector in sorted(engine.connectors.items()):
        for entity in sorted(connector.capabilities.fields):
            cursor: str | None = None
            while True:
                page = await connector.scan(entity, cursor, page_size)
                total += await enqueue_changes(
                    engine, system, (Change(entity, x) for x in page.external_ids), trigger="resync"
                )
                cursor = page.cursor
                if cursor is None:
                    break
    return total


class Scheduler:
    """Polls change feeds every `poll_interval` and resyncs everything every `resync_interval`.

    Only the holder of the lease `scheduler:<tenant>` runs it, so many workers never poll twice.
    """

    def __init__(
        self, engine: Engine, *, owner: str, poll_interval: float, resync_interval: float, lease: float = 30.0
    ) -> None:
        self.engine = engine
        self.owner = owner
        self.poll_interval = poll_interval
        self.resync_interval = resync_interval
        self.lease = lease
        self._last_resync: float | None = None

    async def tick(self) -> None:
        """One round: poll every pollable system; resync if it is due."""
        async with self.engine.db.begin() as conn:
            mine = await state.acquire_lease(
                conn, f"scheduler:{self.engine.tenant}", self.owner, ttl=self.lease, now=self.engine.clock()
            )
        if not mine:
            return
        for system, connector in sorted(self.engine.connectors.items()):
            if connector.capabilities.poll:
                await poll_changes(self.engine, system)
        now = self.engine.clock()
        if self._last_resync is None or now - self._last_resync >= self.resync_interval:
            self._last_resync = now
            count = await full_resync(self.engine)
            log.info("full resync enqueued %d keys", count)

    async def run(self, stop: asyncio.Event) -> None:
        """Tick until `stop` is set; a failing round is logged and retried next interval."""
        while not stop.is_set():
            try:
                await self.tick()
            except Exception:
                log.exception("scheduler round failed; retrying in %.1fs", self.poll_interval)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=self.poll_interval)
