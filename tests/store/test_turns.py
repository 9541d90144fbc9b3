"""SQLite transactions of one process take turns on a lock, never on SQLite's busy handler, whose sleeps
(1, 2, 5 … 100 ms) outlasted the writes they waited for (`store/database.py`, issue 14); a transaction
opened inside another, by the same task or a task it started, is already in its turn."""

from __future__ import annotations

import asyncio
import time

import pytest
import sqlalchemy as sa

from obmen.store.database import Database
from obmen.store.state import get_cursor, set_cursor


async def _write(db: Database, name: str, hold: float, log: list[str]) -> None:
    async with db.begin() as conn:
        log.append(f"{name} in")
        await set_cursor(conn, "default", name, "1", now=time.time())
        await asyncio.sleep(hold)  # the write lock is held (an open write transaction)
        log.append(f"{name} out")


async def test_writers_take_turns_and_none_waits_on_sqlite(db: Database) -> None:
    if db.is_postgres:
        pytest.skip("PostgreSQL locks rows, not the file: its writers run side by side")
    log: list[str] = []
    await asyncio.gather(*(_write(db, f"w{i}", 0.05, log) for i in range(8)))
    # One after the other, each whole: without the turns each writer came in at once and waited inside
    # SQLite, in its busy handler.
    assert log == [f"w{i} {way}" for i in range(8) for way in ("in", "out")]
    async with db.begin() as conn:
        assert [await get_cursor(conn, "default", f"w{i}") for i in range(8)] == ["1"] * 8


async def test_a_transaction_inside_another_and_its_tasks_do_not_wait_for_themselves(db: Database) -> None:
    async with db.begin() as outer:
        await outer.execute(sa.text("SELECT 1"))
        async with asyncio.timeout(5):
            async with db.begin() as inner:  # the same task
                assert (await inner.execute(sa.text("SELECT 1"))).scalar_one() == 1

            async def child() -> int:
                async with db.begin() as conn:
                    return int((await conn.execute(sa.text("SELECT 2"))).scalar_one())

            assert await asyncio.gather(child(), child()) == [2, 2]
