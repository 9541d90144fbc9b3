"""Items the worker puts back: retried after a delay, parked for an operator, and unparked.

A retry folds into a newer pending item of the same key (the upsert of `queue.pending_insert`), so a key
that keeps failing keeps its attempt count and still reaches the parking threshold (docs/architecture.md
§2.1); a parked item leaves the queue until an operator retries it (the dashboard and its API).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from obmen.store.database import Database
from obmen.store.queue import Claimed, NewItem, enqueue, in_lock_order, pending_insert
from obmen.store.tables import parked, work_items

__all__ = ["Retry", "park", "retry", "retry_many", "unpark"]

_W = work_items.c


async def retry(
    db: Database,
    conn: AsyncConnection,
    tenant: str,
    item: Claimed,
    *,
    error: str,
    delay: float,
    now: float,
    spent: bool = True,
) -> None:
    """Put a running item back with a delay; folds into a newer pending item of the same key if any.

    `spent=False` gives back the attempt its claim counted (it waited, it did not fail).
    """
    await retry_many(db, conn, tenant, [Retry(item, error, delay, spent)], now=now)


@dataclass(frozen=True, slots=True)
class Retry:
    """One running item to put back (`retry_many`)."""

    item: Claimed
    error: str
    delay: float
    spent: bool = True
    #: Since when it waits (a wait), or None (a failure).
    waiting_since: float | None = None


async def retry_many(
    db: Database, conn: AsyncConnection, tenant: str, retries: Sequence[Retry], *, now: float
) -> None:
    """`retry` for many items in two statements (a batch of waiting orders is put back at once)."""
    if not retries:
        return
    await conn.execute(sa.delete(work_items).where(_W.id.in_([r.item.id for r in retries])))
    rows = [
        {
            "tenant": tenant,
            "key": r.item.key,
            "lock": r.item.key if r.item.canonical_id else f"{r.item.entity}@new",
            "entity": r.item.entity,
            "canonical_id": r.item.canonical_id,
            "system": r.item.system,
            "external_id": r.item.external_id,
            "state": "pending",
            "not_before": now + r.delay,
            "attempts": r.item.attempts if r.spent else max(0, r.item.attempts - 1),
            "last_error": r.error[:2000],
            "trigger": r.item.trigger,
            "enqueued_at": now,
            "waiting_since": r.waiting_since,
        }
        for r in retries
    ]
    await conn.execute(pending_insert(db, carry_attempts=True), in_lock_order(db, rows))


async def park(
    db: Database, conn: AsyncConnection, tenant: str, item: Claimed, *, reason: str, now: float
) -> None:
    """Move an item out of the queue into `parked`, with the reason, for an operator to retry."""
    await conn.execute(sa.delete(work_items).where(_W.id == item.id))
    row = {
        "tenant": tenant,
        "key": item.key,
        "entity": item.entity,
        "canonical_id": item.canonical_id,
        "system": item.system,
        "external_id": item.external_id,
        "reason": reason[:4000],
        "attempts": item.attempts,
        "trigger": item.trigger,
        "parked_at": now,
    }
    update = {k: row[k] for k in ("reason", "attempts", "trigger", "parked_at")}
    if db.is_postgres:
        pg = postgresql.insert(parked).values(row)
        await conn.execute(pg.on_conflict_do_update(index_elements=["tenant", "key"], set_=update))
    else:
        lite = sqlite.insert(parked).values(row)
        await conn.execute(lite.on_conflict_do_update(index_elements=["tenant", "key"], set_=update))


async def unpark(db: Database, tenant: str, keys: Sequence[str] | None, *, now: float) -> int:
    """Put parked items back in the queue (all of them when `keys` is None); returns how many."""
    async with db.begin() as conn:
        query = sa.select(parked).where(parked.c.tenant == tenant)
        if keys is not None:
            query = query.where(parked.c.key.in_(list(keys)))
        rows = (await conn.execute(query)).all()
        items = [
            NewItem(
                entity=r.entity,
                canonical_id=r.canonical_id,
                system=r.system,
                external_id=r.external_id,
                trigger="unpark",
            )
            for r in rows
        ]
        await enqueue(db, conn, tenant, items, now=now)
        await conn.execute(
            sa.delete(parked).where(parked.c.tenant == tenant, parked.c.key.in_([r.key for r in rows]))
        )
    return len(rows)
