"""The reconciler: one claimed batch of keys → read every side → merge → write → commit.

The steps of `reconcile` (each a short function below):

1. *adopt*: unlinked keys get a canonical id, matched against the other systems first;
2. *read*: every linked side of every object, in bulk per system; creates that were started but never
   confirmed are looked up by their idempotency key before anything is created again;
3. *plan*: references are translated to canonical ids, the three-way merge runs, and the writes
   (updates, and creates for systems that lack the object) are planned;
4. *write ahead*: links, idempotency intents and the journal's `planned` rows are committed *before*
   any remote call, so a crash after a remote write leaves a trace that the next attempt uses;
5. *write*: one bulk call per system;
6. *commit*: links of created objects, new bases, conflicts, settled journal rows and the queue's
   verdict on every item, in one transaction, and only for items this worker still holds.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Mapping, Sequence
from typing import Any

from obmen.connectors.base import Create, Update, WriteOp, WriteResult
from obmen.errors import ObmenError
from obmen.store import queue, state
from obmen.store.queue import Claimed
from obmen.store.state import JournalEntry
from obmen.sync import refs
from obmen.sync.adoption import adopt_unlinked, recover_creates
from obmen.sync.context import Batch, Engine, Plan, fetch_into
from obmen.sync.merge import Side, fingerprint, merge
from obmen.sync.outcome import settle

__all__ = ["fingerprint", "reconcile"]


async def reconcile(engine: Engine, worker: str, items: Sequence[Claimed]) -> Batch:
    """Reconcile one batch of claimed items of a single entity type."""
    batch = Batch(entity=items[0].entity, items=list(items))
    for item in batch.items:
        if item.canonical_id is not None:
            batch.item_cid[item.id] = item.canonical_id
    await adopt_unlinked(engine, batch)
    await _read(engine, batch)
    await _plan(engine, batch)
    journal_ids = await _write_ahead(engine, batch)
    results = await _send(engine, batch)
    await settle(engine, worker, batch, journal_ids, results)
    return batch


async def _read(engine: Engine, batch: Batch) -> None:
    """Load links, bases and intents, recover unconfirmed creates, then read every side in bulk."""
    cids = sorted(set(batch.item_cid.values()))
    async with engine.db.begin() as conn:
        stored = await state.fetch_links(conn, engine.tenant, batch.entity, cids)
        batch.bases = await state.load_bases(conn, engine.tenant, batch.entity, cids)
        intents = await state.fetch_intents(conn, engine.tenant, batch.entity, cids)
        batch.open_conflicts = await state.open_conflict_keys(conn, engine.tenant, batch.entity, cids)
    for cid, systems in stored.items():
        batch.links.setdefault(cid, {}).update(systems)
    await recover_creates(engine, batch, intents)
    wanted: dict[str, list[str]] = defaultdict(list)
    for cid in cids:
        for system, external_id in batch.links.get(cid, {}).items():
            if system in engine.connectors and (system, external_id) not in batch.remotes:
                wanted[system].append(external_id)
    await asyncio.gather(*(fetch_into(engine, batch, s, ids) for s, ids in wanted.items()))


async def _canonical_refs(engine: Engine, batch: Batch) -> dict[tuple[str, str, str], str]:
    """(system, entity, external id) → canonical id, for every reference the batch's sides carry."""
    wanted: dict[tuple[str, str], set[str]] = defaultdict(set)
    for (system, _), remote in batch.remotes.items():
        for entity, ident in refs.collect(remote.fields):
            wanted[(system, entity)].add(ident)
    out: dict[tuple[str, str, str], str] = {}
    if wanted:
        async with engine.db.begin() as conn:
            for (system, entity), ids in wanted.items():
                found = await state.resolve_external(conn, engine.tenant, entity, system, ids)
                out.update({(system, entity, x): cid for x, cid in found.items()})
    return out


async def _external_refs(engine: Engine, batch: Batch) -> dict[tuple[str, str], dict[str, str]]:
    """(entity, canonical id) → {system: external id} for everything the planned targets reference."""
    wanted: dict[str, set[str]] = defaultdict(set)
    for plan in batch.plans.values():
        for entity, cid in refs.collect(plan.target):
            wanted[entity].add(cid)
    out: dict[tuple[str, str], dict[str, str]] = {}
    if wanted:
        async with engine.db.begin() as conn:
            for entity, cids in wanted.items():
                for cid, systems in (await state.fetch_links(conn, engine.tenant, entity, cids)).items():
                    out[(entity, cid)] = systems
    return out


def _lookup_canonical(canon: Mapping[tuple[str, str, str], str], system: str) -> refs.Lookup:
    return lambda entity, external_id: canon.get((system, entity, external_id))


def _lookup_external(external: Mapping[tuple[str, str], dict[str, str]], system: str) -> refs.Lookup:
    return lambda entity, cid: external.get((entity, cid), {}).get(system)


def _sides(engine: Engine, batch: Batch, cid: str, canon: Mapping[tuple[str, str, str], str]) -> list[Side]:
    """Every side of one object in canonical terms; unresolvable references make the object wait."""
    sides = []
    for system, external_id in sorted(batch.links.get(cid, {}).items()):
        remote = batch.remotes.get((system, external_id))
        if remote is None:
            continue  # deleted remotely: not re-created, its link stays as a tombstone (journal shows it)
        fields, missing = refs.rewrite(remote.fields, _lookup_canonical(canon, system))
        for entity, ident in missing:
            batch.follow_ups.append(
                queue.NewItem(entity=entity, system=system, external_id=ident, trigger="ref")
            )
        if missing:
            waits = ", ".join(f"{e} {x} in {system}" for e, x in sorted(missing))
            batch.waiting[cid] = f"{queue.WAITS_FOR}{waits}"
        # A field the system carries but the object lacks is empty (None), so that it can be filled;
        # on an incomplete object it is unknown instead (its missing part holds it): left out of the merge.
        carried = engine.carried(system, batch.entity)
        shown = {k: fields.get(k) for k in carried if k in fields or not remote.incomplete}
        sides.append(Side(system, shown, modified_at=remote.modified_at))
    return sides


async def _plan(engine: Engine, batch: Batch) -> None:
    """Merge every object and plan its writes."""
    canon = await _canonical_refs(engine, batch)
    merged: dict[str, tuple[list[Side], Any]] = {}
    for cid in sorted(set(batch.item_cid.values())):
        sides = _sides(engine, batch, cid, canon)
        if cid in batch.waiting or not sides:
            continue
        result = merge(batch.entity, batch.bases.get(cid), sides, engine.policy)
        batch.plans[cid] = Plan(cid, target=result.target, conflicts=result.conflicts, settled=result.settled)
        merged[cid] = (sides, result)
    external = await _external_refs(engine, batch)
    for cid, (sides, result) in merged.items():
        _plan_writes(engine, batch, batch.plans[cid], sides, result, external)


def _plan_writes(
    engine: Engine,
    batch: Batch,
    plan: Plan,
    sides: list[Side],
    result: Any,
    external: Mapping[tuple[str, str], dict[str, str]],
) -> None:
    cid = plan.canonical_id
    trigger = _trigger_of(batch, cid)
    source = next(iter(result.sources.values()), None)
    present = {side.system for side in sides}
    wanted: list[tuple[str, dict[str, Any], str | None]] = [
        (system, fields, batch.links[cid][system]) for system, fields in sorted(result.writes.items())
    ]
    completing = _complete(engine, batch, plan, wanted)
    if completing:
        # The connector derives parts of what it completes (a CRM deal's order number, `CRM-<deal>`) that
        # the other systems need: they get the object once it reads back complete, a moment from now.
        wanted[:] = [w for w in wanted if w[0] in completing]
        plan.read_back = True
    for system in [] if completing else engine.carriers(batch.entity):
        creates = engine.connectors[system].capabilities.creates
        if system not in batch.links.get(cid, {}) and batch.entity in creates and system not in present:
            carried = engine.carried(system, batch.entity)
            fields = {k: v for k, v in plan.target.items() if k in carried and v is not None}
            wanted.append((system, fields, None))
    for system, fields, external_id in wanted:
        out, missing = refs.rewrite(fields, _lookup_external(external, system))
        if missing:
            for entity, ref_cid in missing:
                batch.follow_ups.append(queue.NewItem(entity=entity, canonical_id=ref_cid, trigger="ref"))
            waits = ", ".join(f"{e} {c} in {system}" for e, c in sorted(missing))
            batch.waiting[cid] = f"{queue.WAITS_FOR}{waits}"
            plan.ops.clear()
            return
        op: WriteOp = (
            Update(batch.entity, external_id, out) if external_id else Create(batch.entity, cid, out)
        )
        entry = JournalEntry(
            entity=batch.entity,
            canonical_id=cid,
            action="update" if external_id else "create",
            source_system=source,
            target_system=system,
            external_id=external_id,
            fields=fields,
            trigger=trigger,
        )
        plan.ops.append((system, op, entry))


def _complete(
    engine: Engine, batch: Batch, plan: Plan, wanted: list[tuple[str, dict[str, Any], str | None]]
) -> set[str]:
    """A linked side that lacks a part obmen maintains gets every carried target field, even unchanged;
    returns those systems.

    Its connector rebuilds the missing part from them (a deal made in the CRM gets its invoice); once
    rebuilt, the side reads as complete and nothing more is written, so this cannot loop.
    """
    planned = {system: fields for system, fields, _ in wanted}
    completing: set[str] = set()
    for system, external_id in sorted(batch.links.get(plan.canonical_id, {}).items()):
        remote = batch.remotes.get((system, external_id))
        if remote is None or not remote.incomplete:
            continue
        completing.add(system)
        carried = engine.carried(system, batch.entity)
        full = {k: v for k, v in plan.target.items() if k in carried and v is not None}
        if system in planned:
            planned[system].update({k: v for k, v in full.items() if k not in planned[system]})
        else:
            wanted.append((system, full, external_id))
    return completing


def _trigger_of(batch: Batch, cid: str) -> str:
    return next((i.trigger for i in batch.items if batch.item_cid.get(i.id) == cid), "reconcile")


async def _write_ahead(engine: Engine, batch: Batch) -> dict[tuple[str, int], int]:
    """Commit links, intents and `planned` journal rows before any remote write; returns journal ids."""
    ops = [(cid, system, op, entry) for cid, p in batch.plans.items() for system, op, entry in p.ops]
    if not ops and not batch.new_links:
        return {}
    now = engine.clock()
    async with engine.db.begin() as conn:
        await state.add_links(conn, engine.tenant, batch.entity, batch.new_links, now=now)
        created = {cid for cid, _, _ in batch.new_links}
        adopted = [
            (i.id, i.entity, cid)
            for i in batch.items
            if i.canonical_id is None and (cid := batch.item_cid.get(i.id)) in created
        ]
        await queue.relock(conn, engine.tenant, adopted)
        # A link found for a started create settles its intent (crash recovery, ARCHITECTURE §2.4).
        linked = [(cid, system) for cid, system, _ in batch.new_links]
        await state.drop_intents(conn, engine.tenant, batch.entity, linked)
        await state.record_links_in_journal(conn, engine.tenant, batch.link_journal, now=now)
        creates = [(cid, system) for cid, system, op, _ in ops if isinstance(op, Create)]
        await state.add_intents(conn, engine.tenant, batch.entity, creates, now=now)
        ids = await state.plan_writes(conn, engine.tenant, [entry for *_, entry in ops], now=now)
    return {(system, id(op)): jid for (_, system, op, _), jid in zip(ops, ids, strict=True)}


async def _send(engine: Engine, batch: Batch) -> dict[str, Sequence[WriteResult]]:
    """One bulk write per system, all systems at once."""
    per_system: dict[str, list[WriteOp]] = defaultdict(list)
    for plan in batch.plans.values():
        for system, op, _ in plan.ops:
            per_system[system].append(op)

    async def send(system: str, ops: list[WriteOp]) -> tuple[str, Sequence[WriteResult]]:
        try:
            return system, await engine.connectors[system].write(ops)
        except ObmenError as exc:
            return system, [WriteResult(op, error=exc) for op in ops]

    pairs = await asyncio.gather(*(send(s, ops) for s, ops in per_system.items()))
    return dict(pairs)
