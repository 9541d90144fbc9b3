"""Bringing objects under obmen's id map: unlinked objects are matched before anything is created,
and creates that crashed half-way are found again by their idempotency key (docs/architecture.md §2.4).
"""

from __future__ import annotations

import asyncio
import uuid
from collections import defaultdict
from collections.abc import Mapping, Sequence
from typing import Any

from obmen.connectors.base import MatchKey, Remote
from obmen.engine.context import Engine, Known, fetch_into
from obmen.engine.outcome import Done, Outcome, Wait
from obmen.store import queue, state
from obmen.store.queue import Claimed
from obmen.store.state import JournalEntry

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


async def adopt_unlinked(engine: Engine, known: Known, items: Sequence[Claimed]) -> dict[int, str | Outcome]:
    """Each item's canonical id: its own, an existing one it matches, or a new one; or already its outcome.

    An item whose object vanished before it was read is `Done`; one whose object another worker holds
    under its canonical id `Wait`s for it.
    """
    out: dict[int, str | Outcome] = {i.id: i.canonical_id for i in items if i.canonical_id is not None}
    unlinked = [i for i in items if i.canonical_id is None and i.system and i.external_id]
    keyless = {i.id for i in items} - set(out) - {i.id for i in unlinked}
    out.update({i: Done() for i in keyless})  # neither linked nor naming an object: nothing to do
    if not unlinked:
        return out
    by_system: dict[str, list[str]] = defaultdict(list)
    for item in unlinked:
        by_system[str(item.system)].append(str(item.external_id))
    async with engine.db.begin() as conn:
        stored = {
            (system, x): cid
            for system, ids in by_system.items()
            for x, cid in (
                await state.resolve_external(conn, engine.tenant, known.entity, system, ids)
            ).items()
        }
    for system, ids in by_system.items():
        if system in engine.connectors:
            await fetch_into(engine, known, system, [x for x in ids if (system, x) not in stored])
    await _stamp_pending_creates(engine, known, unlinked, stored)
    hits = await _prefetch_matches(engine, known, unlinked, stored)
    # One at a time: an earlier item of this batch may be the very object a later one matches.
    for item in unlinked:
        out[item.id] = await _adopt_one(engine, known, item, stored, hits)
    return out


async def _adopt_one(
    engine: Engine, known: Known, item: Claimed, stored: Mapping[tuple[str, str], str], hits: Hits
) -> str | Outcome:
    system, external_id = str(item.system), str(item.external_id)
    cid = known.owner_of(system, external_id)
    remote = known.remotes.get((system, external_id))
    if cid is None:
        linked = stored.get((system, external_id))
        if linked is None and remote is not None:
            linked = await _linked_meanwhile(engine, known, system, remote)
        if linked is not None:
            if not await queue.try_relock(engine.db, engine.tenant, item.id, known.entity, linked):
                return Wait(f"{known.entity} {linked} is being reconciled by another worker")
            cid = linked
    if cid is None:
        if remote is None:
            return Done()
        cid = await _by_origin(engine, known, system, remote)
        relocked = cid is None or await queue.try_relock(engine.db, engine.tenant, item.id, known.entity, cid)
        if not relocked:
            # Its create is still in flight (the object announced itself before the answer came back).
            return Wait(f"{known.entity} {cid} is being created by another worker")
        if cid is None and remote.origin:
            # A stamp no started create confirms (a copy queued for a partner reads as stamped with its
            # own id, a 1C `Ид`): the batch's prefetch left it out, so it is matched by its keys now.
            hits = await _prefetch_matches(engine, known, [item], stored, stamped=True)
        cid = cid or await _match_or_new(engine, known, item.trigger, system, remote, hits)
    known.links.setdefault(cid, {})
    return cid


async def _linked_meanwhile(engine: Engine, known: Known, system: str, remote: Remote) -> str | None:
    """The canonical id an obmen-made object got linked to after the batch first looked.

    The batch that created it may settle between that look and this read (its own event, queued as
    an unlinked key, raced it): its link is committed and its intent gone, so the object is found by
    the link, not by the intent (docs/architecture.md §2.4).
    """
    derived = known.entity in engine.connectors[system].capabilities.derived_ids  # unstamped, §2.4
    if not remote.origin and not derived:
        return None
    async with engine.db.begin() as conn:
        found = await state.resolve_external(conn, engine.tenant, known.entity, system, [remote.external_id])
    return found.get(remote.external_id)


async def _by_origin(engine: Engine, known: Known, system: str, remote: Remote) -> str | None:
    """An object stamped by an obmen create whose confirmation was lost is that canonical object."""
    if not remote.origin:
        return None
    async with engine.db.begin() as conn:
        stored = await state.fetch_links(conn, engine.tenant, known.entity, [remote.origin])
        intents = await state.fetch_intents(conn, engine.tenant, known.entity, [remote.origin])
    systems = {**stored.get(remote.origin, {}), **known.links.get(remote.origin, {})}
    held = systems.get(system)
    known_create = (remote.origin, system) in intents
    if (held is not None and held != remote.external_id) or (held is None and not known_create):
        return None
    known.links.setdefault(remote.origin, {}).update(systems)
    if held is not None:
        # The create settled since `_linked_meanwhile` looked: its intent is gone, its link committed.
        return remote.origin
    known.link(
        remote.origin,
        system,
        remote.external_id,
        journal=JournalEntry(
            entity=known.entity,
            canonical_id=remote.origin,
            action="link",
            target_system=system,
            external_id=remote.external_id,
            fields={"recovered": "create found by its idempotency key"},
            trigger="recovery",
        ),
    )
    return remote.origin


async def _stamp_pending_creates(
    engine: Engine, known: Known, unlinked: Sequence[Claimed], stored: Mapping[tuple[str, str], str]
) -> None:
    """Give an unstamped object obmen created its origin, found among the creates not yet confirmed.

    A system whose ids obmen derives from the canonical id (1C's OData `Ref_Key`) carries no stamp, and
    it may announce the new object (a ping, the feed) before the create's link is committed: without
    this, the announcement would be adopted as a new object and the create's link refused for ever.
    """
    systems = sorted(
        {
            str(i.system)
            for i in unlinked
            if (str(i.system), str(i.external_id)) not in stored
            and (remote := known.remotes.get((str(i.system), str(i.external_id)))) is not None
            and not remote.origin
            and known.entity in engine.connectors[str(i.system)].capabilities.derived_ids
        }
    )
    for system in systems:
        async with engine.db.begin() as conn:
            cids = await state.pending_creates(conn, engine.tenant, known.entity, system)
        found = await engine.connectors[system].find_by_origin(known.entity, cids) if cids else {}
        for remote in found.values():
            held = known.remotes.get((system, remote.external_id))
            if held is not None and not held.origin:
                known.remotes[(system, remote.external_id)] = remote


async def _prefetch_matches(
    engine: Engine,
    known: Known,
    unlinked: Sequence[Claimed],
    stored: Mapping[tuple[str, str], str],
    *,
    stamped: bool = False,
) -> Hits:
    """Every other system's existing objects for the matching keys of the whole batch, one call each.

    Asking item by item would cost a portal request per new customer (docs/protocols/bitrix24.md §3);
    the answers do not change while the batch adopts, since nothing is written before the write step.
    Objects stamped by an obmen create are found by their stamp instead, unless `stamped`.
    """
    wanted: dict[str, set[MatchKey]] = defaultdict(set)
    for item in unlinked:
        source, external_id = str(item.system), str(item.external_id)
        remote = known.remotes.get((source, external_id))
        if (source, external_id) in stored or remote is None or (remote.origin and not stamped):
            continue
        keys = match_keys(remote.fields, engine.policy.match_on.get(known.entity, ()))
        for other in engine.carriers(known.entity):
            if other != source and keys:
                wanted[other].update(keys)
    systems = sorted(wanted)
    found = await asyncio.gather(
        *(engine.connectors[s].match(known.entity, sorted(wanted[s])) for s in systems)
    )
    return {s: dict(f) for s, f in zip(systems, found, strict=True)}


async def _match_or_new(
    engine: Engine, known: Known, trigger: str, source: str, remote: Remote, hits: Hits
) -> str:
    """Find the canonical object this remote object is, or make a new one; link what matched."""
    keys = match_keys(remote.fields, engine.policy.match_on.get(known.entity, ()))
    candidates: dict[str, str] = {}
    if keys:
        for other in engine.carriers(known.entity):
            if other == source:
                continue
            found = hits.get(other, {})
            for key in keys:  # the first key in policy order decides
                if key in found:
                    candidates[other] = found[key]
                    break
    cid = await _existing_cid(engine, known, candidates)
    if cid is not None and known.links.get(cid, {}).get(source):
        # The match is already paired with another object of the source system: this one is a
        # look-alike there (two contacts sharing a phone), not the same object. Keep them apart.
        cid, candidates = None, {}
    cid = cid or uuid.uuid4().hex
    known.link(cid, source, remote.external_id)
    for other, external_id in candidates.items():
        if known.links[cid].get(other):
            continue
        known.link(
            cid,
            other,
            external_id,
            journal=JournalEntry(
                entity=known.entity,
                canonical_id=cid,
                action="link",
                source_system=source,
                target_system=other,
                external_id=external_id,
                fields={"matched_by": [list(k) for k in keys]},
                trigger=trigger,
            ),
        )
        await fetch_into(engine, known, other, [external_id])
    return cid


async def _existing_cid(engine: Engine, known: Known, candidates: Mapping[str, str]) -> str | None:
    """If a matched object is linked already (in the store or this batch), the canonical id it has."""
    for system, external_id in candidates.items():
        cid = known.owner_of(system, external_id)
        if cid is not None:
            return cid
    async with engine.db.begin() as conn:
        for system, external_id in candidates.items():
            found = await state.resolve_external(conn, engine.tenant, known.entity, system, [external_id])
            if found:
                cid = found[external_id]
                known.links.setdefault(cid, {}).update(
                    (await state.fetch_links(conn, engine.tenant, known.entity, [cid]))[cid]
                )
                return cid
    return None


async def recover_creates(engine: Engine, known: Known, intents: set[tuple[str, str]]) -> None:
    """Find objects whose create was sent but never confirmed by a link, before creating them again."""
    by_system: dict[str, list[str]] = defaultdict(list)
    for cid, system in intents:
        if system in engine.connectors and not known.links.get(cid, {}).get(system):
            by_system[system].append(cid)
    for system, cids in by_system.items():
        found = await engine.connectors[system].find_by_origin(known.entity, cids)
        for cid, remote in found.items():
            known.remotes[(system, remote.external_id)] = remote
            known.link(
                cid,
                system,
                remote.external_id,
                journal=JournalEntry(
                    entity=known.entity,
                    canonical_id=cid,
                    action="link",
                    target_system=system,
                    external_id=remote.external_id,
                    fields={"recovered": "create found by its idempotency key"},
                    trigger="recovery",
                ),
            )
