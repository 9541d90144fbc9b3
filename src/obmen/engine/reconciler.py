"""The reconciler: one claimed batch of keys → read every side → merge → write → commit.

The steps of `reconcile` (each a short function below):

1. *adopt* (`engine.adoption`): unlinked keys get a canonical id, matched against the other systems
   first, or already their outcome;
2. *read*: every linked side of every object, in bulk per system; creates that were started but never
   confirmed are looked up by their idempotency key before anything is created again. An object whose
   keys came from one system alone is read there first, and done if it shows its base (`engine.quiet`);
3. *plan* (`engine.plan`): references are translated to canonical ids, the three-way merge runs, and the
   writes (updates, and creates for systems that lack the object) are planned, each numbered;
4. *write ahead*: links, idempotency intents and the journal's `planned` rows are committed *before*
   any remote call, so a crash after a remote write leaves a trace that the next attempt uses;
5. *write*: one bulk call per system;
6. *commit* (`engine.outcome`): one `Outcome` per item is decided from what the steps returned, then
   links of created objects, new bases, conflicts, settled journal rows and the outcomes are committed
   in one transaction, only for the items this worker still holds.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Sequence

from obmen.connectors.base import Create, WriteResult
from obmen.engine.adoption import adopt_unlinked, recover_creates
from obmen.engine.aliases import is_alias_batch, resolve_aliases
from obmen.engine.context import Engine, Known, Write, fetch_into
from obmen.engine.merge import fingerprint
from obmen.engine.outcome import Adopted, Outcome, Planned, settle
from obmen.engine.plan import plan
from obmen.engine.quiet import candidates, finish_quiet
from obmen.errors import ObmenError, SystemRefused, TransientError
from obmen.store import queue, state
from obmen.store.queue import Claimed

__all__ = ["fingerprint", "reconcile"]


async def reconcile(engine: Engine, worker: str, items: Sequence[Claimed]) -> dict[int, Outcome]:
    """Reconcile one batch of claimed items of a single entity type; returns each item's outcome."""
    if is_alias_batch(engine, items):
        await resolve_aliases(engine, worker, items)  # pointer keys: only their targets are reconciled
        return {}
    known = Known(entity=items[0].entity)
    adopted = await adopt_unlinked(engine, known, items)
    cids = sorted({cid for cid in adopted.values() if isinstance(cid, str)})
    creating = await _load(engine, known, cids)
    quiet = await finish_quiet(engine, known, candidates(engine, known, items, adopted, creating))
    rest = [cid for cid in cids if cid not in quiet]
    await _fetch(engine, known, rest)
    planned = await plan(engine, known, rest, _triggers(items, adopted))
    if quiet:
        planned = Planned({**planned.plans, **quiet}, planned.waits, planned.follow_ups)
    journal_ids = await _write_ahead(engine, known, items, adopted, planned)
    results = await _send(engine, planned)
    return await settle(engine, worker, known, items, adopted, planned, journal_ids, results)


def _triggers(items: Sequence[Claimed], adopted: Adopted) -> dict[str, str]:
    """What made each object come up (the journal says it): its first item's trigger."""
    out: dict[str, str] = {}
    for item in items:
        cid = adopted.get(item.id)
        if isinstance(cid, str):
            out.setdefault(cid, item.trigger)
    return out


def _enqueued(items: Sequence[Claimed], adopted: Adopted) -> state.Enqueued:
    """When each object's earliest item was enqueued: where the journal's latency starts."""
    out: dict[tuple[str, str], float] = {}
    for item in items:
        if isinstance(cid := adopted.get(item.id), str):
            key = (item.entity, cid)
            out[key] = min(out.get(key, item.enqueued_at), item.enqueued_at)
    return out


async def _load(engine: Engine, known: Known, cids: Sequence[str]) -> set[str]:
    """Load links, bases, intents and conflicts, and recover unconfirmed creates; returns the objects
    that had a create in flight."""
    async with engine.db.begin() as conn:
        stored = await state.fetch_links(conn, engine.tenant, known.entity, cids)
        known.bases, known.sides = await state.load_agreements(conn, engine.tenant, known.entity, cids)
        intents = await state.fetch_intents(conn, engine.tenant, known.entity, cids)
        conflicts = await state.open_conflicts_of(conn, engine.tenant, known.entity, cids)
        known.open_conflicts, known.decided = conflicts
    for cid, systems in stored.items():
        known.links.setdefault(cid, {}).update(systems)
    await recover_creates(engine, known, intents)
    return {cid for cid, _ in intents}


async def _fetch(engine: Engine, known: Known, cids: Sequence[str]) -> None:
    """Read every linked side of these objects in bulk, one call per system."""
    wanted: dict[str, list[str]] = defaultdict(list)
    for cid in cids:
        for system, external_id in known.links.get(cid, {}).items():
            if system in engine.connectors and (system, external_id) not in known.remotes:
                wanted[system].append(external_id)
    await asyncio.gather(*(fetch_into(engine, known, s, ids) for s, ids in wanted.items()))


async def _write_ahead(
    engine: Engine, known: Known, items: Sequence[Claimed], adopted: Adopted, planned: Planned
) -> dict[int, int]:
    """Commit links, intents and `planned` journal rows before any remote write; write n → journal id."""
    writes = [w for p in planned.plans.values() for w in p.writes]
    if not writes and not known.new_links:
        return {}
    now = engine.clock()
    async with engine.db.begin() as conn:
        await state.add_links(conn, engine.tenant, known.entity, known.new_links, now=now)
        created = {cid for cid, _, _ in known.new_links}
        relocked = [
            (i.id, i.entity, cid)
            for i in items
            if i.canonical_id is None and isinstance(cid := adopted.get(i.id), str) and cid in created
        ]
        await queue.relock(conn, engine.tenant, relocked)
        # A link found for a started create settles its intent (crash recovery, docs/architecture.md §2.4).
        linked = [(cid, system) for cid, system, _ in known.new_links]
        await state.drop_intents(conn, engine.tenant, known.entity, linked)
        enqueued = _enqueued(items, adopted)
        await state.record_links_in_journal(
            conn, engine.tenant, known.link_journal, now=now, enqueued=enqueued
        )
        creates = [(w.entry.canonical_id, w.system) for w in writes if isinstance(w.op, Create)]
        await state.add_intents(conn, engine.tenant, known.entity, creates, now=now)
        entries = [w.entry for w in writes]
        ids = await state.plan_writes(conn, engine.tenant, entries, now=now, enqueued=enqueued)
    return {w.n: jid for w, jid in zip(writes, ids, strict=True)}


async def _send(engine: Engine, planned: Planned) -> dict[int, WriteResult]:
    """One bulk write per system, all systems at once; write n → its result."""
    per_system: dict[str, list[Write]] = defaultdict(list)
    for p in planned.plans.values():
        for w in p.writes:
            per_system[w.system].append(w)

    async def send(system: str, writes: list[Write]) -> list[tuple[int, WriteResult]]:
        ops = [w.op for w in writes]
        try:
            results = list(await engine.connectors[system].write(ops))
        except ObmenError as exc:
            results = [WriteResult(op, error=exc) for op in ops]
        missing = TransientError(f"{system} returned no result for a write")
        results += [WriteResult(op, error=missing) for op in ops[len(results) :]]
        return [(w.n, r) for w, r in zip(writes, results, strict=False)]

    pairs = await asyncio.gather(*(send(s, ws) for s, ws in per_system.items()))
    results = dict(pair for system_pairs in pairs for pair in system_pairs)
    # A write refused because the whole system refuses opens its breaker (docs/architecture.md §2.13).
    refused = {e.system: e for r in results.values() if isinstance(e := r.error, SystemRefused)}
    for error in refused.values():
        await engine.breakers.refused(error)
    return results
