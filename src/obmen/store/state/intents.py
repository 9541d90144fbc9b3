"""Idempotency intents: creates announced before they are sent, so a crash cannot duplicate them."""

from __future__ import annotations

from collections.abc import Iterable

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from obmen.store.state._sql import upsert
from obmen.store.tables import intents

__all__ = ["add_intents", "drop_intents", "fetch_intents", "pending_creates"]


async def add_intents(
    conn: AsyncConnection, tenant: str, entity: str, pairs: Iterable[tuple[str, str]], *, now: float
) -> None:
    """Record (canonical id, system) creates before they are sent; a repeated intent counts attempts."""
    rows = [
        {"tenant": tenant, "entity": entity, "canonical_id": c, "system": s, "created_at": now, "attempts": 1}
        for c, s in pairs
    ]
    if rows:
        stmt = upsert(conn, intents).on_conflict_do_update(
            index_elements=["tenant", "entity", "canonical_id", "system"],
            set_={"attempts": intents.c.attempts + 1},
        )
        await conn.execute(stmt, rows)


async def fetch_intents(
    conn: AsyncConnection, tenant: str, entity: str, canonical_ids: Iterable[str]
) -> set[tuple[str, str]]:
    """The (canonical id, system) creates that were started and not yet confirmed by a link."""
    rows = await conn.execute(
        sa.select(intents.c.canonical_id, intents.c.system).where(
            intents.c.tenant == tenant,
            intents.c.entity == entity,
            intents.c.canonical_id.in_(list(canonical_ids)),
        )
    )
    return {(r.canonical_id, r.system) for r in rows}


async def drop_intents(
    conn: AsyncConnection, tenant: str, entity: str, pairs: Iterable[tuple[str, str]]
) -> None:
    """Forget intents whose create is confirmed (the link exists now); one executemany statement."""
    rows = [{"c": cid, "s": system} for cid, system in pairs]
    if rows:
        stmt = sa.delete(intents).where(
            intents.c.tenant == tenant,
            intents.c.entity == entity,
            intents.c.canonical_id == sa.bindparam("c"),
            intents.c.system == sa.bindparam("s"),
        )
        await conn.execute(stmt, rows)


async def pending_creates(
    conn: AsyncConnection, tenant: str, entity: str, system: str, *, limit: int = 500
) -> list[str]:
    """Canonical ids whose create in `system` was started and is not confirmed yet, newest first."""
    rows = await conn.execute(
        sa.select(intents.c.canonical_id)
        .where(intents.c.tenant == tenant, intents.c.entity == entity, intents.c.system == system)
        .order_by(intents.c.created_at.desc())
        .limit(limit)
    )
    return [r.canonical_id for r in rows]
