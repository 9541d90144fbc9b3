"""Repositories for the engine's state: id map, bases, intents, journal, conflicts, cursors, leases.

Every function takes an open connection so that the reconciler can compose a whole batch's outcome
(bases, links, journal, conflicts, queue completion) into one transaction.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from obmen.errors import TransientError
from obmen.store.tables import bases, conflicts, cursors, intents, journal, leases, links, work_items

__all__ = [
    "JournalEntry",
    "add_links",
    "fetch_links",
    "load_bases",
    "save_bases",
]


def _dumps(value: Any) -> str:
    return json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"))


def _upsert(conn: AsyncConnection, table: sa.Table) -> Any:
    return (postgresql if conn.dialect.name == "postgresql" else sqlite).insert(table)


class LinkConflict(TransientError):
    """A link would pair an object that is already paired otherwise."""


# --- id map -------------------------------------------------------------------------------------


async def fetch_links(
    conn: AsyncConnection, tenant: str, entity: str, canonical_ids: Iterable[str]
) -> dict[str, dict[str, str]]:
    """Canonical id → {system: external id} for these objects."""
    ids = list(set(canonical_ids))
    out: dict[str, dict[str, str]] = {cid: {} for cid in ids}
    for start in range(0, len(ids), 500):
        rows = await conn.execute(
            sa.select(links.c.canonical_id, links.c.system, links.c.external_id).where(
                links.c.tenant == tenant,
                links.c.entity == entity,
                links.c.canonical_id.in_(ids[start : start + 500]),
            )
        )
        for row in rows:
            out[row.canonical_id][row.system] = row.external_id
    return out


async def resolve_external(
    conn: AsyncConnection, tenant: str, entity: str, system: str, external_ids: Iterable[str]
) -> dict[str, str]:
    """External id (in `system`) → canonical id, for the ids that are linked."""
    ids = list(set(external_ids))
    out: dict[str, str] = {}
    for start in range(0, len(ids), 500):
        rows = await conn.execute(
            sa.select(links.c.external_id, links.c.canonical_id).where(
                links.c.tenant == tenant,
                links.c.entity == entity,
                links.c.system == system,
                links.c.external_id.in_(ids[start : start + 500]),
            )
        )
        out.update({r.external_id: r.canonical_id for r in rows})
    return out


async def add_links(
    conn: AsyncConnection, tenant: str, entity: str, pairs: Iterable[tuple[str, str, str]], *, now: float
) -> None:
    """Record (canonical id, system, external id) links; a link that exists already is kept."""
    rows = [
        {
            "tenant": tenant,
            "entity": entity,
            "canonical_id": c,
            "system": s,
            "external_id": x,
            "created_at": now,
        }
        for c, s, x in pairs
    ]
    # Chunks keep the check's IN lists far below PostgreSQL's 65,535 bind parameters.
    for start in range(0, len(rows), 1000):
        chunk = rows[start : start + 1000]
        await conn.execute(_upsert(conn, links).on_conflict_do_nothing(), chunk)
        await _check_links(conn, tenant, entity, chunk)


async def _check_links(conn: AsyncConnection, tenant: str, entity: str, rows: list[dict[str, Any]]) -> None:
    """A link that exists with another pairing means two reconciles disagreed about identity: fail
    loudly (the batch is retried and re-reads) rather than silently keep one of them."""
    wanted = {(r["system"], r["external_id"]): r["canonical_id"] for r in rows}
    found = await conn.execute(
        sa.select(links.c.canonical_id, links.c.system, links.c.external_id).where(
            links.c.tenant == tenant,
            links.c.entity == entity,
            sa.or_(
                links.c.canonical_id.in_({r["canonical_id"] for r in rows}),
                links.c.external_id.in_({r["external_id"] for r in rows}),
            ),
        )
    )
    by_cid = {(r["canonical_id"], r["system"]): r["external_id"] for r in rows}
    for held in found:
        expected_cid = wanted.get((held.system, held.external_id))
        expected_ext = by_cid.get((held.canonical_id, held.system))
        if (expected_cid is not None and expected_cid != held.canonical_id) or (
            expected_ext is not None and expected_ext != held.external_id
        ):
            raise LinkConflict(
                f"{entity} {held.system}:{held.external_id} is linked to {held.canonical_id}: "
                "a reconcile tried to pair it otherwise"
            )


# --- bases --------------------------------------------------------------------------------------


async def load_bases(
    conn: AsyncConnection, tenant: str, entity: str, canonical_ids: Iterable[str]
) -> dict[str, dict[str, Any]]:
    """Canonical id → the agreed field map, for the objects that have a base."""
    ids = list(set(canonical_ids))
    out: dict[str, dict[str, Any]] = {}
    for start in range(0, len(ids), 500):
        rows = await conn.execute(
            sa.select(bases.c.canonical_id, bases.c.fields).where(
                bases.c.tenant == tenant,
                bases.c.entity == entity,
                bases.c.canonical_id.in_(ids[start : start + 500]),
            )
        )
        out.update({r.canonical_id: json.loads(r.fields) for r in rows})
    return out


async def save_bases(
    conn: AsyncConnection,
    tenant: str,
    entity: str,
    values: Mapping[str, tuple[Mapping[str, Any], str]],
    *,
    now: float,
) -> None:
    """Store new bases: canonical id → (fields, fingerprint)."""
    rows = [
        {
            "tenant": tenant,
            "entity": entity,
            "canonical_id": cid,
            "fields": _dumps(fields),
            "fingerprint": fp,
            "updated_at": now,
        }
        for cid, (fields, fp) in values.items()
    ]
    if rows:
        # executemany: one cached compiled statement whatever the number of rows.
        stmt = _upsert(conn, bases)
        stmt = stmt.on_conflict_do_update(
            index_elements=["tenant", "entity", "canonical_id"],
            set_={
                "fields": stmt.excluded.fields,
                "fingerprint": stmt.excluded.fingerprint,
                "updated_at": stmt.excluded.updated_at,
            },
        )
        await conn.execute(stmt, rows)


# --- idempotency intents ------------------------------------------------------------------------


async def add_intents(
    conn: AsyncConnection, tenant: str, entity: str, pairs: Iterable[tuple[str, str]], *, now: float
) -> None:
    """Record (canonical id, system) creates before they are sent; a repeated intent counts attempts."""
    rows = [
        {"tenant": tenant, "entity": entity, "canonical_id": c, "system": s, "created_at": now, "attempts": 1}
        for c, s in pairs
    ]
    if rows:
        stmt = _upsert(conn, intents).on_conflict_do_update(
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


# --- journal ------------------------------------------------------------------------------------


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


async def plan_writes(
    conn: AsyncConnection, tenant: str, entries: Sequence[JournalEntry], *, now: float
) -> list[int]:
    """Journal writes ahead of the remote call (status `planned`); returns their ids in order."""
    if not entries:
        return []
    enqueued = await _enqueued_at(conn, tenant, entries)
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
            "fields": _dumps(entry.fields),
            "trigger": entry.trigger,
            "status": "planned",
        }
        for entry in entries
    ]
    stmt = sa.insert(journal).returning(journal.c.id, sort_by_parameter_order=True)
    return [row.id for row in await conn.execute(stmt, rows)]


async def _enqueued_at(
    conn: AsyncConnection, tenant: str, entries: Sequence[JournalEntry]
) -> dict[tuple[str, str], float]:
    """(entity, canonical id) → when the running work item for that object was enqueued.

    The item is the linked key itself, or an unlinked key (`order@site:132`) whose object is linked
    by now; either way it is the item whose reconcile planned these writes (one running item per lock).
    """
    out: dict[tuple[str, str], float] = {}
    w = work_items.c
    for entity in {e.entity for e in entries}:
        cids = list({e.canonical_id for e in entries if e.entity == entity})
        running = sa.and_(w.tenant == tenant, w.entity == entity, w.state == "running")
        linked = sa.select(w.canonical_id.label("cid"), w.enqueued_at).where(
            running, w.canonical_id.in_(cids)
        )
        adopted = (
            sa.select(links.c.canonical_id.label("cid"), w.enqueued_at)
            .join(
                links,
                sa.and_(
                    links.c.tenant == w.tenant,
                    links.c.entity == w.entity,
                    links.c.system == w.system,
                    links.c.external_id == w.external_id,
                ),
            )
            .where(running, links.c.canonical_id.in_(cids))
        )
        for row in await conn.execute(sa.union_all(linked, adopted)):
            key = (entity, row.cid)
            out[key] = min(out.get(key, row.enqueued_at), row.enqueued_at)
    return out


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
    conn: AsyncConnection, tenant: str, entries: Sequence[JournalEntry], *, now: float
) -> None:
    """Journal actions that changed no remote object (links found by matching or recovery)."""
    enqueued = await _enqueued_at(conn, tenant, entries) if entries else {}
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
            "fields": _dumps(e.fields),
            "trigger": e.trigger,
            "status": "applied",
        }
        for e in entries
    ]
    if rows:
        await conn.execute(sa.insert(journal), rows)


# --- conflicts ----------------------------------------------------------------------------------


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
        stmt = _upsert(conn, conflicts).values(
            tenant=tenant,
            entity=entity,
            canonical_id=cid,
            field=field,
            base=_dumps(base),
            candidates=_dumps(dict(candidates)),
            created_at=now,
        )
        await conn.execute(
            stmt.on_conflict_do_update(
                index_elements=["tenant", "entity", "canonical_id", "field"],
                index_where=sa.text("resolved_at IS NULL"),
                set_={"candidates": stmt.excluded.candidates},
            )
        )


async def open_conflict_keys(
    conn: AsyncConnection, tenant: str, entity: str, canonical_ids: Iterable[str]
) -> set[tuple[str, str]]:
    """(canonical id, field) pairs with an open conflict, among these objects."""
    ids = list(set(canonical_ids))
    out: set[tuple[str, str]] = set()
    for start in range(0, len(ids), 500):
        rows = await conn.execute(
            sa.select(conflicts.c.canonical_id, conflicts.c.field).where(
                conflicts.c.tenant == tenant,
                conflicts.c.entity == entity,
                conflicts.c.resolved_at.is_(None),
                conflicts.c.canonical_id.in_(ids[start : start + 500]),
            )
        )
        out.update((r.canonical_id, r.field) for r in rows)
    return out


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
            .values(resolved_at=now, resolution=how)
        )


async def open_conflicts(
    conn: AsyncConnection, tenant: str, entity: str | None = None
) -> list[dict[str, Any]]:
    """Open conflicts, oldest first."""
    query = sa.select(conflicts).where(conflicts.c.tenant == tenant, conflicts.c.resolved_at.is_(None))
    if entity is not None:
        query = query.where(conflicts.c.entity == entity)
    rows = await conn.execute(query.order_by(conflicts.c.created_at))
    return [
        {**row._asdict(), "base": json.loads(row.base), "candidates": json.loads(row.candidates)}
        for row in rows
    ]


# --- cursors and leases -------------------------------------------------------------------------


async def get_cursor(conn: AsyncConnection, tenant: str, source: str) -> str | None:
    """Where the change feed `source` was last read up to."""
    row = await conn.execute(
        sa.select(cursors.c.value).where(cursors.c.tenant == tenant, cursors.c.source == source)
    )
    return row.scalar_one_or_none()


async def set_cursor(
    conn: AsyncConnection, tenant: str, source: str, value: str | None, *, now: float
) -> None:
    """Commit a checkpoint for `source`."""
    stmt = _upsert(conn, cursors).values(tenant=tenant, source=source, value=value, updated_at=now)
    await conn.execute(
        stmt.on_conflict_do_update(
            index_elements=["tenant", "source"], set_={"value": value, "updated_at": now}
        )
    )


async def acquire_lease(conn: AsyncConnection, name: str, owner: str, *, ttl: float, now: float) -> bool:
    """Take or renew the lease `name` for `owner` unless another owner holds it unexpired."""
    stmt = _upsert(conn, leases).values(name=name, owner=owner, expires_at=now + ttl)
    stmt = stmt.on_conflict_do_update(
        index_elements=["name"],
        set_={"owner": owner, "expires_at": now + ttl},
        where=sa.or_(leases.c.owner == owner, leases.c.expires_at < now),
    )
    await conn.execute(stmt)
    holder = await conn.execute(sa.select(leases.c.owner).where(leases.c.name == name))
    return bool(holder.scalar_one() == owner)


async def release_lease(conn: AsyncConnection, name: str, owner: str) -> None:
    """Give the lease up at once (graceful shutdown), so a successor need not wait for expiry."""
    await conn.execute(sa.delete(leases).where(leases.c.name == name, leases.c.owner == owner))
