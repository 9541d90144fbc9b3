"""Keys that point at other objects: resolved by their connector in bulk, off the request path.

A Bitrix24 invoice is part of its order (docs/architecture.md §4), but its event names only the invoice
(docs/protocols/bitrix24.md §5.5). Finding the order costs a portal request, which an event handler must
not wait for (§6.4), so the handler enqueues `invoice@bitrix24:<id>` and returns. A connector that lists
an entity in `Capabilities.resolves` turns such keys into the keys of the objects they belong to when a
worker claims them: a whole batch in one lookup, the new keys enqueued and the pointer keys completed
in one transaction (a crash in between repeats the lookup; nothing is lost). A failed lookup is the
batch's failure, retried with backoff like any other.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

from obmen.connectors.base import Change, Resolver
from obmen.engine.context import Engine
from obmen.errors import TransientError
from obmen.store import queue
from obmen.store.queue import Claimed, NewItem

__all__ = ["is_alias_batch", "resolve_aliases"]


def _resolver(engine: Engine, system: str | None, entity: str) -> Resolver | None:
    connector = engine.connectors.get(system or "")
    if connector is None or entity not in connector.capabilities.resolves:
        return None
    return connector if isinstance(connector, Resolver) else None


def is_alias_batch(engine: Engine, items: Sequence[Claimed]) -> bool:
    """Whether the batch holds pointer keys (unlinked keys of an entity their connector resolves)."""
    first = items[0]
    return first.canonical_id is None and first.system is not None and first.entity in _resolving(engine)


def _resolving(engine: Engine) -> set[str]:
    return {e for c in engine.connectors.values() for e in c.capabilities.resolves}


async def resolve_aliases(engine: Engine, worker: str, items: Sequence[Claimed]) -> None:
    """Turn a batch of pointer keys into the keys they point at; completes the items it held."""
    by_system: dict[str, list[Claimed]] = defaultdict(list)
    for item in items:
        # A linked key of such an entity names no pointer to follow: it is completed with the rest.
        if item.canonical_id is None and item.system is not None and item.external_id is not None:
            by_system[item.system].append(item)
    follow: list[NewItem] = []
    for system, held in by_system.items():
        resolver = _resolver(engine, system, held[0].entity)
        if resolver is None:
            raise TransientError(f"{system} cannot resolve {held[0].entity} keys yet (not attached)")
        wanted = [Change(i.entity, str(i.external_id)) for i in held]
        trigger = held[0].trigger or f"{system}:event"
        follow += [
            NewItem(c.entity, system=system, external_id=c.external_id, trigger=trigger)
            for c in await resolver.resolve(wanted)
        ]
    now = engine.clock()
    async with engine.db.begin() as conn:
        mine = await queue.owned(conn, worker, [i.id for i in items])
        if follow:
            await queue.enqueue(engine.db, conn, engine.tenant, follow, now=now)
        await queue.complete(conn, sorted(mine))
