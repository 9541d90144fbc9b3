"""Objects whose one source shows nothing new: finished after reading that source alone (issue 14).

A key that a system's own event, poll or ping queued for a linked object keeps the name of that system
(`queue.NewItem.system`; keys from two systems folded into one keep none). When that side, read alone,
shows exactly the agreed base, it brought no change: what the other systems changed comes with their own
keys (their events and polls, and the periodic resync, which is always read whole). Most such keys are
the echoes of obmen's own writes (docs/architecture.md §2.2): they now cost one read of the system that
spoke instead of one per system, and for a site order's echo no portal request at all.

Only plain cases qualify: a first attempt, not waiting, with a base, linked in every system that
carries the entity, no create in flight and no open conflict; its side whole (not a draft), not
contested, every reference linked. The side's facts are noted as a full merge notes them and its held
values dropped (it shows the agreed values now); the other sides' bookkeeping stays as it was.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Collection, Mapping, Sequence
from typing import Any

from obmen.connectors.base import Remote
from obmen.engine.context import Engine, Known, Plan, fetch_into
from obmen.engine.merge import merge_unchanged
from obmen.engine.outcome import Adopted
from obmen.engine.plan import Waits, canonical_refs, object_sides
from obmen.store.queue import Claimed

__all__ = ["candidates", "finish_quiet"]


def candidates(
    engine: Engine, known: Known, items: Sequence[Claimed], adopted: Adopted, creating: Collection[str]
) -> dict[str, str]:
    """Canonical id → the one system its keys came from, for the objects that may finish quietly.

    `creating`: the objects with a create obmen started and has not confirmed (they are recovered first).
    """
    spoke: dict[str, set[str | None]] = defaultdict(set)
    for item in items:
        cid = adopted.get(item.id)
        if isinstance(cid, str):
            spoke[cid].add(item.system if _plain(item, cid) else None)
    carriers = set(engine.carriers(known.entity))
    conflicted = {cid for cid, _ in known.open_conflicts} | set(known.decided)
    out: dict[str, str] = {}
    for cid, systems in spoke.items():
        system = next(iter(systems)) if len(systems) == 1 else None
        links = known.links.get(cid, {})
        if (
            system is not None
            and system in links
            and cid in known.bases
            and carriers <= links.keys()
            and cid not in creating
            and cid not in conflicted
        ):
            out[cid] = system
    return out


def _plain(item: Claimed, cid: str) -> bool:
    """A linked key a system queued itself, on its first attempt and not waiting for anything."""
    system = item.system
    return bool(
        system
        and item.canonical_id == cid
        and item.trigger.startswith(f"{system}:")
        and item.attempts <= 1
        and item.waiting_since is None
    )


async def finish_quiet(engine: Engine, known: Known, quiet: Mapping[str, str]) -> dict[str, Plan]:
    """Read each candidate's one source; those showing exactly their base get a plan with no write."""
    wanted: dict[str, list[str]] = defaultdict(list)
    for cid, system in quiet.items():
        wanted[system].append(known.links[cid][system])
    if not wanted:
        return {}
    await asyncio.gather(*(fetch_into(engine, known, s, ids) for s, ids in wanted.items()))
    canon, referring = await canonical_refs(engine, known)
    plans: dict[str, Plan] = {}
    for cid, system in quiet.items():
        remote = known.remotes.get((system, known.links[cid][system]))
        if remote is None or remote.incomplete or remote.contested:
            continue
        waits = Waits()
        sides = [s for s in object_sides(engine, known, cid, canon, referring, waits) if s.system == system]
        if waits.reasons or len(sides) != 1:
            continue
        result = merge_unchanged(known.entity, known.bases[cid], sides[0], engine.policy)
        if result is None:
            continue
        plan = Plan(cid, target=dict(known.bases[cid]))
        plan.sides = _kept(known.sides.get(cid, {}), system, result.shown.get(system, {}), remote)
        plans[cid] = plan
    return plans


def _kept(
    before: Mapping[str, Any], system: str, levels: Mapping[str, int], remote: Remote
) -> dict[str, Any]:
    """The bookkeeping a full merge would keep for this side (plan.py `_bookkeeping`); the rest as it was."""
    out: dict[str, Any] = {k: {s: dict(v) for s, v in part.items()} for k, part in before.items()}
    if levels:
        out.setdefault("shown", {}).setdefault(system, {}).update(levels)
    out.get("held", {}).pop(system, None)
    if remote.unknown:
        out.setdefault("unknown", {})[system] = dict(remote.unknown)
    else:
        out.get("unknown", {}).pop(system, None)
    return {k: part for k, part in out.items() if part}
