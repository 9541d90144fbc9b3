"""Concurrent enqueues of the same keys in opposite orders do not deadlock on PostgreSQL: the upserts take
their rows in key order (`queue.in_lock_order`); SQLite keeps the order the keys came in."""

from __future__ import annotations

import asyncio

import pytest

from obmen.store import queue
from obmen.store.database import Database

KEYS = [f"c{n:03d}" for n in range(150)]


def _items(order: list[str]) -> list[queue.NewItem]:
    return [queue.NewItem("counterparty", canonical_id=k, system="onec", trigger="onec:poll") for k in order]


async def _enqueue(db: Database, order: list[str], now: float) -> None:
    async with db.begin() as conn:
        await queue.enqueue(db, conn, "default", _items(order), now=now)


@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
@pytest.mark.pg
async def test_two_feeds_queueing_the_same_pending_keys_in_opposite_orders_both_commit(db: Database) -> None:
    await _enqueue(db, KEYS, 1.0)  # pending already: every later upsert takes the row's lock
    for round_ in range(15):
        await asyncio.gather(_enqueue(db, KEYS, 2.0 + round_), _enqueue(db, KEYS[::-1], 2.0 + round_))


async def test_rows_go_in_key_order_on_postgresql_only(db: Database) -> None:
    rows = [{"key": k} for k in ("b", "c", "a")]
    expected = ["a", "b", "c"] if db.is_postgres else ["b", "c", "a"]
    assert [r["key"] for r in queue.in_lock_order(db, rows)] == expected
