"""The connector contract: the small seam between the sync engine and one external system.

A connector speaks its system's protocol and maps it to *canonical field maps*: flat dicts of JSON-safe
values (`obmen.model.fields`). The engine never sees wire formats and a `Connector` never sees the
store. The contract is bulk-first (docs/architecture.md §2.5): every call takes or returns many objects.

References to other objects travel as `{"$ref": entity, "id": external_id}` in the connector's own id
space; the engine translates them to canonical ids and back through the id map.

Creates are idempotent (docs/architecture.md §2.4): a `Create` carries the canonical id, the connector stamps
it
on the remote object where the system allows (`ORIGIN_ID`, `xmlId`, `Ид`), and `find_by_origin` finds an
object created by an attempt that crashed before obmen could record the link.

Each connector package has a `setup` that turns its typed settings into an `Integration`: the connector,
the web routes the system calls, the loops it needs and what to close. The application builds every
configured integration the same way and knows none of them by name.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from starlette.requests import Request
from starlette.routing import BaseRoute

from obmen.errors import ObmenError
from obmen.store.database import Database
from obmen.store.keeper import Leases
from obmen.store.state import JournalEntry

__all__ = [
    "BodyTooLarge",
    "Capabilities",
    "Change",
    "ChangePage",
    "Check",
    "Connector",
    "Create",
    "Fields",
    "Integration",
    "Loop",
    "MatchKey",
    "Remote",
    "RequestCounters",
    "Resolver",
    "ScanPage",
    "SetupContext",
    "Survey",
    "Update",
    "WriteOp",
    "WriteResult",
    "read_body",
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
    #: Fields the system cannot tell now (docs/architecture.md §2.12): field → what it holds instead (a
    #: stage no status maps to). They take no part in the merge, and the timeline shows them.
    unknown: Mapping[str, Any] = field(default_factory=dict)
    #: Values to create the object with elsewhere for fields no side tells (fallbacks apply to creates
    #: only, §2.12).
    fallbacks: Fields = field(default_factory=dict)
    #: Fields the system changed itself while obmen's change of them was on its way to it (a pull-only
    #: partner's upload): field → (the value it changed from, obmen's value it never saw). A `conflict`
    #: rule takes such a change as concurrent with obmen's (docs/architecture.md §2.11).
    contested: Mapping[str, tuple[Any, Any]] = field(default_factory=dict)


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
    #: What the object showed of those fields when obmen read it, in the connector's own terms: a
    #: connector that reads again before it writes leaves a fact the object changed meanwhile to the
    #: next round, rather than writing an older one over it (docs/architecture.md §2.11).
    read: Fields | None = None


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
    """A notification that an object may have changed: a key, never a payload (docs/architecture.md §2.1)."""

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
    #: Entity type → carried fields the system shows but obmen never writes to it: they reach the other
    #: systems when they change here, and another system's edit is not written back (§2.15).
    read_only: Mapping[str, frozenset[str]] = field(default_factory=dict)
    #: How many objects one bulk call may carry.
    batch_size: int = 50
    #: The system pushes change notifications (webhooks, events).
    push: bool = False
    #: `changes(cursor)` works (polling or a mirror).
    poll: bool = True
    #: Entity types whose keys point at other objects (a Bitrix24 invoice at its order): the connector is
    #: a `Resolver` and turns them into the keys they point at, off the request path (engine/aliases.py).
    resolves: frozenset[str] = frozenset()
    #: Entity types whose created objects carry no stamp: their ids are derived from the canonical id
    #: (1C's OData `Ref_Key`), so an unlinked one is looked up among the pending creates (§2.4).
    derived_ids: frozenset[str] = frozenset()
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


@runtime_checkable
class Resolver(Protocol):
    """A connector that resolves pointer keys (`Capabilities.resolves`) to the keys of their objects."""

    async def resolve(self, changes: Sequence[Change]) -> list[Change]:
        """The keys these changes stand for; a change that points at nothing (any more) gives none."""
        ...


#: A long-running task of an integration: `(stop, leases)`, returning when `stop` is set; `leases` are
#: the process's (store/keeper.py), for a loop that must run in one process only.
Loop = Callable[[asyncio.Event, Leases], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class RequestCounters:
    """What a remote client has sent since start (`/metrics`, the flows benchmark)."""

    requests: int
    commands: Mapping[str, int]
    echoes_dropped: int = 0


@dataclass(frozen=True, slots=True)
class Check:
    """One verdict of `obmen check` about a connected system: what was checked, what was found, what to do."""

    system: str
    #: What was checked, e.g. "auth / авторизация".
    name: str
    ok: bool
    #: What was found (a failure's reason, or the facts that passed).
    detail: str
    #: What the operator should do when it failed (Russian and English).
    fix: str = ""


@dataclass
class Survey:
    """One system's `obmen check`: the verdicts, and what the pass read of the system on the way (its
    facts for the dashboard's mapping page, obmen.store.facts; None when it read none to keep)."""

    checks: list[Check]
    facts: dict[str, Any] | None = None


@dataclass
class SetupContext:
    """What the application hands every integration it builds (docs/architecture.md §3)."""

    db: Database
    tenant: str
    state_dir: Path
    clock: Callable[[], float]
    #: Keys were committed by this process: wake the local workers.
    wake: Callable[[], None]
    #: A connector that became available after start (Bitrix24 once its application is installed).
    attach: Callable[[Connector], None]


@dataclass
class Integration:
    """One configured system in a running obmen: its connector, web routes, loops and what to close."""

    system: str
    #: None until the system can be reached (an application not yet installed).
    connector: Connector | None = None
    routes: Sequence[BaseRoute] = ()
    loops: Sequence[Loop] = ()
    closers: list[Callable[[], Awaitable[None]]] = field(default_factory=list)
    #: Told of every confirmed write of the engine (the site exchange runs at once for the site's).
    applied: Callable[[JournalEntry], None] | None = None
    #: The client's counters for `/metrics`, once there is a client.
    counters: Callable[[], RequestCounters] | None = None
    #: `obmen check`: verify the configuration against the real system, one `Check` per fact, with what
    #: the pass read of it (read once: kept as its facts, not read again).
    checks: Callable[[], Awaitable[Survey]] | None = None
    #: What the system has now that `[mapping]` names (stages, users, price types…), for the mapping page
    #: (obmen.store.facts): the dashboard's «Read now». None from the reader: nothing to read yet.
    facts: Callable[[], Awaitable[dict[str, Any] | None]] | None = None


class BodyTooLarge(ObmenError):
    """An inbound request body passed its cap; nothing more of it was read."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"request body larger than {limit} bytes / тело запроса больше {limit} байт")
        self.limit = limit


async def read_body(request: Request, limit: int) -> bytes:
    """The body of an inbound call, read while counting: `BodyTooLarge` once it passes `limit`.

    A declared `Content-Length` over the cap is refused before a byte is read; a chunked body is refused
    at the chunk that passes it, so an oversized upload costs at most `limit` bytes of memory.
    """
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise BodyTooLarge(limit)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge(limit)
        chunks.append(chunk)
    body = b"".join(chunks)
    request._body = body  # Starlette's cache: a later request.form() parses these bytes
    return body
