"""The engine's runtime context and the per-batch working set shared by the reconciler's steps."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from obmen.connectors.base import Connector, Remote, WriteOp
from obmen.store.database import Database
from obmen.store.queue import Claimed, NewItem
from obmen.store.state import JournalEntry
from obmen.sync.merge import Conflict
from obmen.sync.policy import Policy

__all__ = ["Batch", "Engine", "EngineSettings", "Observer", "Plan", "fetch_into"]


class Observer(Protocol):
    """Receives every applied write (the dashboard's "recent propagations", metrics)."""

    def applied(self, entry: JournalEntry, *, enqueued_at: float | None, now: float) -> None:
        """Called once per write that the remote confirmed."""
        ...


@dataclass(frozen=True, slots=True)
class EngineSettings:
    """Tunables of the reconcile loop (validated by `obmen.config`)."""

    batch_size: int = 100
    lease_seconds: float = 60.0
    max_attempts: int = 8
    backoff_base: float = 1.0
    backoff_cap: float = 300.0
    #: How soon to come back to an object that waits for a referenced object to be linked or created.
    ref_retry_delay: float = 0.5


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

    def carriers(self, entity: str) -> list[str]:
        """Systems that hold objects of `entity`, in a stable order."""
        return sorted(name for name, c in self.connectors.items() if c.capabilities.carries(entity))

    def carried(self, system: str, entity: str) -> frozenset[str]:
        """The fields `system` carries for `entity`."""
        return self.connectors[system].capabilities.fields.get(entity, frozenset())


@dataclass(slots=True)
class Plan:
    """Writes decided for one object, before they are sent."""

    canonical_id: str
    ops: list[tuple[str, WriteOp, JournalEntry]] = field(default_factory=list)
    target: dict[str, Any] = field(default_factory=dict)
    conflicts: list[Conflict] = field(default_factory=list)
    settled: list[str] = field(default_factory=list)
    #: Read the object again once these writes land: they complete it, and the other systems get it then.
    read_back: bool = False


@dataclass(slots=True)
class Batch:
    """The working set of one claimed batch of one entity type."""

    entity: str
    items: list[Claimed]
    #: canonical id → {system: external id}; includes links made during this batch.
    links: dict[str, dict[str, str]] = field(default_factory=dict)
    #: links made during this batch, to store in the write-ahead transaction.
    new_links: list[tuple[str, str, str]] = field(default_factory=list)
    #: link journal entries (matches, recoveries).
    link_journal: list[JournalEntry] = field(default_factory=list)
    #: (system, external id) → the remote object as read in this batch.
    remotes: dict[tuple[str, str], Remote] = field(default_factory=dict)
    #: work item id → canonical id, once known.
    item_cid: dict[int, str] = field(default_factory=dict)
    #: work item ids that are done without any write (the object vanished before we read it).
    vanished: set[int] = field(default_factory=set)
    #: canonical id → why it must wait (unresolved references), with the keys to enqueue for it.
    waiting: dict[str, str] = field(default_factory=dict)
    #: work item id → why it must come back later without being reconciled now.
    waiting_items: dict[int, str] = field(default_factory=dict)
    follow_ups: list[NewItem] = field(default_factory=list)
    plans: dict[str, Plan] = field(default_factory=dict)
    bases: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: (canonical id, field) pairs that had an open conflict when the batch was read.
    open_conflicts: set[tuple[str, str]] = field(default_factory=set)

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


async def fetch_into(engine: Engine, batch: Batch, system: str, external_ids: Sequence[str]) -> None:
    """Read objects of one system into the batch, in chunks of the system's batch size."""
    connector = engine.connectors[system]
    wanted = [x for x in dict.fromkeys(external_ids) if (system, x) not in batch.remotes]
    size = max(1, connector.capabilities.batch_size)
    for start in range(0, len(wanted), size):
        found = await connector.fetch(batch.entity, wanted[start : start + size])
        for external_id, remote in found.items():
            batch.remotes[(system, external_id)] = remote
