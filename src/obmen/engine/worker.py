"""The worker loop: claim a batch, reconcile it, repeat; heartbeats, tenant lease, graceful shutdown.

Scale-out (docs/architecture.md §2.9): any number of workers share one PostgreSQL. Each tenant's work is done
by the one live worker that holds the tenant's lease, because that worker owns the tenant's remote
rate limiter (a Bitrix24 portal allows 2 requests/s in all, so two processes hammering it would only
trade 503s). Inside a worker, `concurrency` batches run at once; per-key locks in the queue keep two
batches off the same object. The tenant lease is short (`tenant_lease_seconds`) and kept by the
process's heartbeat (store/keeper.py) while the worker runs. A worker that dies stops renewing its leases:
after `tenant_lease_seconds` another worker (or the same one restarted) takes the tenant over, and after
`lease_seconds` the dead worker's items go back to the queue (docs/operations.md §10).
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

from obmen.engine.context import Engine
from obmen.engine.outcome import fail_batch, hold_batch
from obmen.engine.reconciler import reconcile
from obmen.errors import ObmenError, SystemRefused, TransientError
from obmen.store import queue
from obmen.store.keeper import Leases

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
    tenant_lease_seconds: float = 15.0
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
        leases: Leases | None = None,
    ) -> None:
        self.engine = engine
        self.options = options or WorkerOptions()
        #: The process's leases (the runtime's, renewed by its heartbeat), or the worker's own.
        self._own_leases = leases is None
        self.leases = leases or Leases(
            engine.db, name or worker_name(), ttl=self.options.tenant_lease_seconds, clock=engine.clock
        )
        self.name = name or self.leases.owner
        self.tenant = self.leases.lease(f"tenant:{engine.tenant}")
        self.wake = asyncio.Event()
        self._sleep = sleep
        self.processed = 0

    async def hold_tenant(self) -> bool:
        """Hold the tenant lease: kept by the heartbeat, else taken now (true when tenant leases are off)."""
        if not self.options.tenant_lease:
            return True
        return await self.tenant.keep()

    async def run_once(self) -> int:
        """Claim one batch and reconcile it; returns how many items it held (0: nothing ready).

        Refusing systems whose probe is due are probed first; a batch that needs a system whose breaker
        is open is held back without a call (docs/architecture.md §2.13).
        """
        settings = self.engine.settings
        breakers = self.engine.breakers
        await breakers.probe(self.engine.connectors)
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
        self.tenant.tick(f"reconciling {len(items)} {items[0].entity}")
        outage = breakers.holding(self.engine.needs(items[0].entity, [i.system for i in items]))
        if outage is not None:
            await hold_batch(self.engine, self.name, items, outage.system)
            self.tenant.tick(f"held {len(items)} {items[0].entity}: {outage.system} refuses")
            return len(items)
        try:
            await reconcile(self.engine, self.name, items)
        except SystemRefused as exc:
            await breakers.refused(exc)
            await fail_batch(self.engine, self.name, items, exc)
        except ObmenError as exc:
            log.warning("batch of %d %s failed: %s", len(items), items[0].entity, exc)
            await fail_batch(self.engine, self.name, items, exc)
        except Exception as exc:
            # A bug or an unmapped library error must not kill the worker or lose the keys: they are
            # retried with backoff and parked with the traceback's message if it keeps happening.
            log.exception("unexpected error reconciling %d %s", len(items), items[0].entity)
            await fail_batch(self.engine, self.name, items, TransientError(f"{type(exc).__name__}: {exc}"))
        self.processed += len(items)
        self.tenant.tick(f"reconciled {len(items)} {items[0].entity}")
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

    async def _loop(self, stop: asyncio.Event, *, polls: bool = True) -> None:
        """Claim and reconcile until `stop`; idle, only the polling loop looks every `poll_interval`, the
        others wait to be woken (by an enqueue, or by the polling loop claiming a full batch: issue 14)."""
        while not stop.is_set():
            # Cleared before the claim: a key enqueued while this claim runs still wakes the wait below.
            self.wake.clear()
            if await self.hold_tenant() and (done := await self.run_once()):
                if polls and done >= self.engine.settings.batch_size:
                    self.wake.set()  # a full batch: more is likely ready, the waiting loops join in
                continue
            timeout = self.options.poll_interval if polls else None
            with self.tenant.idle("waiting for work"), contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._either(stop), timeout=timeout)

    async def _either(self, stop: asyncio.Event) -> None:
        waiters = [asyncio.create_task(stop.wait()), asyncio.create_task(self.wake.wait())]
        try:
            await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiter in waiters:
                waiter.cancel()

    async def _heartbeat(self, stop: asyncio.Event) -> None:
        """Keep the claimed items' leases (the tenant's is the keeper's)."""
        interval = self.engine.settings.lease_seconds / 3
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=interval)
            now = self.engine.clock()
            await queue.heartbeat(
                self.engine.db, self.name, lease=self.engine.settings.lease_seconds, now=now
            )

    async def run(self, stop: asyncio.Event) -> None:
        """Work until `stop` is set; the batches in flight finish, then the tenant lease is released."""
        log.info("worker %s started (concurrency %d)", self.name, self.options.concurrency)
        self.tenant.bind()  # the heartbeat keeps the tenant lease while this run lives
        tasks = [asyncio.create_task(self._loop(stop, polls=i == 0)) for i in range(self.options.concurrency)]
        beat = asyncio.create_task(self._heartbeat(stop))
        keeper = asyncio.create_task(self.leases.run(stop)) if self._own_leases else None
        if self.options.listen_notify and self.engine.db.is_postgres:
            from obmen.store.notify import listen

            tasks.append(asyncio.create_task(listen(self.engine.db.url, self.engine.tenant, self.wake, stop)))
        try:
            await asyncio.gather(*tasks)
        finally:
            stop.set()
            await beat
            if self.options.tenant_lease:
                await self.tenant.release()
            if keeper is not None:
                await keeper
            log.info("worker %s stopped after %d items", self.name, self.processed)
