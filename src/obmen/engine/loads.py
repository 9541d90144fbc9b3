"""Loads an operator starts: `obmen sync --full [ENTITY…]` (an initial load or a resync) and
`obmen sync KEY…` (single objects). Both only enqueue keys (docs/architecture.md §2.1) and record their
progress in the store (`store.progress`), so the workers that reconcile them and the processes that show
them (`obmen sync`, `/api/progress`, `/metrics`) need not be one."""

from __future__ import annotations

import time
import uuid
from collections.abc import Collection, Sequence

from obmen.engine.context import Engine
from obmen.engine.scheduler import full_resync
from obmen.store import queue, state
from obmen.store.progress import Load, save_load
from obmen.store.queue import NewItem

__all__ = ["TRIGGER", "entities_of", "full_load", "load_keys", "working"]

#: What the journal says caused the writes of an operator's load.
TRIGGER = "sync"


def entities_of(engine: Engine) -> list[str]:
    """Every entity some connected system carries."""
    return sorted({e for c in engine.connectors.values() for e in c.capabilities.fields})


def _name(kind: str) -> str:
    return f"{kind}-{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:4]}"


async def full_load(engine: Engine, entities: Collection[str] = (), *, page_size: int = 500) -> Load:
    """Enqueue every object of `entities` (all when empty) of every system, recording the progress."""
    known = entities_of(engine)
    unknown = sorted(set(entities) - set(known))
    if unknown:
        raise ValueError(f"unknown entity {', '.join(unknown)}: expected {', '.join(known)}")
    chosen = tuple(sorted(entities) or known)
    load = Load(_name("full"), chosen, started_at=engine.clock(), total=0, scanning=True)
    await save_load(engine.db, engine.tenant, load, now=engine.clock())

    distinct = [0]

    async def counted(total: int) -> None:
        distinct[0] = total
        await save_load(engine.db, engine.tenant, _with(load, total, True), now=engine.clock())

    await full_resync(engine, page_size=page_size, entities=set(chosen), trigger=TRIGGER, on_page=counted)
    load = _with(load, distinct[0], False)
    await save_load(engine.db, engine.tenant, load, now=engine.clock())
    return load


async def load_keys(engine: Engine, items: Sequence[NewItem]) -> Load:
    """Enqueue single objects (already parsed keys), as one load."""
    chosen = tuple(sorted({i.entity for i in items}))
    async with engine.db.begin() as conn:
        await queue.enqueue(engine.db, conn, engine.tenant, list(items), now=engine.clock())
    load = Load(_name("keys"), chosen, started_at=engine.clock(), total=len(items), scanning=False)
    await save_load(engine.db, engine.tenant, load, now=engine.clock())
    return load


def _with(load: Load, total: int, scanning: bool) -> Load:
    return Load(load.name, load.entities, load.started_at, total, scanning)


async def working(engine: Engine) -> str | None:
    """The live worker holding the tenant's lease (it will reconcile a load's keys), if any."""
    async with engine.db.begin() as conn:
        return await state.lease_holder(conn, f"tenant:{engine.tenant}", now=engine.clock())
