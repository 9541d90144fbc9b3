"""Bringing objects under obmen's id map: unlinked objects are matched before anything is created,
and creates that crashed half-way are found again by their idempotency key (ARCHITECTURE §2.4).
"""

from __future__ import annotations

import asyncio
import uuid
from collections import defaultdict
from collections.abc import Mapping, Sequence
from typing import Any

from obmen.connectors.base import MatchKey, Remote
from obmen.store import queue, state
from obmen.store.queue import Claimed
from obmen.store.state import JournalEntry
from obmen.sync.context import Batch, Engine, fetch_into

__all__ = ["adopt_unlinked", "match_keys", "recover_creates"]

#: System → matching key → the external id it found there.
Hits = Mapping[str, Mapping[MatchKey, str]]


def match_keys(fields: Mapping[str, Any], names: Sequence[str]) -> list[MatchKey]:
    """Normalised matching keys of an object: one per non-empty value of each matching field."""
    keys: list[MatchKey] = []
    for name in names:
        value = fields.get(name)
        values = value if isinstance(value, list) else [value]
        keys.extend((name, str(v)) for v in values if isinstance(v, str | int) and str(v).strip())
    return keys


async def adopt_unlinked(engine: Engine, batch: Batch) -> None:
    """Give every unlinked item of the batch a canonical id: an existing one if it matches, else new."""
    unlinked = [i for i in batch.items if i.canonical_id is None and i.system and i.external_id]
    if not unlinked:
        return
    by_system: dict[str, list[str]] = defaultdict(list)
    for item in unlinked:
        by_system[str(item.system)].append(str(item.external_id))
    async with engine.db.begin() as conn:
        known = {
            (system, x): cid
            for system, ids in by_system.items()
            for x, cid in (
                await state.resolve_external(conn, engine.tenant, batch.entity, system, ids)
            ).items()
        }
    for system, ids in by_system.items():
        if system in engine.connectors:
            await fetch_into(engine, batch, system, [x for x in ids if (system, x) not in known])
    hits = await _prefetch_matches(engine, batch, unlinked, known)
    # One at a time: an earlier item of this batch may be the very object a later one matches.
    for item in unlinked:
        system, external_id = str(item.system), str(item.external_id)
        cid = batch.owner_of(system, external_id)
        if cid is None and (system, external_id) in known:
            cid = known[(system, external_id)]
            if not await queue.try_relock(engine.db, engine.tenant, item.id, batch.entity, cid):
                batch.waiting_items[item.id] = f"{batch.entity} {cid} is being reconciled by another worker"
                continue
        if cid is None:
            remote = batch.remotes.get((system, external_id))
            if remote is None:
                batch.vanished.add(item.id)
                continue
            cid = await _by_origin(engine, batch, system, remote)
            cid = cid or await _match_or_new(engine, batch, item.trigger, system, remote, hits)
        batch.item_cid[item.id] = cid
        batch.links.setdefault(cid, {})


async def _by_origin(engine: Engine, batch: Batch, system: str, remote: Remote) -> str | None:
    """An object stamped by an obmen create whose confirmation was lost is that canonical object."""
    if not remote.origin:
        return None
    async with engine.db.begin() as conn:
        stored = await state.fetch_links(conn, engine.tenant, batch.entity, [remote.origin])
        intents = await state.fetch_intents(conn, engine.tenant, batch.entity, [remote.origin])
    systems = {**stored.get(remote.origin, {}), **batch.links.get(remote.origin, {})}
    if (remote.origin, system) not in intents or systems.get(
        system, remote.external_id
    ) != remote.external_id:
        return None
    batch.links.setdefault(remote.origin, {}).update(systems)
    batch.link(
        remote.origin,
        system,
        remote.external_id,
        journal=JournalEntry(
            entity=batch.entity,
            canonical_id=remote.origin,
            action="link",
            target_system=system,
            external_id=remote.external_id,
            fields={"recovered": "create found by its idempotency key"},
            trigger="recovery",
        ),
    )
    return remote.origin


async def _prefetch_matches(
    engine: Engine, batch: Batch, unlinked: Sequence[Claimed], known: Mapping[tuple[str, str], str]
) -> Hits:
    """Every other system's existing objects for the matching keys of the whole batch, one call each.

    Asking item by item would cost a portal request per new customer (bitrix24.md §3); the answers do
    not change while the batch adopts, since nothing is written before the batch's write step.
    """
    wanted: dict[str, set[MatchKey]] = defaultdict(set)
    for item in unlinked:
        source, external_id = str(item.system), str(item.external_id)
        remote = batch.remotes.get((source, external_id))
        if (source, external_id) in known or remote is None or remote.origin:
            continue
        keys = match_keys(remote.fields, engine.policy.match_on.get(batch.entity, ()))
        for other in engine.carriers(batch.entity):
            if other != source and keys:
                wanted[other].update(keys)
    systems = sorted(wanted)
    found = await asyncio.gather(
        *(engine.connectors[s].match(batch.entity, sorted(wanted[s])) for s in systems)
    )
    return {s: dict(f) for s, f in zip(systems, found, strict=True)}


async def _match_or_new(
    engine: Engine, batch: Batch, trigger: str, source: str, remote: Remote, hits: Hits
) -> str:
    """Find the canonical object this remote object is, or make a new one; link what matched."""
    keys = match_keys(remote.fields, engine.policy.match_on.get(batch.entity, ()))
    candidates: dict[str, str] = {}
    if keys:
        for other in engine.carriers(batch.entity):
            if other == source:
                continue
            found = hits.get(other, {})
            for key in keys:  # the first key in policy order decides
                if key in found:
                    candidates[other] = found[key]
                    break
    cid = await _existing_cid(engine, batch, candidates)
    if cid is not None and batch.links.get(cid, {}).get(source):
        # The match is already paired with another object of the source system: this one is a
        # look-alike there (two contacts sharing a phone), not the same object. Keep them apart.
        cid, candidates = None, {}
    cid = cid or uuid.uuid4().hex
    batch.link(cid, source, remote.external_id)
    for other, external_id in candidates.items():
        if batch.links[cid].get(other):
            continue
        batch.link(
            cid,
            other,
            external_id,
            journal=JournalEntry(
                entity=batch.entity,
                canonical_id=cid,
                action="link",
                source_system=source,
                target_system=other,
                external_id=external_id,
                fields={"matched_by": [list(k) for k in keys]},
                trigger=trigger,
            ),
        )
        await fetch_into(engine, batch, other, [external_id])
    return cid


async def _existing_cid(engine: Engine, batch: Batch, candidates: Mapping[str, str]) -> str | None:
    """If a matched object is linked already (in the store or this batch), the canonical id it has."""
    for system, external_id in candidates.items():
        cid = batch.owner_of(system, external_id)
        if cid is not None:
            return cid
    async with engine.db.begin() as conn:
        for system, external_id in candidates.items():
            found = await state.resolve_external(conn, engine.tenant, batch.entity, system, [external_id])
            if found:
                cid = found[external_id]
                batch.links.setdefault(cid, {}).update(
                    (await state.fetch_links(conn, engine.tenant, batch.entity, [cid]))[cid]
                )
                return cid
    return None


async def recover_creates(engine: Engine, batch: Batch, intents: set[tuple[str, str]]) -> None:
    """Find objects whose create was sent but never confirmed by a link, before creating them again."""
    by_system: dict[str, list[str]] = defaultdict(list)
    for cid, system in intents:
        if system in engine.connectors and not batch.links.get(cid, {}).get(system):
            by_system[system].append(cid)
    for system, cids in by_system.items():
        found = await engine.connectors[system].find_by_origin(batch.entity, cids)
        for cid, remote in found.items():
            batch.remotes[(system, remote.external_id)] = remote
            batch.link(
                cid,
                system,
                remote.external_id,
                journal=JournalEntry(
                    entity=batch.entity,
                    canonical_id=cid,
                    action="link",
                    target_system=system,
                    external_id=remote.external_id,
                    fields={"recovered": "create found by its idempotency key"},
                    trigger="recovery",
                ),
            )
