"""The journal: every write obmen plans, then settles with its outcome and latency."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from obmen.model.fields import canonical_json
from obmen.store.tables import journal

__all__ = ["Enqueued", "JournalEntry", "plan_writes", "record_links_in_journal", "settle_writes"]


@dataclass(frozen=True, slots=True)
class JournalEntry:
    """One write obmen made or is about to make."""

    entity: str
    canonical_id: str
    action: str
    target_system: str
    fields: Mapping[str, Any]
    trigger: str
    source_system: str | None = None
    external_id: str | None = None


#: (entity, canonical id) → when the work item whose reconcile journals the object was enqueued: the
#: reconciler knows it from the items it holds (the linked key, or an unlinked one it adopted).
Enqueued = Mapping[tuple[str, str], float]


async def plan_writes(
    conn: AsyncConnection,
    tenant: str,
    entries: Sequence[JournalEntry],
    *,
    now: float,
    enqueued: Enqueued,
) -> list[int]:
    """Journal writes ahead of the remote call (status `planned`); returns their ids in order."""
    if not entries:
        return []
    rows = [
        {
            "tenant": tenant,
            "at": now,
            "enqueued_at": enqueued.get((entry.entity, entry.canonical_id)),
            "entity": entry.entity,
            "canonical_id": entry.canonical_id,
            "action": entry.action,
            "source_system": entry.source_system,
            "target_system": entry.target_system,
            "external_id": entry.external_id,
            "fields": canonical_json(entry.fields),
            "trigger": entry.trigger,
            "status": "planned",
        }
        for entry in entries
    ]
    # Rows come back matched by what names them (one write per object and system in a batch), not in
    # parameter order: SQLite cannot promise that order, and asking for it sends one INSERT per row.
    keys = [(e.entity, e.canonical_id, e.target_system, e.action) for e in entries]
    if len(set(keys)) < len(keys):
        stmt = sa.insert(journal).returning(journal.c.id, sort_by_parameter_order=True)
        return [row.id for row in await conn.execute(stmt, rows)]
    c = journal.c
    stmt = sa.insert(journal).returning(c.id, c.entity, c.canonical_id, c.target_system, c.action)
    found = {
        (r.entity, r.canonical_id, r.target_system, r.action): r.id for r in await conn.execute(stmt, rows)
    }
    return [found[key] for key in keys]


async def settle_writes(
    conn: AsyncConnection,
    outcomes: Iterable[tuple[int, str, str | None, str | None]],
    *,
    now: float | None = None,
) -> None:
    """Mark journalled writes `applied` or `failed`: (journal id, status, external id, error).

    `now` is when the remote system confirmed them; without it the row has no latency to show.
    """
    rows = [{"jid": j, "st": status, "xid": x, "err": error} for j, status, x, error in outcomes]
    if rows:
        stmt = (
            sa.update(journal)
            .where(journal.c.id == sa.bindparam("jid"))
            .values(
                status=sa.bindparam("st"),
                error=sa.bindparam("err"),
                settled_at=now,
                external_id=sa.func.coalesce(sa.bindparam("xid", type_=sa.String), journal.c.external_id),
            )
        )
        await conn.execute(stmt, rows)


async def record_links_in_journal(
    conn: AsyncConnection, tenant: str, entries: Sequence[JournalEntry], *, now: float, enqueued: Enqueued
) -> None:
    """Journal actions that changed no remote object (links found by matching or recovery)."""
    rows = [
        {
            "tenant": tenant,
            "at": now,
            "enqueued_at": enqueued.get((e.entity, e.canonical_id)),
            "settled_at": now,
            "entity": e.entity,
            "canonical_id": e.canonical_id,
            "action": e.action,
            "source_system": e.source_system,
            "target_system": e.target_system,
            "external_id": e.external_id,
            "fields": canonical_json(e.fields),
            "trigger": e.trigger,
            "status": "applied",
        }
        for e in entries
    ]
    if rows:
        await conn.execute(sa.insert(journal), rows)
