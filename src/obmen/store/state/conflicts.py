"""Conflicts: fields two systems changed differently, kept until a person or a rule resolves them.

A person decides an open conflict (`decide_conflict`): the chosen value is stored on it, journaled, and
the object's key enqueued; the reconciler reads the decisions (`open_conflicts_of`), the merge writes the
value everywhere, and the conflict closes once every write landed (`resolve_conflicts`).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from obmen.errors import ObmenError
from obmen.model.fields import canonical_json
from obmen.store.database import Database
from obmen.store.queue import NewItem, enqueue
from obmen.store.state._sql import chunks, upsert
from obmen.store.tables import conflicts, journal

__all__ = [
    "ConflictNotOpen",
    "closed_conflicts",
    "decide_conflict",
    "open_conflicts",
    "open_conflicts_of",
    "record_conflicts",
    "resolve_conflicts",
]

#: The trigger of the work item a decision enqueues, and of the writes that apply it.
RESOLVE_TRIGGER = "resolve"


class ConflictNotOpen(ObmenError):
    """The conflict does not exist, is closed already, or the decision names no candidate."""


async def record_conflicts(
    conn: AsyncConnection,
    tenant: str,
    entity: str,
    items: Iterable[tuple[str, str, Any, Mapping[str, Any]]],
    *,
    now: float,
) -> None:
    """Open a conflict per (canonical id, field, base, {system: value}); an open one is refreshed."""
    for cid, field, base, candidates in items:
        stmt = upsert(conn, conflicts).values(
            tenant=tenant,
            entity=entity,
            canonical_id=cid,
            field=field,
            base=canonical_json(base),
            candidates=canonical_json(dict(candidates)),
            created_at=now,
        )
        await conn.execute(
            stmt.on_conflict_do_update(
                index_elements=["tenant", "entity", "canonical_id", "field"],
                index_where=sa.text("resolved_at IS NULL"),
                set_={"candidates": stmt.excluded.candidates},
            )
        )


async def open_conflicts_of(
    conn: AsyncConnection, tenant: str, entity: str, canonical_ids: Iterable[str]
) -> tuple[set[tuple[str, str]], dict[str, dict[str, Any]]]:
    """(canonical id, field) pairs with an open conflict, and the decided values among them: canonical
    id → {field: the value a person decided}; one query per chunk."""
    ids = list(set(canonical_ids))
    keys: set[tuple[str, str]] = set()
    decided: dict[str, dict[str, Any]] = {}
    for chunk in chunks(ids):
        rows = await conn.execute(
            sa.select(
                conflicts.c.canonical_id, conflicts.c.field, conflicts.c.decided_at, conflicts.c.decision
            ).where(
                conflicts.c.tenant == tenant,
                conflicts.c.entity == entity,
                conflicts.c.resolved_at.is_(None),
                conflicts.c.canonical_id.in_(chunk),
            )
        )
        for r in rows:
            keys.add((r.canonical_id, r.field))
            if r.decided_at is not None:
                decided.setdefault(r.canonical_id, {})[r.field] = json.loads(r.decision)
    return keys, decided


async def resolve_conflicts(
    conn: AsyncConnection, tenant: str, entity: str, keys: Iterable[tuple[str, str]], *, how: str, now: float
) -> None:
    """Close open conflicts on (canonical id, field) pairs that have been settled."""
    for cid, field in keys:
        await conn.execute(
            sa.update(conflicts)
            .where(
                conflicts.c.tenant == tenant,
                conflicts.c.entity == entity,
                conflicts.c.canonical_id == cid,
                conflicts.c.field == field,
                conflicts.c.resolved_at.is_(None),
            )
            # A person's decision closes as `decided`, whatever made the sides agree in the end.
            .values(
                resolved_at=now,
                resolution=sa.case((conflicts.c.decided_at.is_not(None), "decided"), else_=how),
            )
        )


async def open_conflicts(
    conn: AsyncConnection, tenant: str, entity: str | None = None
) -> list[dict[str, Any]]:
    """Open conflicts, oldest first."""
    query = sa.select(conflicts).where(conflicts.c.tenant == tenant, conflicts.c.resolved_at.is_(None))
    if entity is not None:
        query = query.where(conflicts.c.entity == entity)
    rows = await conn.execute(query.order_by(conflicts.c.created_at, conflicts.c.id))
    return [_decoded(row) for row in rows]


async def closed_conflicts(conn: AsyncConnection, tenant: str, *, limit: int = 20) -> list[dict[str, Any]]:
    """The most recently closed conflicts, newest first."""
    query = sa.select(conflicts).where(conflicts.c.tenant == tenant, conflicts.c.resolved_at.is_not(None))
    rows = await conn.execute(
        query.order_by(conflicts.c.resolved_at.desc(), conflicts.c.id.desc()).limit(limit)
    )
    return [_decoded(row) for row in rows]


def _decoded(row: Any) -> dict[str, Any]:
    out = {**row._asdict(), "base": json.loads(row.base), "candidates": json.loads(row.candidates)}
    out["decision"] = None if row.decision is None else json.loads(row.decision)
    return out


async def decide_conflict(
    db: Database,
    tenant: str,
    conflict_id: int,
    *,
    side: str | None = None,
    value: Any = None,
    by: str,
    now: float,
) -> dict[str, Any]:
    """Decide an open conflict by a side's candidate (`side`) or a value; journal it, enqueue the object.

    Returns the conflict as decided. A decided conflict may be decided again until the engine applies it.
    """
    async with db.begin() as conn:
        return await _decide(conn, db, tenant, conflict_id, side=side, value=value, by=by, now=now)


async def _decide(
    conn: AsyncConnection,
    db: Database,
    tenant: str,
    conflict_id: int,
    *,
    side: str | None,
    value: Any,
    by: str,
    now: float,
) -> dict[str, Any]:
    row = (
        await conn.execute(
            sa.select(conflicts).where(
                conflicts.c.tenant == tenant, conflicts.c.id == conflict_id, conflicts.c.resolved_at.is_(None)
            )
        )
    ).first()
    if row is None:
        raise ConflictNotOpen(f"conflict {conflict_id} is not open / конфликт {conflict_id} не открыт")
    candidates = json.loads(row.candidates)
    if side is not None:
        if side not in candidates:
            sides = ", ".join(sorted(candidates))
            raise ConflictNotOpen(f"conflict {conflict_id}: side must be one of {sides} / сторона: {sides}")
        value = candidates[side]
    values = {
        "decision": canonical_json(value),
        "decided_side": side,
        "decided_by": by[:128],
        "decided_at": now,
    }
    await conn.execute(sa.update(conflicts).where(conflicts.c.id == conflict_id).values(**values))
    await conn.execute(
        sa.insert(journal).values(
            tenant=tenant,
            at=now,
            settled_at=now,
            entity=row.entity,
            canonical_id=row.canonical_id,
            action="resolve",
            source_system=side,
            # The decision changes no remote object by itself: obmen records it; the writes follow.
            target_system="obmen",
            fields=canonical_json({row.field: value}),
            trigger=f"operator:{by}"[:64],
            status="applied",
        )
    )
    item = NewItem(entity=row.entity, canonical_id=row.canonical_id, trigger=RESOLVE_TRIGGER)
    await enqueue(db, conn, tenant, [item], now=now)
    return {**_decoded(row), **values, "decision": value}
