"""The connector contract: the small seam between the sync engine and one external system.

A connector speaks its system's protocol and maps it to *canonical field maps*: flat dicts of JSON-safe
values (`obmen.model.fields`). The engine never sees wire formats and the connector never sees the
store. The contract is bulk-first (ARCHITECTURE §2.5): every call takes or returns many objects.

References to other objects travel as `{"$ref": entity, "id": external_id}` in the connector's own id
space; the engine translates them to canonical ids and back through the id map.

Creates are idempotent (ARCHITECTURE §2.4): a `Create` carries the canonical id, the connector stamps it
on the remote object where the system allows (`ORIGIN_ID`, `xmlId`, `Ид`), and `find_by_origin` finds an
object created by an attempt that crashed before obmen could record the link.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from obmen.errors import ObmenError

__all__ = [
    "Capabilities",
    "Change",
    "ChangePage",
    "Connector",
    "Create",
    "Fields",
    "MatchKey",
    "Remote",
    "ScanPage",
    "Update",
    "WriteOp",
    "WriteResult",
]

#: Canonical field values of one object: JSON-safe, normalised so that equal values compare equal.
Fields = Mapping[str, Any]

#: A normalised matching key such as `("email", "ivan@example.ru")` or `("inn_kpp", "7707083893/773601001")`.
MatchKey = tuple[str, str]


@dataclass(frozen=True, slots=True)
class Remote:
    """One object as a system holds it now, mapped to canonical fields."""

    entity: str
    external_id: str
    fields: Fields
    #: When the system last changed the object (for newest-wins), if the system tells.
    modified_at: float | None = None
    #: The canonical id stamped on the object by an obmen create, if any.
    origin: str | None = None
    #: The system's representation lacks a part obmen maintains (a deal without its invoice): the engine
    #: rewrites it with every carried field; fields absent from `fields` are then unknown, not empty.
    incomplete: bool = False


@dataclass(frozen=True, slots=True)
class Create:
    """Create an object carrying `canonical_id` as its idempotency key."""

    entity: str
    canonical_id: str
    fields: Fields


@dataclass(frozen=True, slots=True)
class Update:
    """Set `fields` (only those) on an existing object."""

    entity: str
    external_id: str
    fields: Fields


WriteOp = Create | Update


@dataclass(frozen=True, slots=True)
class WriteResult:
    """The outcome of one write: the object's id on success, or the error that stopped it."""

    op: WriteOp
    external_id: str | None = None
    error: ObmenError | None = None

    @property
    def ok(self) -> bool:
        """Whether the write was applied."""
        return self.error is None


@dataclass(frozen=True, slots=True)
class Change:
    """A notification that an object may have changed: a key, never a payload (ARCHITECTURE §2.1)."""

    entity: str
    external_id: str


@dataclass(frozen=True, slots=True)
class ChangePage:
    """Changes since a cursor, and the cursor to continue from."""

    changes: Sequence[Change]
    cursor: str | None
    more: bool = False


@dataclass(frozen=True, slots=True)
class ScanPage:
    """One page of every object id of an entity (the periodic full reconciliation walks these)."""

    external_ids: Sequence[str]
    cursor: str | None


@dataclass(frozen=True, slots=True)
class Capabilities:
    """What a system can do, declared once so the engine plans around it."""

    #: Entity type → the canonical fields this system carries for it.
    fields: Mapping[str, frozenset[str]]
    #: Entity types the system lets obmen create.
    creates: frozenset[str] = frozenset()
    #: How many objects one bulk call may carry.
    batch_size: int = 50
    #: The system pushes change notifications (webhooks, events).
    push: bool = False
    #: `changes(cursor)` works (polling or a mirror).
    poll: bool = True
    #: Extra per-system limits, free-form, shown by `obmen status`.
    notes: Mapping[str, str] = field(default_factory=dict)

    def carries(self, entity: str) -> bool:
        """Whether this system holds objects of `entity` at all."""
        return entity in self.fields


@runtime_checkable
class Connector(Protocol):
    """One external system as the engine sees it."""

    system: str
    capabilities: Capabilities

    async def fetch(self, entity: str, external_ids: Sequence[str]) -> Mapping[str, Remote]:
        """Read the current state of these objects; ids that no longer exist are absent from the result."""
        ...

    async def find_by_origin(self, entity: str, canonical_ids: Sequence[str]) -> Mapping[str, Remote]:
        """Find objects that an earlier `Create` stamped with these canonical ids."""
        ...

    async def match(self, entity: str, keys: Sequence[MatchKey]) -> Mapping[MatchKey, str]:
        """Return the external id of an existing object for each matching key that hits one."""
        ...

    async def write(self, ops: Sequence[WriteOp]) -> Sequence[WriteResult]:
        """Apply the writes in bulk; one result per op, in order, never raising for a single op."""
        ...

    async def changes(self, cursor: str | None, limit: int) -> ChangePage:
        """Objects that changed since `cursor` (at most `limit`)."""
        ...

    async def scan(self, entity: str, cursor: str | None, limit: int) -> ScanPage:
        """Every object id of `entity`, a page at a time."""
        ...
