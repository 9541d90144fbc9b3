"""The progress of a load (`obmen sync --full`, `obmen sync KEY…`), kept in the store so any process shows it.

A load is a row of `cursors` under `progress:<name>` holding JSON: the entities it covers, when it began,
how many keys it has enqueued so far and whether enqueueing is over. What is *done* is read from the
queue: the keys of those entities still waiting or running are what is left (the workers that reconcile
them may run in other processes). Keys of the same entities that arrive meanwhile from webhooks or polls
count as left too, which errs on the side of a later ETA, never an early "done".
"""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from obmen.store.database import Database
from obmen.store.state import cursors_under, set_cursor
from obmen.store.tables import work_items

__all__ = ["PREFIX", "Load", "loads_of", "queue_counts", "read_loads", "save_load"]

PREFIX = "progress:"


@dataclass(frozen=True, slots=True)
class Load:
    """One load: what it enqueued, and what of it is left in the queue."""

    name: str
    entities: tuple[str, ...]
    started_at: float
    #: Keys enqueued so far (grows while `scanning`).
    total: int
    #: Still enqueueing (the systems are being scanned).
    scanning: bool
    #: Items of the load's entities waiting or running now.
    left: int = 0
    updated_at: float = 0.0

    @property
    def done(self) -> int:
        """Keys reconciled so far."""
        return max(0, self.total - min(self.left, self.total))

    @property
    def finished(self) -> bool:
        """Everything enqueued, and nothing of it left."""
        return not self.scanning and self.done >= self.total

    def rate(self, now: float) -> float:
        """Keys reconciled per second since the load began."""
        elapsed = max(now - self.started_at, 1e-6)
        return self.done / elapsed

    def eta(self, now: float) -> float | None:
        """Seconds until done at the rate so far; None before anything is done (or while scanning)."""
        if self.finished:
            return 0.0
        rate = self.rate(now)
        return (self.total - self.done) / rate if rate > 0 and not self.scanning else None

    def as_json(self, now: float) -> dict[str, Any]:
        """The load as `/api/progress` and `obmen sync` show it."""
        eta = self.eta(now)
        return {
            "name": self.name,
            "entities": list(self.entities),
            "started_at": self.started_at,
            "total": self.total,
            "done": self.done,
            "left": self.total - self.done,
            "scanning": self.scanning,
            "finished": self.finished,
            "rate": round(self.rate(now), 3),
            "eta_seconds": None if eta is None else round(eta, 1),
        }


async def queue_counts(conn: AsyncConnection, tenant: str) -> dict[tuple[str, str], int]:
    """Work items by (entity, state)."""
    w = work_items.c
    rows = await conn.execute(
        sa.select(w.entity, w.state, sa.func.count()).where(w.tenant == tenant).group_by(w.entity, w.state)
    )
    return {(r[0], r[1]): int(r[2]) for r in rows}


async def save_load(db: Database, tenant: str, load: Load, *, now: float) -> None:
    """Record (or update) a load's row."""
    value = {
        "entities": list(load.entities),
        "started_at": load.started_at,
        "total": load.total,
        "scanning": load.scanning,
    }
    async with db.begin() as conn:
        await set_cursor(conn, tenant, PREFIX + load.name, json.dumps(value), now=now)


def loads_of(
    rows: Mapping[str, tuple[str | None, float]], queue: Mapping[tuple[str, str], int]
) -> list[Load]:
    """Loads from their `cursors` rows and the queue's (entity, state) → count, newest first."""
    out: list[Load] = []
    for source, (value, updated_at) in rows.items():
        if not source.startswith(PREFIX):
            continue
        try:
            data = json.loads(value or "{}")
            entities = tuple(str(e) for e in data["entities"])
            started, total, scanning = float(data["started_at"]), int(data["total"]), bool(data["scanning"])
        except (ValueError, KeyError, TypeError):
            continue  # a row this code did not write: not a load
        left = sum(n for (entity, _), n in queue.items() if not entities or entity in entities)
        name = source[len(PREFIX) :]
        out.append(Load(name, entities, started, total, scanning, left, updated_at))
    return sorted(out, key=lambda load: load.started_at, reverse=True)


async def read_loads(db: Database, tenant: str, *, names: Collection[str] | None = None) -> list[Load]:
    """Every recorded load (or those named), with what is left of each."""
    async with db.begin() as conn:
        rows = await cursors_under(conn, tenant, PREFIX)
        queue = await queue_counts(conn, tenant)
    found = loads_of(rows, queue)
    return [load for load in found if names is None or load.name in names]
