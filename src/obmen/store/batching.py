"""Group commit for the queue: keys enqueued by concurrent requests share one transaction.

An event handler must answer within milliseconds (docs/protocols/bitrix24.md §6.4) and only after its
keys are committed (a key lost in memory would be an event lost). A transaction costs about the same
whether it holds one key or a hundred: on SQLite each statement is a hop to the driver's thread, on
PostgreSQL a round trip, and the commit a flush. So callers hand their keys to one writer. It starts on
the loop's next turn, so every request read in this turn joins the first transaction; while that
commits, the next callers' keys gather for the one after. The batches grow with the load by themselves,
with no timer to wait on (a sleeping process waits for the scheduler too, which on a busy machine costs
more than the commit). Each caller is answered once the transaction holding its keys has committed, or
with what that transaction raised. `on_commit` is told once per committed transaction, so a burst of
events wakes the engine once, not once per event.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence

from obmen.store import queue
from obmen.store.database import Database
from obmen.store.queue import NewItem

__all__ = ["GroupEnqueue"]

_Waiting = tuple[Sequence[NewItem], asyncio.Future[None]]


class GroupEnqueue:
    """Enqueue keys of many concurrent callers in as few transactions as possible."""

    #: Keys per transaction at most (a burst is split; the rest go in the next one).
    MAX_KEYS = 2000

    def __init__(
        self,
        db: Database,
        tenant: str,
        *,
        clock: Callable[[], float],
        on_commit: Callable[[], None] | None = None,
    ) -> None:
        self.db = db
        self.tenant = tenant
        self.clock = clock
        self.on_commit = on_commit
        self._pending: list[_Waiting] = []
        self._writer: asyncio.Task[None] | None = None
        self.transactions = 0

    async def enqueue(self, items: Sequence[NewItem]) -> int:
        """Commit `items` (with whatever else is waiting); returns how many distinct keys they are."""
        if not items:
            return 0
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._pending.append((items, done))
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._write())
        await done
        return len({item.key for item in items})

    def _take(self) -> list[_Waiting]:
        """The oldest waiting callers, up to `MAX_KEYS` keys (at least one caller, however large)."""
        size, count = 0, 0
        for items, _ in self._pending:
            if count and size + len(items) > self.MAX_KEYS:
                break
            size += len(items)
            count += 1
        batch, self._pending = self._pending[:count], self._pending[count:]
        return batch

    async def _write(self) -> None:
        while self._pending:
            batch = self._take()
            try:
                async with self.db.begin() as conn:
                    everything = [item for items, _ in batch for item in items]
                    await queue.enqueue(self.db, conn, self.tenant, everything, now=self.clock())
                self.transactions += 1
            except BaseException as exc:
                for _, done in batch:
                    if not done.done():
                        done.set_exception(exc)
                if not isinstance(exc, Exception):
                    raise
                continue
            for _, done in batch:
                if not done.done():
                    done.set_result(None)
            if self.on_commit is not None:
                self.on_commit()
