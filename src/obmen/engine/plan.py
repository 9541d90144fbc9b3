"""The plan step: every object's sides in canonical terms, the three-way merge, and the writes it needs.

References are translated to canonical ids before the merge and back into each target system's ids
after it; a reference that cannot be translated yet makes its object wait, and the referred object's key
is enqueued (docs/architecture.md §2.14). The answer is a value: a `Plan` per object or its wait.
"""

from __future__ import annotations

import itertools
from collections import defaultdict
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from obmen.connectors.base import Create, Update, WriteOp
from obmen.engine import refs
from obmen.engine.context import Engine, Known, Plan, Write
from obmen.engine.merge import MergeResult, Side, merge
from obmen.engine.outcome import Planned
from obmen.store import queue, state
from obmen.store.state import JournalEntry

__all__ = ["Waits", "canonical_refs", "object_sides", "plan"]

#: A write wanted for one system: (system, fields, external id or None for a create).
Wanted = tuple[str, dict[str, Any], str | None]


@dataclass
class Waits:
    """Why objects must wait, and the keys of what they wait for."""

    reasons: dict[str, str] = field(default_factory=dict)
    follow_ups: list[queue.NewItem] = field(default_factory=list)

    def add(self, cid: str, system: str, missing: Collection[tuple[str, str]], new: queue.NewItem) -> None:
        waits = ", ".join(f"{e} {x} in {system}" for e, x in sorted(missing))
        self.reasons[cid] = f"{queue.WAITS_FOR}{waits}"
        self.follow_ups.append(new)


async def plan(engine: Engine, known: Known, cids: Sequence[str], triggers: Mapping[str, str]) -> Planned:
    """Merge every object and plan its writes."""
    canon, referring = await canonical_refs(engine, known)
    waits = Waits()
    merged: dict[str, tuple[list[Side], MergeResult]] = {}
    for cid in cids:
        sides = object_sides(engine, known, cid, canon, referring, waits)
        if cid not in waits.reasons and sides:
            kept = known.sides.get(cid, {})
            base, decided = known.bases.get(cid), known.decided.get(cid)
            result = merge(
                known.entity, base, sides, engine.policy, kept.get("shown"), decided, kept.get("held")
            )
            merged[cid] = (sides, result)
    external, targets = await _external_refs(engine, {cid: r.target for cid, (_, r) in merged.items()})
    numbers = itertools.count()
    plans: dict[str, Plan] = {}
    for cid, (sides, result) in merged.items():
        p = Plan(cid, target=result.target, conflicts=result.conflicts, settled=result.settled)
        p.sides = _bookkeeping(known, cid, result.shown, result.held)
        lookup = _lookup_external(external)
        trigger, plain = triggers.get(cid, "reconcile"), cid not in targets
        if _plan_writes(engine, known, p, sides, result, lookup, plain, trigger, numbers, waits):
            plans[cid] = p
    return Planned(plans, waits.reasons, waits.follow_ups)


async def canonical_refs(
    engine: Engine, known: Known
) -> tuple[dict[tuple[str, str, str], str], set[tuple[str, str]]]:
    """(entity, system, external id) → canonical id, for every reference the batch's sides carry; and
    the (system, external id) of the sides that carry any (only those are rewritten, issue 14)."""
    wanted: dict[tuple[str, str], set[str]] = defaultdict(set)
    referring: set[tuple[str, str]] = set()
    for (system, external_id), remote in known.remotes.items():
        for entity, ident in refs.collect(remote.fields):
            wanted[(entity, system)].add(ident)
            referring.add((system, external_id))
    if not wanted:
        return {}, referring
    async with engine.db.begin() as conn:
        return await state.resolve_externals(conn, engine.tenant, wanted), referring


async def _external_refs(
    engine: Engine, targets: Mapping[str, Mapping[str, Any]]
) -> tuple[dict[tuple[str, str], dict[str, str]], set[str]]:
    """(entity, canonical id) → {system: external id} for everything the targets reference; and the
    objects whose target references anything (the others' updates need no rewriting)."""
    wanted: dict[str, set[str]] = defaultdict(set)
    referring: set[str] = set()
    for owner, target in targets.items():
        for entity, cid in refs.collect(target):
            wanted[entity].add(cid)
            referring.add(owner)
    if not wanted:
        return {}, referring
    async with engine.db.begin() as conn:
        return await state.fetch_links_of(conn, engine.tenant, wanted), referring


def _lookup_canonical(canon: Mapping[tuple[str, str, str], str], system: str) -> refs.Lookup:
    return lambda entity, external_id: canon.get((entity, system, external_id))


#: The system → lookup of external ids for one object whose target carries references.
ExternalLookup = Callable[[str], refs.Lookup]


def _lookup_external(external: Mapping[tuple[str, str], dict[str, str]]) -> ExternalLookup:
    return lambda system: lambda entity, cid: external.get((entity, cid), {}).get(system)


def object_sides(
    engine: Engine,
    known: Known,
    cid: str,
    canon: Mapping[tuple[str, str, str], str],
    referring: Collection[tuple[str, str]],
    waits: Waits,
) -> list[Side]:
    """Every side of one object in canonical terms; unresolvable references make the object wait."""
    sides = []
    for system, external_id in sorted(known.links.get(cid, {}).items()):
        remote = known.remotes.get((system, external_id))
        if remote is None:
            continue  # deleted remotely: not re-created, its link stays as a tombstone (journal shows it)
        fields, missing = remote.fields, set[refs.Unresolved]()
        if (system, external_id) in referring:
            fields, missing = refs.rewrite(remote.fields, _lookup_canonical(canon, system))
        for entity, ident in missing:
            new = queue.NewItem(entity=entity, system=system, external_id=ident, trigger="ref")
            waits.add(cid, system, missing, new)
        # A field the system carries but the object lacks is empty (None), so that it can be filled;
        # on an incomplete object it is unknown instead (its missing part holds it): left out of the merge.
        # A field the side cannot tell (an unmapped stage) takes no part: unknown is not a vote (§2.12).
        carried = engine.carried(system, known.entity)
        if remote.unknown:
            carried = carried - remote.unknown.keys()
        shown = {k: fields.get(k) for k in carried if k in fields or not remote.incomplete}
        read_only = engine.read_only(system, known.entity)
        contested = {k: v for k, v in remote.contested.items() if k in shown}
        sides.append(
            Side(system, shown, modified_at=remote.modified_at, read_only=read_only, contested=contested)
        )
    return sides


def _read(known: Known, system: str, external_id: str, out: Mapping[str, Any]) -> dict[str, Any] | None:
    """What the target showed of the fields written, as its connector read them."""
    remote = known.remotes.get((system, external_id))
    return None if remote is None else {k: remote.fields[k] for k in out if k in remote.fields}


def _remotes(known: Known, cid: str) -> list[tuple[str, Any]]:
    """(system, remote) of every side of one object that was read."""
    found = ((s, known.remotes.get((s, x))) for s, x in sorted(known.links.get(cid, {}).items()))
    return [(s, r) for s, r in found if r is not None]


def _bookkeeping(
    known: Known, cid: str, shown: Mapping[str, Mapping[str, int]], held: Mapping[str, Mapping[str, Any]]
) -> dict[str, Any]:
    """The sides' bookkeeping to keep with the base: the facts each showed (what it showed before, for a
    fact it did not show now), the values each held against the agreed ones, and the fields each could
    not tell."""
    before = known.sides.get(cid, {})
    levels = {s: dict(v) for s, v in (before.get("shown") or {}).items()}
    for system, fields in shown.items():
        levels.setdefault(system, {}).update(fields)
    unknown = {s: dict(r.unknown) for s, r in _remotes(known, cid) if r.unknown}
    out: dict[str, Any] = {}
    if levels:
        out["shown"] = levels
    if held:
        out["held"] = {s: dict(v) for s, v in held.items()}
    if unknown:
        out["unknown"] = unknown
    return out


def _plan_writes(
    engine: Engine,
    known: Known,
    p: Plan,
    sides: list[Side],
    result: MergeResult,
    lookup: ExternalLookup,
    plain: bool,
    trigger: str,
    numbers: Iterator[int],
    waits: Waits,
) -> bool:
    """Fill `p.writes`; False when a reference of the target is not in a system yet (the object waits).

    `plain`: the target references nothing, so updates (target values) go out as they are.
    """
    cid = p.canonical_id
    source = next(iter(result.sources.values()), None)
    wanted: list[Wanted] = [(s, fields, known.links[cid][s]) for s, fields in sorted(result.writes.items())]
    completing = _complete(engine, known, p, wanted)
    if completing:
        # The connector derives parts of what it completes (a CRM deal's order number, `CRM-<deal>`) that
        # the other systems need: they get the object once it reads back complete, a moment from now.
        wanted[:] = [w for w in wanted if w[0] in completing]
        p.read_back = True
    else:
        wanted += _creates(engine, known, p, {side.system for side in sides})
    for system, fields, external_id in wanted:
        fields = _with_companions(fields, p.target, engine.carried(system, known.entity))
        if plain and external_id:
            out, missing = dict(fields), set[refs.Unresolved]()
        else:
            # A create also carries the sides' fallbacks, which the target's walk did not see.
            out, missing = refs.rewrite(fields, lookup(system))
        if missing:
            for entity, ref_cid in missing:
                waits.add(
                    cid, system, missing, queue.NewItem(entity=entity, canonical_id=ref_cid, trigger="ref")
                )
            return False
        op: WriteOp = (
            Update(known.entity, external_id, out, _read(known, system, external_id, out))
            if external_id
            else Create(known.entity, cid, out)
        )
        entry = JournalEntry(
            entity=known.entity,
            canonical_id=cid,
            action="update" if external_id else "create",
            source_system=source,
            target_system=system,
            external_id=external_id,
            fields=fields,
            trigger=trigger,
        )
        p.writes.append(Write(next(numbers), system, op, entry))
    return True


#: A field written with the target's value of others beside it: a system may show them in one place, as
#: a deal's stage shows a cancellation or the status (docs/architecture.md §2.11), and a restored order
#: needs its status there again although the status itself did not change.
_COMPANIONS = {"cancelled": ("status",)}


def _with_companions(
    fields: dict[str, Any], target: Mapping[str, Any], carried: Collection[str]
) -> dict[str, Any]:
    """`fields` with the target's value of each companion of a field written (see `_COMPANIONS`)."""
    extra = {
        k: target[k]
        for field_name in fields
        for k in _COMPANIONS.get(field_name, ())
        if k not in fields and k in carried and target.get(k) is not None
    }
    return {**fields, **extra} if extra else fields


def _creates(engine: Engine, known: Known, p: Plan, present: set[str]) -> list[Wanted]:
    """Creates for the systems that take this entity and do not hold the object yet."""
    if known.entity == "order" and p.target.get("lines") == []:
        # Not an order yet: a deal whose products the manager is still adding. A site cannot add lines
        # to an order made empty (docs/protocols/site-rest.md §6.3) and 1C refuses one: it goes out
        # once it has lines.
        return []
    linked = known.links.get(p.canonical_id, {})
    lacking = [
        system
        for system in engine.carriers(known.entity)
        if system not in linked
        and system not in present
        and known.entity in engine.connectors[system].capabilities.creates
    ]
    if not lacking:
        return []  # held everywhere (most objects): no fallbacks to gather
    # Fields no side tells get the sides' fallbacks, in a create only (docs/architecture.md §2.12).
    fallbacks: dict[str, Any] = {}
    for _, remote in _remotes(known, p.canonical_id):
        fallbacks.update({k: v for k, v in remote.fallbacks.items() if p.target.get(k) is None})
    out: list[Wanted] = []
    for system in lacking:
        # A field the target only shows is not written there, in a create either (§2.15); the new object
        # will show nothing for it, which is held as its own value, so it votes once that moves.
        shown_only = engine.read_only(system, known.entity) & engine.carried(system, known.entity)
        carried = engine.carried(system, known.entity) - shown_only
        fields = {k: v for k, v in {**fallbacks, **p.target}.items() if k in carried and v is not None}
        skipped = {k: None for k in shown_only if p.target.get(k) is not None}
        if skipped:
            p.sides.setdefault("held", {}).setdefault(system, {}).update(skipped)
        out.append((system, fields, None))
    return out


def _complete(engine: Engine, known: Known, p: Plan, wanted: list[Wanted]) -> set[str]:
    """A linked side that lacks a part obmen maintains gets every carried target field, even unchanged;
    returns those systems.

    Its connector rebuilds the missing part from them (a deal made in the CRM gets its invoice); once
    rebuilt, the side reads as complete and nothing more is written, so this cannot loop.
    """
    planned = {system: fields for system, fields, _ in wanted}
    completing: set[str] = set()
    for system, external_id in sorted(known.links.get(p.canonical_id, {}).items()):
        remote = known.remotes.get((system, external_id))
        if remote is None or not remote.incomplete:
            continue
        completing.add(system)
        carried = engine.carried(system, known.entity) - engine.read_only(system, known.entity)
        full = {k: v for k, v in p.target.items() if k in carried and v is not None}
        if system in planned:
            planned[system].update({k: v for k, v in full.items() if k not in planned[system]})
        else:
            wanted.append((system, full, external_id))
    return completing
