"""Concurrent callers' keys share transactions, and each caller returns only once its keys are committed."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
import sqlalchemy as sa

from obmen.store import queue, tables
from obmen.store.batching import GroupEnqueue
from obmen.store.database import Database
from obmen.store.queue import NewItem


async def test_concurrent_enqueues_share_transactions_and_lose_nothing(db: Database) -> None:
    woken: list[int] = []
    group = GroupEnqueue(db, "default", clock=lambda: 1000.0, on_commit=lambda: woken.append(1))

    async def one(n: int) -> int:
        queued = await group.enqueue([NewItem("order", system="bitrix24", external_id=str(n), trigger="t")])
        async with db.begin() as conn:  # committed before the caller hears back
            found = await conn.execute(
                sa.select(tables.work_items.c.key).where(tables.work_items.c.key == f"order@bitrix24:{n}")
            )
            assert found.scalar_one() == f"order@bitrix24:{n}"
        return queued

    assert sum(await asyncio.gather(*(one(n) for n in range(200)))) == 200
    assert group.transactions < 200 / 4  # shared, not one per caller
    assert len(woken) == group.transactions  # the engine is woken once per commit, not once per event
    async with db.begin() as conn:
        count = await conn.execute(sa.select(sa.func.count()).select_from(tables.work_items))
        assert count.scalar_one() == 200


async def test_a_failed_transaction_fails_its_callers_and_the_next_ones_proceed(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    group = GroupEnqueue(db, "default", clock=lambda: 1000.0)
    real = queue.enqueue
    calls = 0

    async def flaky(*args: Any, **kwargs: Any) -> int:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise RuntimeError("database went away")
        return await real(*args, **kwargs)

    monkeypatch.setattr(queue, "enqueue", flaky)
    item = NewItem("order", system="bitrix24", external_id="1", trigger="t")
    with pytest.raises(RuntimeError, match="went away"):
        await group.enqueue([item])  # the caller hears of it: the portal's event is answered 500
    assert await group.enqueue([item]) == 1
