"""Three-way merge of every linked side against the base, per field (ARCHITECTURE §2.2).

For each field: nobody changed it → nothing; the changed sides agree → propagate; they disagree → the
field policy decides. A side that equals the result gets no write, which is why our own write coming
back as an event costs nothing: the side equals the base, the base equals the result (echo
suppression by construction). This module is pure: no I/O, no clock.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from obmen.model.fields import fingerprint
from obmen.sync.policy import FieldRule, Policy, Strategy

__all__ = ["Conflict", "MergeResult", "Side", "fingerprint", "merge"]

_MISSING: Any = object()


@dataclass(frozen=True, slots=True)
class Side:
    """One system's current view of the object, in canonical fields."""

    system: str
    fields: Mapping[str, Any]
    modified_at: float | None = None


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


def _decide(
    entity: str, name: str, base: Any, present: Mapping[str, Any], sides: Mapping[str, Side], policy: Policy
) -> tuple[Any, str | None, Conflict | None]:
    """The agreed value of one field, the system it came from, or the conflict it stays in."""
    rule = policy.rule(entity, name)
    changed = {s: v for s, v in present.items() if base is _MISSING or v != base}
    if not changed:
        return base, None, None
    owner_holds = rule.strategy is Strategy.OWNER and rule.owner in present
    if owner_holds and rule.owner not in changed and base is not _MISSING:
        # Only non-owners changed an owned field: the owner's value (the base) is put back.
        return base, rule.owner, None
    values = list(changed.values())
    if all(v == values[0] for v in values[1:]):
        return values[0], next(iter(changed)), None
    winner = _winner(name, rule, changed if not owner_holds else present, sides, policy)
    if winner is None:
        return base, None, Conflict(name, None if base is _MISSING else base, dict(changed))
    return present[winner], winner, None


def merge(entity: str, base: Mapping[str, Any] | None, sides: Sequence[Side], policy: Policy) -> MergeResult:
    """Merge `sides` against `base` (None for an object never reconciled) under `policy`."""
    by_system = {side.system: side for side in sides}
    names = sorted({name for side in sides for name in side.fields} | set(base or ()))
    result = MergeResult()
    for name in names:
        present = {s.system: s.fields[name] for s in sides if name in s.fields}
        old = base.get(name, _MISSING) if base is not None else _MISSING
        if not present:
            if old is not _MISSING:
                result.target[name] = old
            continue
        value, source, conflict = _decide(entity, name, old, present, by_system, policy)
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
                result.writes.setdefault(system, {})[name] = value
        result.settled.append(name)
    return result
