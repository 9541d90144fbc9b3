"""The engine's runtime context, and what one batch knows of its objects as its steps learn it.

The reconciler's steps (docs/architecture.md §2.1) are functions that return values: adoption gives each
item a canonical id or an outcome, planning gives each object a `Plan` or a wait, the write step gives
each `Write` its result, and the verdict is one `Outcome` per item (`engine.outcome`). What they share is
`Known`: the links, remote reads and bases of the batch's objects, filled by adoption and the read step
and only read after that.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from obmen.connectors.base import Connector, Remote, WriteOp
from obmen.engine.breaker import Breakers
from obmen.engine.merge import Conflict
from obmen.engine.policy import Policy
from obmen.store.database import Database
from obmen.store.state import JournalEntry

__all__ = ["Engine", "EngineSettings", "Known", "Observer", "Plan", "Write", "fetch_into"]


class Observer(Protocol):
    """Receives every applied write (the dashboard's "recent propagations", metrics)."""

    def applied(self, entry: JournalEntry, *, enqueued_at: float | None, now: float) -> None:
        """Called once per write that the remote confirmed."""
        ...


@dataclass(frozen=True, slots=True)
class EngineSettings:
    """Tunables of the reconcile loop (validated by `obmen.config.settings`)."""

    batch_size: int = 100
    lease_seconds: float = 15.0
    max_attempts: int = 8
    backoff_base: float = 1.0
    backoff_cap: float = 300.0
    #: How soon to come back to an object that waits for a referenced object to be linked or created.
    ref_retry_delay: float = 0.5
    #: How long an object may wait for a referenced object before it is parked (docs/architecture.md §2.14).
    max_wait: float = 86400.0
    #: A refusing system is probed after `probe_first` seconds, then twice as long each time up to
    #: `probe_cap` (docs/architecture.md §2.13).
    probe_first: float = 60.0
    probe_cap: float = 1800.0


@dataclass(slots=True)
class Engine:
    """Everything a reconcile needs: the store, the connectors, the policy, the clock."""

    db: Database
    connectors: Mapping[str, Connector]
    policy: Policy
    tenant: str = "default"
    settings: EngineSettings = field(default_factory=EngineSettings)
    clock: Callable[[], float] = time.time
    observer: Observer | None = None
    #: One circuit breaker per remote system (engine/breaker.py).
    breakers: Breakers = field(init=False)

    def __post_init__(self) -> None:
        s = self.settings
        self.breakers = Breakers(self.db, self.tenant, clock=self.clock, first=s.probe_first, cap=s.probe_cap)

    def needs(self, entity: str, systems: Sequence[str | None] = ()) -> set[str]:
        """The systems a batch of `entity` calls: those carrying it, and those its keys come from."""
        return {*self.carriers(entity), *(s for s in systems if s is not None and s in self.connectors)}

    def carriers(self, entity: str) -> list[str]:
        """Systems that hold objects of `entity`, in a stable order."""
        return sorted(name for name, c in self.connectors.items() if c.capabilities.carries(entity))

    def carried(self, system: str, entity: str) -> frozenset[str]:
        """The fields `system` carries for `entity`."""
        return self.connectors[system].capabilities.fields.get(entity, frozenset())

    def read_only(self, system: str, entity: str) -> frozenset[str]:
        """What `system` shows of `entity` but obmen never writes there (docs/architecture.md §2.15)."""
        return self.connectors[system].capabilities.read_only.get(entity, frozenset())


@dataclass(frozen=True, slots=True)
class Write:
    """One planned write: `n` numbers it within its batch (its journal row and result are found by it)."""

    n: int
    system: str
    op: WriteOp
    entry: JournalEntry


@dataclass(slots=True)
class Plan:
    """What the merge decided for one object: the agreed target and the writes that bring it about."""

    canonical_id: str
    target: dict[str, Any]
    writes: list[Write] = field(default_factory=list)
    conflicts: list[Conflict] = field(default_factory=list)
    settled: list[str] = field(default_factory=list)
    #: Read the object again once these writes land: they complete it, and the other systems get it then.
    read_back: bool = False
    #: What each side showed of the facts and could not tell, kept with the base (store `bases.sides`).
    sides: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class Known:
    """What one batch of one entity type knows of its objects: links, remote reads, bases."""

    entity: str
    #: canonical id → {system: external id}; includes links made during this batch.
    links: dict[str, dict[str, str]] = field(default_factory=dict)
    #: links made during this batch, to store in the write-ahead transaction.
    new_links: list[tuple[str, str, str]] = field(default_factory=list)
    #: link journal entries (matches, recoveries).
    link_journal: list[JournalEntry] = field(default_factory=list)
    #: (system, external id) → the remote object as read in this batch.
    remotes: dict[tuple[str, str], Remote] = field(default_factory=dict)
    bases: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: canonical id → the sides' bookkeeping stored with its base (`Plan.sides` of the last merge).
    sides: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: (canonical id, field) pairs that had an open conflict when the batch was read.
    open_conflicts: set[tuple[str, str]] = field(default_factory=set)
    #: canonical id → {field: value} a person decided for an open conflict (engine/merge.py applies it).
    decided: dict[str, dict[str, Any]] = field(default_factory=dict)

    def link(self, cid: str, system: str, external_id: str, *, journal: JournalEntry | None = None) -> None:
        """Link an object in this batch (stored with the write-ahead transaction)."""
        self.links.setdefault(cid, {})[system] = external_id
        self.new_links.append((cid, system, external_id))
        if journal is not None:
            self.link_journal.append(journal)

    def owner_of(self, system: str, external_id: str) -> str | None:
        """The canonical id an external object is linked to within this batch, if any."""
        for cid, systems in self.links.items():
            if systems.get(system) == external_id:
                return cid
        return None


async def fetch_into(engine: Engine, known: Known, system: str, external_ids: Sequence[str]) -> None:
    """Read objects of one system into `known`, in chunks of the system's batch size."""
    connector = engine.connectors[system]
    wanted = [x for x in dict.fromkeys(external_ids) if (system, x) not in known.remotes]
    size = max(1, connector.capabilities.batch_size)
    for start in range(0, len(wanted), size):
        found = await connector.fetch(known.entity, wanted[start : start + size])
        for external_id, remote in found.items():
            known.remotes[(system, external_id)] = remote
