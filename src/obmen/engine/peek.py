"""Reading one object as every linked system holds it now, for the operator's object page.

The page shows an object's fields side by side (docs/operations.md §7.1); the store knows
only the agreed base. This asks each linked system through its connector, the way a reconcile reads it
(a mirror for 1C and the site, one REST call for the portal), and translates references to canonical
ids, so the page can name them. Nothing is written and nothing is enqueued.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

from obmen.engine import refs
from obmen.engine.context import Engine
from obmen.errors import ObmenError
from obmen.store import state

__all__ = ["read_sides"]


async def read_sides(engine: Engine, entity: str, canonical_id: str) -> dict[str, dict[str, Any]]:
    """System → {"fields", "modified_at", "error"} for every linked system that has a connector.

    A system whose read fails says why in `error` rather than failing the page; an object a system no
    longer holds has `fields` None.
    """
    async with engine.db.begin() as conn:
        linked = (await state.fetch_links(conn, engine.tenant, entity, [canonical_id]))[canonical_id]
    systems = {s: x for s, x in linked.items() if s in engine.connectors}
    views = await asyncio.gather(*(_read_one(engine, entity, s, x) for s, x in sorted(systems.items())))
    return dict(zip(sorted(systems), views, strict=True))


async def _read_one(engine: Engine, entity: str, system: str, external_id: str) -> dict[str, Any]:
    try:
        found = await engine.connectors[system].fetch(entity, [external_id])
    except ObmenError as exc:
        return {"fields": None, "modified_at": None, "error": f"{type(exc).__name__}: {exc}"}
    remote = found.get(external_id)
    if remote is None:
        return {"fields": None, "modified_at": None, "error": None}
    fields = await _canonical(engine, system, remote.fields)
    return {"fields": fields, "modified_at": remote.modified_at, "error": None}


async def _canonical(engine: Engine, system: str, fields: Mapping[str, Any]) -> dict[str, Any]:
    """References in `system`'s ids → canonical ids; an unlinked one keeps the system's id."""
    wanted: dict[str, set[str]] = {}
    for ref_entity, ident in refs.collect(fields):
        wanted.setdefault(ref_entity, set()).add(ident)
    found: dict[tuple[str, str], str] = {}
    async with engine.db.begin() as conn:
        for ref_entity, ids in wanted.items():
            resolved = await state.resolve_external(conn, engine.tenant, ref_entity, system, ids)
            found.update({(ref_entity, x): cid for x, cid in resolved.items()})
    out, _ = refs.rewrite(fields, lambda e, x: found.get((e, x)))
    return out
