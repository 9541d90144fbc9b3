"""Read-only summaries for `obmen status`, the dashboard and `/metrics`."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from obmen.store import notes
from obmen.store import outages as breakers
from obmen.store.database import Database
from obmen.store.keeper import lease_rows
from obmen.store.progress import Load, loads_of
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
    #: Loads started by `obmen sync`, newest first (store.progress).
    loads: list[Load] = field(default_factory=list)
    #: Items waiting for a referenced object, oldest wait first: key, what it waits for, since when.
    waiting: list[dict[str, Any]] = field(default_factory=list)
    waiting_total: int = 0
    #: Seconds the oldest of them has waited (0 when none waits).
    oldest_wait: float = 0.0
    #: Systems that refuse obmen (their breakers are open, docs/architecture.md §2.13), by name.
    outages: list[breakers.Outage] = field(default_factory=list)
    #: The named leases: who holds each loop since when, its last tick, held/stalled/expired (store.keeper).
    leases: list[dict[str, Any]] = field(default_factory=list)

    @property
    def stalled(self) -> list[dict[str, Any]]:
        """The leases whose holder lives but whose loop has stopped moving."""
        return [lease for lease in self.leases if lease["state"] == "stalled"]

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
        marks = [
            r._asdict() for r in await conn.execute(sa.select(cursors).where(cursors.c.tenant == tenant))
        ]
        status.checkpoints = [m for m in marks if not notes.own(str(m["source"]))]
        progress_rows = {str(m["source"]): (m["value"], float(m["updated_at"])) for m in marks}
        status.loads = loads_of(progress_rows, status.queue)
        status.outages = sorted(breakers.outages_of(progress_rows).values(), key=lambda o: o.system)
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
        await _waiting(conn, tenant, status, now=now, limit=limit)
        status.leases = await lease_rows(conn, tenant, now=now)
    return status


async def _waiting(conn: Any, tenant: str, status: Status, *, now: float, limit: int) -> None:
    """What waits for what, and since when (docs/architecture.md §2.14)."""
    w = work_items.c
    where = sa.and_(w.tenant == tenant, w.waiting_since.is_not(None))
    total, oldest = (
        await conn.execute(sa.select(sa.func.count(), sa.func.min(w.waiting_since)).where(where))
    ).one()
    status.waiting_total = int(total)
    status.oldest_wait = max(0.0, now - oldest) if oldest is not None else 0.0
    rows = await conn.execute(
        sa.select(w.key, w.last_error, w.waiting_since).where(where).order_by(w.waiting_since).limit(limit)
    )
    status.waiting = [
        {"key": r.key, "waits_for": r.last_error, "since": r.waiting_since, "seconds": now - r.waiting_since}
        for r in rows
    ]
