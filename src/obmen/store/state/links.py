"""The id map: which object in each system is which canonical object (links)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from obmen.errors import TransientError
from obmen.store.database import refresh_statistics
from obmen.store.state._sql import CHUNK, upsert
from obmen.store.tables import links

__all__ = [
    "LinkConflict",
    "add_links",
    "fetch_links",
    "fetch_links_of",
    "resolve_external",
    "resolve_externals",
]


class LinkConflict(TransientError):
    """A link would pair an object that is already paired otherwise."""


async def fetch_links(
    conn: AsyncConnection, tenant: str, entity: str, canonical_ids: Iterable[str]
) -> dict[str, dict[str, str]]:
    """Canonical id → {system: external id} for these objects (an object without links maps to {})."""
    ids = list(dict.fromkeys(canonical_ids))
    found = await fetch_links_of(conn, tenant, {entity: ids})
    return {cid: found.get((entity, cid), {}) for cid in ids}


async def resolve_external(
    conn: AsyncConnection, tenant: str, entity: str, system: str, external_ids: Iterable[str]
) -> dict[str, str]:
    """External id (in `system`) → canonical id, for the ids that are linked."""
    found = await resolve_externals(conn, tenant, {(entity, system): external_ids})
    return {x: cid for (_, _, x), cid in found.items()}


async def resolve_externals(
    conn: AsyncConnection, tenant: str, wanted: Mapping[tuple[str, str], Iterable[str]]
) -> dict[tuple[str, str, str], str]:
    """(entity, system, external id) → canonical id for the linked ones among `wanted`, keyed by
    (entity, system): many kinds at once, one statement a chunk (issue 14)."""
    triples = [(entity, system, x) for (entity, system), ids in wanted.items() for x in dict.fromkeys(ids)]
    c = links.c
    out: dict[tuple[str, str, str], str] = {}
    for start in range(0, len(triples), CHUNK):
        groups: dict[tuple[str, str], list[str]] = defaultdict(list)
        for entity, system, x in triples[start : start + CHUNK]:
            groups[(entity, system)].append(x)
        either = [
            sa.and_(c.entity == entity, c.system == system, c.external_id.in_(ids))
            for (entity, system), ids in groups.items()
        ]
        query = sa.select(c.entity, c.system, c.external_id, c.canonical_id).where(
            c.tenant == tenant, sa.or_(*either)
        )
        out.update({(r.entity, r.system, r.external_id): r.canonical_id for r in await conn.execute(query)})
    return out


async def fetch_links_of(
    conn: AsyncConnection, tenant: str, wanted: Mapping[str, Iterable[str]]
) -> dict[tuple[str, str], dict[str, str]]:
    """(entity, canonical id) → {system: external id} for objects of several entities, one statement a
    chunk; an object without links is absent."""
    pairs = [(entity, cid) for entity, cids in wanted.items() for cid in dict.fromkeys(cids)]
    c = links.c
    out: dict[tuple[str, str], dict[str, str]] = {}
    for start in range(0, len(pairs), CHUNK):
        groups: dict[str, list[str]] = defaultdict(list)
        for entity, cid in pairs[start : start + CHUNK]:
            groups[entity].append(cid)
        either = [sa.and_(c.entity == entity, c.canonical_id.in_(cids)) for entity, cids in groups.items()]
        query = sa.select(c.entity, c.canonical_id, c.system, c.external_id).where(
            c.tenant == tenant, sa.or_(*either)
        )
        for r in await conn.execute(query):
            out.setdefault((r.entity, r.canonical_id), {})[r.system] = r.external_id
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
        await conn.execute(upsert(conn, links).on_conflict_do_nothing(), chunk)
        await _check_links(conn, tenant, entity, chunk)
    # A first sync links thousands at once; lookups planned on none are 20× slower (issue 14).
    await refresh_statistics(conn, "links", len(rows))


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
            other = (
                f"with {expected_cid}"
                if expected_cid is not None and expected_cid != held.canonical_id
                else f"{held.canonical_id} with {held.system}:{expected_ext}"
            )
            raise LinkConflict(
                f"{entity} {held.system}:{held.external_id} is linked to {held.canonical_id}: "
                f"a reconcile tried to pair it otherwise ({other})"
            )
