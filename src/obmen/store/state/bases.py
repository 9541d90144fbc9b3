"""Bases: the last agreed field values of each object, what the three-way merge compares against.

Next to each base, `sides`: what each system last showed of the object's facts and which fields it could
not tell (docs/architecture.md §2.11, §2.12).
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from obmen.model.fields import canonical_json, canonical_loads
from obmen.store.bulk import execute_many
from obmen.store.database import refresh_statistics
from obmen.store.state._sql import chunks
from obmen.store.tables import bases

__all__ = ["load_agreements", "save_bases", "save_sides"]


async def load_agreements(
    conn: AsyncConnection, tenant: str, entity: str, canonical_ids: Iterable[str]
) -> tuple[dict[str, dict[str, Any]], dict[str, dict[str, Any]]]:
    """Each object's base and its sides' bookkeeping, one query per chunk: (id → fields, id → sides)."""
    ids = list(set(canonical_ids))
    fields: dict[str, dict[str, Any]] = {}
    sides: dict[str, dict[str, Any]] = {}
    for chunk in chunks(ids):
        rows = await conn.execute(
            sa.select(bases.c.canonical_id, bases.c.fields, bases.c.sides).where(
                bases.c.tenant == tenant,
                bases.c.entity == entity,
                bases.c.canonical_id.in_(chunk),
            )
        )
        for r in rows:
            fields[r.canonical_id] = canonical_loads(r.fields)
            if r.sides is not None:
                sides[r.canonical_id] = canonical_loads(r.sides)
    return fields, sides


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
            "fields": canonical_json(fields),
            "fingerprint": fp,
            "updated_at": now,
        }
        for cid, (fields, fp) in values.items()
    ]
    if rows:
        # One statement compiled once whatever the number of rows, its values straight to the driver.
        await execute_many(conn, _upsert(conn.dialect.name == "postgresql"), rows)
        await refresh_statistics(conn, "bases", len(rows))


@functools.cache
def _upsert(postgres: bool) -> Any:
    stmt = (postgresql if postgres else sqlite).insert(bases)
    return stmt.on_conflict_do_update(
        index_elements=["tenant", "entity", "canonical_id"],
        set_={
            "fields": stmt.excluded.fields,
            "fingerprint": stmt.excluded.fingerprint,
            "updated_at": stmt.excluded.updated_at,
        },
    )


async def save_sides(
    conn: AsyncConnection, tenant: str, entity: str, values: Mapping[str, Mapping[str, Any]]
) -> None:
    """Store the sides' bookkeeping of existing bases: canonical id → {"shown": …, "unknown": …}."""
    if not values:
        return
    stmt = (
        bases.update()
        .where(
            bases.c.tenant == tenant,
            bases.c.entity == entity,
            bases.c.canonical_id == sa.bindparam("b_cid"),
        )
        .values(sides=sa.bindparam("b_sides"))
    )
    await conn.execute(stmt, [{"b_cid": cid, "b_sides": canonical_json(v)} for cid, v in values.items()])
