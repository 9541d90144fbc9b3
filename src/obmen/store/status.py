"""Read-only summaries for `obmen status`, the dashboard and `/metrics`."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from obmen.store.database import Database
from obmen.store.tables import conflicts, cursors, journal, links, parked, work_items
from obmen.store.timeline import propagations

__all__ = ["Status", "read_status"]


@dataclass(slots=True)
class Status:
    """A snapshot of the engine's state for one tenant."""

    #: (entity, state) → count; state is `pending`, `running` or `delayed` (pending, not yet due).
    queue: dict[tuple[str, str], int] = field(default_factory=dict)
    parked: list[dict[str, Any]] = field(default_factory=list)
    parked_total: int = 0
    conflicts: list[dict[str, Any]] = field(default_factory=list)
    conflicts_total: int = 0
    checkpoints: list[dict[str, Any]] = field(default_factory=list)
    linked: dict[tuple[str, str], int] = field(default_factory=dict)
    recent: list[dict[str, Any]] = field(default_factory=list)
    #: The last applied writes with the object's ids per system and their latency (store.timeline).
    propagations: list[dict[str, Any]] = field(default_factory=list)

    @property
    def depth(self) -> int:
        """Items waiting or running."""
        return sum(self.queue.values())


async def read_status(db: Database, tenant: str, *, now: float, limit: int = 20) -> Status:
    """Collect queue depth, parked items, open conflicts, checkpoints, link counts and recent writes."""
    status = Status()
    w = work_items.c
    async with db.begin() as conn:
        state = sa.case((sa.and_(w.state == "pending", w.not_before > now), "delayed"), else_=w.state)
        rows = await conn.execute(
            sa.select(w.entity, state, sa.func.count()).where(w.tenant == tenant).group_by(w.entity, state)
        )
        status.queue = {(r[0], r[1]): r[2] for r in rows}
        query = sa.select(parked).where(parked.c.tenant == tenant)
        status.parked_total = (
            await conn.execute(sa.select(sa.func.count()).select_from(query.subquery()))
        ).scalar_one()
        status.parked = [
            r._asdict() for r in await conn.execute(query.order_by(parked.c.parked_at.desc()).limit(limit))
        ]
        open_ = sa.select(conflicts).where(conflicts.c.tenant == tenant, conflicts.c.resolved_at.is_(None))
        status.conflicts_total = (
            await conn.execute(sa.select(sa.func.count()).select_from(open_.subquery()))
        ).scalar_one()
        status.conflicts = [
            r._asdict() for r in await conn.execute(open_.order_by(conflicts.c.created_at).limit(limit))
        ]
        status.checkpoints = [
            r._asdict() for r in await conn.execute(sa.select(cursors).where(cursors.c.tenant == tenant))
        ]
        counted = await conn.execute(
            sa.select(links.c.entity, links.c.system, sa.func.count())
            .where(links.c.tenant == tenant)
            .group_by(links.c.entity, links.c.system)
        )
        status.linked = {(r[0], r[1]): r[2] for r in counted}
        # Newest first along ix_journal_at (tenant, at), so the page stays cheap on a long journal.
        newest = sa.select(journal).where(journal.c.tenant == tenant)
        recent = newest.order_by(journal.c.at.desc(), journal.c.id.desc()).limit(limit)
        status.recent = [r._asdict() for r in await conn.execute(recent)]
        status.propagations = await propagations(conn, tenant, limit=limit)
    return status
