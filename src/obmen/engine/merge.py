"""Three-way merge of every linked side against the base, per field (docs/architecture.md §2.2).

For each field: nobody changed it → nothing; the changed sides agree → propagate; they disagree → the
field policy decides. A side that equals the result gets no write, which is why our own write coming
back as an event costs nothing: the side equals the base, the base equals the result (echo
suppression by construction). A field under the `fact` rule only moves forward (docs/architecture.md
§2.11): a side that shows less than was agreed votes only if it had shown more itself and went back
(`shown`: what each side last showed of each fact). A side that still shows the value it showed when the
last merge chose another (`held`: a write it could not take, an unmapped status, a field it only shows) has
not changed and does not vote (docs/architecture.md §2.12). A field a side shows but obmen never writes
there (`Side.read_only`, docs/architecture.md §2.15) gets no write on that side; `held` keeps its unchanged
old value from undoing another side's edit. A field a person decided (an open conflict with a decision,
`store/state/conflicts.py`) takes the decided value whatever the sides hold. This module is pure: no I/O,
no clock.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from obmen.engine.derived import follow_lines
from obmen.engine.policy import FieldRule, Policy, Strategy
from obmen.model.fields import fingerprint

__all__ = [
    "Conflict",
    "Held",
    "MergeResult",
    "Shown",
    "Side",
    "fingerprint",
    "merge",
    "merge_fields",
    "merge_unchanged",
]

_MISSING: Any = object()


@dataclass(frozen=True, slots=True)
class Side:
    """One system's current view of the object, in canonical fields."""

    system: str
    fields: Mapping[str, Any]
    modified_at: float | None = None
    #: Fields this side shows but obmen does not write to it (a site's buyer kept in its orders, §2.15).
    read_only: frozenset[str] = frozenset()
    #: Fields it changed itself while obmen's change of them was on its way to it: field → (the value
    #: it changed from, obmen's value it never saw) (`connectors.base.Remote.contested`).
    contested: Mapping[str, tuple[Any, Any]] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Conflict:
    """A field changed on several sides to different values under the `conflict` rule."""

    field: str
    base: Any
    candidates: Mapping[str, Any]


@dataclass(slots=True)
class MergeResult:
    """What the merge decided for one object."""

    #: The new base: every field's agreed value (a conflicting field keeps its old base value).
    target: dict[str, Any] = field(default_factory=dict)
    #: system → the fields to write to it.
    writes: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: Fields held back for a person.
    conflicts: list[Conflict] = field(default_factory=list)
    #: Fields that agree everywhere now (any open conflict on them is settled).
    settled: list[str] = field(default_factory=list)
    #: field → the system whose value won (for the journal).
    sources: dict[str, str] = field(default_factory=dict)
    #: system → fact field → the level that side shows now (kept with the base for the next merge).
    shown: dict[str, dict[str, int]] = field(default_factory=dict)
    #: system → field → the value the side showed that differs from the agreed one.
    held: dict[str, dict[str, Any]] = field(default_factory=dict)


#: system → fact field → the level the side showed when it was last read.
Shown = Mapping[str, Mapping[str, int]]
#: system → field → the value the side showed at the last merge, which chose another.
Held = Mapping[str, Mapping[str, Any]]


def _still(held: Held, system: str, name: str, value: Any) -> bool:
    """Whether the side shows what it held last time (stored as JSON, a tuple comes back a list)."""
    last = held.get(system, {}).get(name, _MISSING)
    return last is not _MISSING and _same(last, value)


def _unmoved(side: Side, held: Held, name: str, value: Any) -> bool:
    """Whether a side that shows `value` still shows what it held at the last merge: not a change.

    A field the side changed itself while obmen's change of it was on its way (`Side.contested`) is the
    side's own edit, even when it equals what it held: that held value may have been obmen's own pending
    one, shown for the partner until it answered (docs/architecture.md §2.12).
    """
    return name not in side.contested and _still(held, side.system, name, value)


def _winner(
    name: str,
    rule: FieldRule,
    changed: Mapping[str, Any],
    sides: Mapping[str, Side],
    policy: Policy,
) -> str | None:
    """The side whose value wins for a field the changed sides disagree on (None: a conflict)."""
    if rule.strategy is Strategy.OWNER and rule.owner in sides:
        return rule.owner
    if rule.strategy is Strategy.CONFLICT:
        return None

    def order(system: str) -> tuple[float, int]:
        stamp = sides[system].modified_at
        return (-(stamp if stamp is not None else float("-inf")), policy.rank(system))

    return min(changed, key=order)


def _behind(
    rule: FieldRule,
    name: str,
    base: Any,
    changed: Mapping[str, Any],
    shown: Shown,
    sides: Mapping[str, Side],
) -> dict[str, Any]:
    """The changed sides that vote on a fact: a side behind the base votes only if it went back itself.

    A side that changed the fact without having seen obmen's value (`Side.contested`) went from the value
    it held before, not from obmen's that was only shown for it: 1C set `P` while the CRM's `F` was on its
    way has not gone back from `F` (docs/architecture.md §2.11).
    """
    if base is _MISSING or (agreed := rule.level(base)) is None:
        return dict(changed)
    out = {}
    for system, value in changed.items():
        contest = sides[system].contested.get(name)
        last = rule.level(contest[0]) if contest else shown.get(system, {}).get(name)
        now = rule.level(value)
        if now is not None and now < agreed and (last is None or now >= last):
            continue  # it has not seen the agreed fact yet (a document written before the payment)
        out[system] = value
    return out


def _concurrent(
    name: str, base: Any, present: Mapping[str, Any], changed: Mapping[str, Any], sides: Mapping[str, Side]
) -> dict[str, Any]:
    """Under `conflict`, a side that changed a field without having seen the base's value makes the
    sides still showing that value changed too: the two edits were concurrent (docs/architecture.md §2.11).

    A contest is live only while the base still holds obmen's value the side never saw; once the base
    moved on (a decision, an agreement), it no longer counts. Nor does it once another side changed the
    field having seen the base (a manager who takes the site's value in the CRM): that later edit is no
    longer concurrent, and the sides that merely still show the base (a pull-only mirror) do not vote.
    """
    out = dict(changed)
    if changed and all(_live(sides[s], name, base) is not None for s in changed):
        out.update({s: v for s, v in present.items() if s not in out and _same(v, base)})
    return out


def _live(side: Side, name: str, base: Any) -> tuple[Any, Any] | None:
    """The side's contest of the field while the base still holds obmen's value it never saw, or None."""
    contest = side.contested.get(name)
    if contest is None or base is _MISSING or not _same(contest[1], base):
        return None
    return contest


def _same(a: Any, b: Any) -> bool:
    """Equal, also after a JSON round trip (a tuple stored comes back a list)."""
    return bool(a == b or fingerprint({"v": a}) == fingerprint({"v": b}))


def _fact_winner(rule: FieldRule, votes: Mapping[str, Any], sides: Mapping[str, Side], policy: Policy) -> str:
    """Among differing votes on a fact the furthest advanced wins, then the newest."""

    def order(system: str) -> tuple[int, float, int]:
        stamp = sides[system].modified_at
        level = rule.level(votes[system])
        return (
            -(level if level is not None else -1),
            -(stamp if stamp is not None else float("-inf")),
            policy.rank(system),
        )

    return min(votes, key=order)


def _decide(
    entity: str,
    name: str,
    base: Any,
    present: Mapping[str, Any],
    sides: Mapping[str, Side],
    policy: Policy,
    shown: Shown,
    held: Held,
) -> tuple[Any, str | None, Conflict | None]:
    """The agreed value of one field, the system it came from, or the conflict it stays in."""
    rule = policy.rule(entity, name)
    owner_holds = rule.strategy is Strategy.OWNER and rule.owner in present
    if base is _MISSING and owner_holds and rule.owner is not None:
        # An owned field the owner shows is the owner's, empty or not: that a side showing a value beats
        # one showing none (below) is for fields no one owns.
        return present[rule.owner], rule.owner, None
    if base is _MISSING:
        # A field no merge has agreed on yet: a side that shows nothing for it (an upload written before
        # the value existed, a system that does not fill it) has nothing to say against one that shows a
        # value, however newer its reading (docs/architecture.md §2.2).
        changed = {s: v for s, v in present.items() if v is not None} or dict(present)
    else:
        changed = {s: v for s, v in present.items() if v != base and not _unmoved(sides[s], held, name, v)}
    if rule.strategy is Strategy.FACT:
        changed = _behind(rule, name, base, changed, shown, sides)
    if rule.strategy is Strategy.CONFLICT:
        changed = _concurrent(name, base, present, changed, sides)
    if not changed:
        return base, None, None
    if owner_holds and rule.owner not in changed and base is not _MISSING:
        # Only non-owners changed an owned field: the owner's value (the base) is put back.
        return base, rule.owner, None
    values = list(changed.values())
    if all(v == values[0] for v in values[1:]):
        return values[0], next(iter(changed)), None
    if rule.strategy is Strategy.FACT:
        winner: str | None = _fact_winner(rule, changed, sides, policy)
    else:
        winner = _winner(name, rule, changed if not owner_holds else present, sides, policy)
    if winner is None:
        return base, None, Conflict(name, None if base is _MISSING else base, dict(changed))
    return present[winner], winner, None


def _decided(value: Any, present: Mapping[str, Any]) -> tuple[Any, str | None, None]:
    """A person's decision wins; its source is the side that already holds it, if any."""
    return value, next((s for s, v in sorted(present.items()) if v == value), None), None


def merge(
    entity: str,
    base: Mapping[str, Any] | None,
    sides: Sequence[Side],
    policy: Policy,
    shown: Shown | None = None,
    decided: Mapping[str, Any] | None = None,
    held: Held | None = None,
) -> MergeResult:
    """Merge `sides` against `base` (None for an object never reconciled) under `policy`.

    `shown` is what each side last showed of each fact (`MergeResult.shown` of the previous merge);
    `decided` holds the fields a person resolved (field → value); `held` is `MergeResult.held` of the
    previous merge.
    """
    if base is not None and not decided and _agreed(base, sides):
        return _unchanged(entity, base, sides, policy)
    return merge_fields(entity, base, sides, policy, shown, decided, held)


def merge_fields(
    entity: str,
    base: Mapping[str, Any] | None,
    sides: Sequence[Side],
    policy: Policy,
    shown: Shown | None = None,
    decided: Mapping[str, Any] | None = None,
    held: Held | None = None,
) -> MergeResult:
    """`merge` deciding field by field, without the shortcut for sides that all equal the base."""
    by_system = {side.system: side for side in sides}
    decided = decided or {}
    names = sorted({name for side in sides for name in side.fields} | set(base or ()))
    result = MergeResult()
    for name in names:
        present = {s.system: s.fields[name] for s in sides if name in s.fields}
        old = base.get(name, _MISSING) if base is not None else _MISSING
        _note_levels(result, policy.rule(entity, name), name, present)
        if not present:
            if old is not _MISSING:
                result.target[name] = old
            continue
        if name in decided:
            value, source, conflict = _decided(decided[name], present)
        else:
            value, source, conflict = _decide(
                entity, name, old, present, by_system, policy, shown or {}, held or {}
            )
        if conflict is not None:
            result.conflicts.append(conflict)
            if old is not _MISSING:
                result.target[name] = old
            continue
        result.target[name] = value
        if source is not None:
            result.sources[name] = source
        for system, current in present.items():
            if current != value:
                if name not in by_system[system].read_only:
                    result.writes.setdefault(system, {})[name] = value
                result.held.setdefault(system, {})[name] = current
        result.settled.append(name)
    if entity == "order":
        _follow(result, base, sides)
    return result


def _follow(result: MergeResult, base: Mapping[str, Any] | None, sides: Sequence[Side]) -> None:
    """An order's total follows its edited lines (engine/derived.py): written where a side shows else."""
    for name in follow_lines(base, result.target):
        value = result.target[name]
        result.sources.setdefault(name, result.sources.get("lines", ""))
        for side in sides:
            current = side.fields.get(name, _MISSING)
            if current is _MISSING or current == value:
                continue
            if name not in side.read_only:
                result.writes.setdefault(side.system, {})[name] = value
            result.held.setdefault(side.system, {})[name] = current


def merge_unchanged(entity: str, base: Mapping[str, Any], side: Side, policy: Policy) -> MergeResult | None:
    """The merge of one side read alone, if it shows exactly the base (engine/quiet.py); else None."""
    return _unchanged(entity, base, [side], policy) if _agreed(base, [side]) else None


def _agreed(base: Mapping[str, Any], sides: Sequence[Side]) -> bool:
    """Whether every side shows exactly the base for every field it carries (nothing changed anywhere)."""
    return all(base.get(k, _MISSING) == v for side in sides for k, v in side.fields.items())


def _unchanged(entity: str, base: Mapping[str, Any], sides: Sequence[Side], policy: Policy) -> MergeResult:
    """The merge of sides that all equal the base, without deciding field by field (issue 14): the base
    stays, nothing is written, every field a side shows is settled."""
    result = MergeResult(target=dict(base))
    shown = {name for side in sides for name in side.fields}
    result.settled = sorted(shown)
    for name in result.settled:
        present = {s.system: s.fields[name] for s in sides if name in s.fields}
        _note_levels(result, policy.rule(entity, name), name, present)
    return result


def _note_levels(result: MergeResult, rule: FieldRule, name: str, present: Mapping[str, Any]) -> None:
    if rule.strategy is not Strategy.FACT:
        return
    for system, value in present.items():
        level = rule.level(value)
        if level is not None:
            result.shown.setdefault(system, {})[name] = level
