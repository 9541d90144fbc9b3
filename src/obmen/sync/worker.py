"""The worker loop: claim a batch, reconcile it, repeat; heartbeats, tenant lease, graceful shutdown.

Scale-out (ARCHITECTURE §2.9): any number of workers share one PostgreSQL. Each tenant's work is done
by the one live worker that holds the tenant's lease, because that worker owns the tenant's remote
rate limiter (a Bitrix24 portal allows 2 requests/s in all, so two processes hammering it would only
trade 503s). Inside a worker, `concurrency` batches run at once; per-key locks in the queue keep two
batches off the same object. A worker that dies stops renewing its leases: after `lease_seconds`
another worker takes the tenant over and the dead worker's items go back to the queue.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from obmen.errors import ObmenError, TransientError
from obmen.store import queue, state
from obmen.sync.context import Engine
from obmen.sync.outcome import fail_batch
from obmen.sync.reconciler import reconcile

__all__ = ["Worker", "WorkerOptions", "worker_name"]

log = logging.getLogger(__name__)


def worker_name() -> str:
    """A name unique across machines and restarts: host, pid and a random suffix."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


@dataclass(frozen=True, slots=True)
class WorkerOptions:
    """How a worker paces itself."""

    concurrency: int = 1
    poll_interval: float = 1.0
    tenant_lease_seconds: float = 30.0
    #: Off only where no remote limiter needs a single owner (tests of the per-key locks).
    tenant_lease: bool = True
    #: On PostgreSQL, wake on NOTIFY from `enqueue` instead of waiting for the next poll.
    listen_notify: bool = True


class Worker:
    """Claims and reconciles batches for one tenant until told to stop."""

    def __init__(
        self,
        engine: Engine,
        *,
        name: str | None = None,
        options: WorkerOptions | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.engine = engine
        self.name = name or worker_name()
        self.options = options or WorkerOptions()
        self.wake = asyncio.Event()
        self._sleep = sleep
        self.processed = 0

    @property
    def _lease_name(self) -> str:
        return f"tenant:{self.engine.tenant}"

    async def hold_tenant(self) -> bool:
        """Take or renew the tenant lease (always true when tenant leases are off)."""
        if not self.options.tenant_lease:
            return True
        async with self.engine.db.begin() as conn:
            return await state.acquire_lease(
                conn,
                self._lease_name,
                self.name,
                ttl=self.options.tenant_lease_seconds,
                now=self.engine.clock(),
            )

    async def run_once(self) -> int:
        """Claim one batch and reconcile it; returns how many items it held (0: nothing ready)."""
        settings = self.engine.settings
        items = await queue.claim(
            self.engine.db,
            self.engine.tenant,
            self.name,
            limit=settings.batch_size,
            lease=settings.lease_seconds,
            now=self.engine.clock(),
        )
        if not items:
            return 0
        try:
            await reconcile(self.engine, self.name, items)
        except ObmenError as exc:
            log.warning("batch of %d %s failed: %s", len(items), items[0].entity, exc)
            await fail_batch(self.engine, self.name, items, exc)
        except Exception as exc:
            # A bug or an unmapped library error must not kill the worker or lose the keys: they are
            # retried with backoff and parked with the traceback's message if it keeps happening.
            log.exception("unexpected error reconciling %d %s", len(items), items[0].entity)
            await fail_batch(self.engine, self.name, items, TransientError(f"{type(exc).__name__}: {exc}"))
        self.processed += len(items)
        return len(items)

    async def drain(self, *, max_batches: int = 1_000_000) -> int:
        """Reconcile until nothing is ready (tests, `obmen sync`); returns items processed."""
        total = 0
        for _ in range(max_batches):
            done = await self.run_once()
            if not done:
                break
            total += done
        return total

    async def _loop(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            # Cleared before the claim: a key enqueued while this claim runs still wakes the wait below.
            self.wake.clear()
            if not await self.hold_tenant() or not await self.run_once():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._either(stop), timeout=self.options.poll_interval)

    async def _either(self, stop: asyncio.Event) -> None:
        waiters = [asyncio.create_task(stop.wait()), asyncio.create_task(self.wake.wait())]
        try:
            await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiter in waiters:
                waiter.cancel()

    async def _heartbeat(self, stop: asyncio.Event) -> None:
        interval = min(self.engine.settings.lease_seconds, self.options.tenant_lease_seconds) / 3
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=interval)
            now = self.engine.clock()
            await queue.heartbeat(
                self.engine.db, self.name, lease=self.engine.settings.lease_seconds, now=now
            )
            if self.options.tenant_lease:
                await self.hold_tenant()

    async def run(self, stop: asyncio.Event) -> None:
        """Work until `stop` is set; the batches in flight finish, then the tenant lease is released."""
        log.info("worker %s started (concurrency %d)", self.name, self.options.concurrency)
        tasks = [asyncio.create_task(self._loop(stop)) for _ in range(self.options.concurrency)]
        beat = asyncio.create_task(self._heartbeat(stop))
        if self.options.listen_notify and self.engine.db.is_postgres:
            from obmen.store.notify import listen

            tasks.append(asyncio.create_task(listen(self.engine.db.url, self.engine.tenant, self.wake, stop)))
        try:
            await asyncio.gather(*tasks)
        finally:
            stop.set()
            await beat
            if self.options.tenant_lease:
                async with self.engine.db.begin() as conn:
                    await state.release_lease(conn, self._lease_name, self.name)
            log.info("worker %s stopped after %d items", self.name, self.processed)
