"""Cursors of change feeds, and named leases (a tenant, the site exchange) held by one worker at a time."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from obmen.store.state._sql import upsert
from obmen.store.tables import cursors, leases

__all__ = ["acquire_lease", "cursors_under", "get_cursor", "lease_holder", "release_lease", "set_cursor"]


async def get_cursor(conn: AsyncConnection, tenant: str, source: str) -> str | None:
    """Where the change feed `source` was last read up to."""
    row = await conn.execute(
        sa.select(cursors.c.value).where(cursors.c.tenant == tenant, cursors.c.source == source)
    )
    return row.scalar_one_or_none()


async def cursors_under(
    conn: AsyncConnection, tenant: str, prefix: str
) -> dict[str, tuple[str | None, float]]:
    """Every checkpoint or note whose source starts with `prefix`: source → (value, updated_at)."""
    rows = await conn.execute(
        sa.select(cursors.c.source, cursors.c.value, cursors.c.updated_at).where(
            cursors.c.tenant == tenant, cursors.c.source.startswith(prefix, autoescape=True)
        )
    )
    return {r.source: (r.value, float(r.updated_at)) for r in rows}


async def set_cursor(
    conn: AsyncConnection, tenant: str, source: str, value: str | None, *, now: float
) -> None:
    """Commit a checkpoint for `source`."""
    stmt = upsert(conn, cursors).values(tenant=tenant, source=source, value=value, updated_at=now)
    await conn.execute(
        stmt.on_conflict_do_update(
            index_elements=["tenant", "source"], set_={"value": value, "updated_at": now}
        )
    )


async def acquire_lease(
    conn: AsyncConnection,
    name: str,
    owner: str,
    *,
    ttl: float,
    now: float,
    ticked_at: float | None = None,
    doing: str | None = None,
) -> bool:
    """Take or renew the lease `name` for `owner` unless another owner holds it unexpired.

    `ticked_at` (now by default) and `doing` say when the holding loop last made progress and at what; a
    takeover restarts `acquired_at`, a renewal keeps it (docs/operations.md §10).
    """
    tick = now if ticked_at is None else ticked_at
    values = {"owner": owner, "expires_at": now + ttl, "ttl": ttl, "ticked_at": tick, "doing": doing}
    stmt = upsert(conn, leases).values(name=name, acquired_at=now, **values)
    mine = leases.c.owner == owner
    since = sa.case((sa.and_(mine, leases.c.acquired_at.is_not(None)), leases.c.acquired_at), else_=now)
    stmt = stmt.on_conflict_do_update(
        index_elements=["name"],
        set_={**values, "acquired_at": since},
        where=sa.or_(mine, leases.c.expires_at < now),
    )
    # One statement: a row comes back only when it was inserted or renewed for `owner` (issue 14).
    taken = await conn.execute(stmt.returning(leases.c.owner))
    return taken.first() is not None


async def release_lease(conn: AsyncConnection, name: str, owner: str) -> None:
    """Give the lease up at once (graceful shutdown), so a successor need not wait for expiry."""
    await conn.execute(sa.delete(leases).where(leases.c.name == name, leases.c.owner == owner))


async def lease_holder(conn: AsyncConnection, name: str, *, now: float) -> str | None:
    """Who holds the lease `name` unexpired, if anyone."""
    row = await conn.execute(
        sa.select(leases.c.owner).where(leases.c.name == name, leases.c.expires_at >= now)
    )
    return row.scalar_one_or_none()
