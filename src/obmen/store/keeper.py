"""The named leases one process holds, kept by a heartbeat while the loops holding them live.

A lease (`tenant:<t>`, `scheduler:<t>`, `site-exchange:<t>`) is short: `ttl` seconds, 15 by default
(`worker.tenant_lease_seconds`). The keeper renews every lease its process holds every `ttl / 3`, as long
as the asyncio task that took it is alive, so a long round (a big site exchange) keeps its lease by the
heartbeat, not by a long ttl, while a process killed with SIGKILL stops renewing and a restarted process
(a new holder: host, pid and a random suffix) takes the lease over within one ttl. Each loop also says
when it last made progress (`tick`) or that it is waiting by design (`idle`); the heartbeat writes that
down, and a lease whose loop has not moved for `STALL_TTLS` ttls is shown as stalled (docs/operations.md
§10).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Iterator
from typing import Any

import sqlalchemy as sa

from obmen.store.database import Connection, Database
from obmen.store.state.leases import acquire_lease, release_lease
from obmen.store.tables import leases

__all__ = ["STALL_TTLS", "Lease", "Leases", "lease_rows"]

log = logging.getLogger(__name__)

#: A held lease whose loop has not ticked for this many ttls is stalled (60 s at the default 15 s ttl).
STALL_TTLS = 4


class Lease:
    """One named lease as its holder sees it: whether it is held, and its loop's last progress."""

    def __init__(self, keeper: Leases, name: str) -> None:
        self.keeper = keeper
        self.name = name
        #: Held, as far as this process knows, until this time (its last confirmed take or renewal + ttl).
        self._until = 0.0
        self._task: asyncio.Task[Any] | None = None
        self._ticked = keeper.clock()
        self._doing = ""
        self._idle = 0

    @property
    def held(self) -> bool:
        """This process holds the lease: it was taken or renewed less than a ttl ago."""
        return self._until > self.keeper.clock()

    def bind(self, task: asyncio.Task[Any] | None = None) -> None:
        """Renew the lease only while `task` (by default the calling task) is alive."""
        self._task = task or asyncio.current_task()
        if self._task is not None:
            self._task.add_done_callback(lambda _: self.keeper._moved.set())

    async def hold(self) -> bool:
        """Take or renew the lease now; true when this process holds it."""
        if self._task is None:
            self.bind()
        return await self._write(self.keeper.clock())

    async def keep(self) -> bool:
        """Held (the heartbeat renews it), else taken now: a round of a loop that holds it costs no
        statement (issue 14)."""
        return self.held or await self.hold()

    def tick(self, doing: str = "") -> None:
        """The holding loop made progress (it is doing `doing` now); the next heartbeat records it."""
        self._ticked = self.keeper.clock()
        self._doing = doing[:200]

    @contextlib.contextmanager
    def idle(self, doing: str = "idle") -> Iterator[None]:
        """The loop waits by design (its poll interval): every heartbeat meanwhile counts as progress."""
        self.tick(doing)
        self._idle += 1
        try:
            yield
        finally:
            self._idle -= 1
            self._ticked = self.keeper.clock()

    @property
    def alive(self) -> bool:
        """The task holding the lease still runs."""
        return self._task is not None and not self._task.done()

    async def release(self) -> None:
        """Give the lease up at once (the loop stops), so a successor need not wait for its expiry."""
        if not self._until:
            return  # not held by this process (never taken, or taken over): nothing to give up
        self._until = 0.0
        self.keeper._moved.set()
        async with self.keeper.db.begin() as conn:
            await release_lease(conn, self.name, self.keeper.owner)

    async def _write(self, now: float) -> bool:
        ticked = now if self._idle else self._ticked
        async with self.keeper.db.begin() as conn:
            mine = await acquire_lease(
                conn,
                self.name,
                self.keeper.owner,
                ttl=self.keeper.ttl,
                now=now,
                ticked_at=ticked,
                doing=self._doing or None,
            )
        self._until = now + self.keeper.ttl if mine else 0.0
        return mine


class Leases:
    """The leases of one holder (`owner`, unique per process) and the heartbeat that renews them."""

    def __init__(
        self, db: Database, owner: str, *, ttl: float, clock: Callable[[], float] = time.time
    ) -> None:
        self.db = db
        self.owner = owner
        self.ttl = ttl
        self.clock = clock
        self._leases: dict[str, Lease] = {}
        #: Set when a lease is released or its loop ends: a stopping keeper looks again.
        self._moved = asyncio.Event()

    def lease(self, name: str) -> Lease:
        """The lease `name` of this holder (one object per name)."""
        if name not in self._leases:
            self._leases[name] = Lease(self, name)
        return self._leases[name]

    async def beat(self) -> None:
        """Renew every lease held by a live loop; a lease another holder took meanwhile is let go."""
        for lease in list(self._leases.values()):
            if not lease._until:
                continue
            if not lease.alive:
                log.warning("lease %s: its loop has ended; it lapses after %.0f s", lease.name, self.ttl)
                lease._until = 0.0
                continue
            if not await lease._write(self.clock()):
                log.warning("lease %s was taken over by another holder; its loop here stops", lease.name)

    async def run(self, stop: asyncio.Event) -> None:
        """Beat every `ttl / 3` until `stop` is set and no live loop holds a lease; then release them all.

        After `stop` the loops finish what they have in hand (a batch, a round) under their leases, and
        release them as they end.
        """
        while not stop.is_set() or self._kept():
            await self._pause(stop)
            try:
                await self.beat()
            except Exception:
                # The store is away for a moment: the leases last a ttl, the next beat tries again.
                log.exception("renewing the leases failed")
        await self.release_all()

    def _kept(self) -> bool:
        return any(lease._until and lease.alive for lease in self._leases.values())

    async def _pause(self, stop: asyncio.Event) -> None:
        """A third of the ttl, cut short by `stop`, or once stopping, by the last loop letting go."""
        if not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=self.ttl / 3)
            return
        self._moved.clear()
        if self._kept():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._moved.wait(), timeout=self.ttl / 3)

    async def release_all(self) -> None:
        """Give up every lease this holder has (graceful shutdown)."""
        for lease in self._leases.values():
            await lease.release()


async def lease_rows(conn: Connection, tenant: str, *, now: float) -> list[dict[str, Any]]:
    """Every lease of `tenant` with its holder, since when, last tick and state (held, stalled, expired)."""
    rows = await conn.execute(
        sa.select(leases).where(leases.c.name.endswith(f":{tenant}", autoescape=True)).order_by(leases.c.name)
    )
    out = []
    for row in rows:
        ttl = float(row.ttl) if row.ttl is not None else None
        ticked = float(row.ticked_at) if row.ticked_at is not None else None
        state = "expired" if row.expires_at < now else "held"
        if state == "held" and ttl is not None and ticked is not None and now - ticked > STALL_TTLS * ttl:
            state = "stalled"
        out.append(
            {
                "name": row.name,
                "loop": row.name.rpartition(":")[0],
                "holder": row.owner,
                "since": row.acquired_at,
                "expires_at": row.expires_at,
                "ttl": ttl,
                "ticked_at": ticked,
                "tick_age": None if ticked is None else max(0.0, now - ticked),
                "doing": row.doing,
                "state": state,
            }
        )
    return out
