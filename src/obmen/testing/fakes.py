"""An in-memory fake system that implements the connector contract, with knobs for misbehaviour.

Like procrastinate's `InMemoryConnector`, it ships in the package so that the engine's tests, the
benchmarks and integrators' own tests can use it. People "use" the fake through `create` / `edit`,
which record a change (for `changes`) and a push notification (for `take_notifications`); obmen's
own writes do the same, so echoes happen exactly as in a real system.

Knobs (`Knobs`): lost, duplicated and reordered push notifications; transient and permanent write
failures; a crash *after* the remote write and before obmen hears back (`SimulatedCrash` is a
`BaseException`, so it escapes the engine like a killed process would); latency; `refuse`, the whole
system refusing every call (`AccessRefused`: its breaker opens, docs/architecture.md §2.13).

State lives in SQLite (the standard library's `sqlite3`): `:memory:` by default, or a file shared by
several worker processes in the scale-out tests.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import sqlite3
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from obmen.connectors.base import (
    Capabilities,
    Change,
    ChangePage,
    Create,
    MatchKey,
    Remote,
    ScanPage,
    WriteOp,
    WriteResult,
)
from obmen.errors import AccessRefused, NotFound, PermanentError, TransientError

__all__ = ["FakeSystem", "Knobs", "ManualClock", "SimulatedCrash"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS objects (entity TEXT, id TEXT, origin TEXT, modified REAL, fields TEXT,
                                    PRIMARY KEY (entity, id));
CREATE TABLE IF NOT EXISTS changes (seq INTEGER PRIMARY KEY AUTOINCREMENT, entity TEXT, id TEXT);
CREATE TABLE IF NOT EXISTS pushed (seq INTEGER PRIMARY KEY AUTOINCREMENT, entity TEXT, id TEXT);
CREATE TABLE IF NOT EXISTS writes (seq INTEGER PRIMARY KEY AUTOINCREMENT, kind TEXT, entity TEXT,
                                   id TEXT, canonical_id TEXT, fields TEXT);
CREATE TABLE IF NOT EXISTS ids (n INTEGER PRIMARY KEY AUTOINCREMENT, system TEXT);
CREATE INDEX IF NOT EXISTS objects_origin ON objects (entity, origin);
CREATE TABLE IF NOT EXISTS matches (entity TEXT, name TEXT, value TEXT, id TEXT);
CREATE INDEX IF NOT EXISTS matches_value ON matches (entity, name, value, id);
CREATE INDEX IF NOT EXISTS matches_id ON matches (entity, id);
"""


class SimulatedCrash(BaseException):
    """The process "died" right after a remote write succeeded."""


@dataclass(slots=True)
class Knobs:
    """How badly the fake behaves; rates are probabilities per notification or per write call."""

    lose: float = 0.0
    duplicate: float = 0.0
    reorder: bool = False
    transient: float = 0.0
    permanent_ids: set[str] = field(default_factory=set)
    crash_after_write: float = 0.0
    latency: float = 0.0
    #: Every call is refused with this reason, as a portal on a plan without REST refuses.
    refuse: str | None = None


class FakeSystem:
    """A system holding objects as canonical field maps."""

    def __init__(
        self,
        system: str,
        *,
        fields: Mapping[str, Iterable[str]],
        creates: Iterable[str] | None = None,
        batch_size: int = 50,
        knobs: Knobs | None = None,
        seed: int = 0,
        clock: Callable[[], float] = time.time,
        path: str = ":memory:",
        overlaps: str | None = None,
    ) -> None:
        self.system = system
        carried = {entity: frozenset(names) for entity, names in fields.items()}
        self.capabilities = Capabilities(
            fields=carried,
            creates=frozenset(carried if creates is None else creates),
            batch_size=batch_size,
            push=True,
            poll=True,
        )
        self.knobs = knobs or Knobs()
        self.rng = random.Random(seed)
        self.clock = clock
        self.calls = {"fetch": 0, "write": 0, "match": 0}
        #: Every contract call made, refused or not (the breaker's tests count them).
        self.requests = 0
        #: A directory shared by processes: two fetches of one object at once leave a record there.
        self.overlaps = Path(overlaps) if overlaps else None
        self._db = sqlite3.connect(path, timeout=30, isolation_level=None, check_same_thread=False)
        self._db.executescript(_SCHEMA)

    # --- what people do in the system -----------------------------------------------------------

    def _new_id(self) -> str:
        cursor = self._db.execute("INSERT INTO ids (system) VALUES (?)", (self.system,))
        return f"{self.system[:1]}{cursor.lastrowid}"

    def _touch(self, entity: str, external_id: str) -> None:
        self._db.execute("INSERT INTO changes (entity, id) VALUES (?, ?)", (entity, external_id))
        self._db.execute("INSERT INTO pushed (entity, id) VALUES (?, ?)", (entity, external_id))

    def create(self, entity: str, fields: Mapping[str, Any], *, origin: str | None = None) -> str:
        """Create an object as a person would; returns its id."""
        external_id = self._new_id()
        self._db.execute(
            "INSERT INTO objects VALUES (?, ?, ?, ?, ?)",
            (entity, external_id, origin, self.clock(), json.dumps(dict(fields), sort_keys=True)),
        )
        self._index(entity, external_id, fields)
        self._touch(entity, external_id)
        return external_id

    def edit(self, entity: str, external_id: str, **changes: Any) -> None:
        """Change fields of an object as a person would."""
        current = self.get(entity, external_id)
        if current is None:
            raise KeyError(f"{self.system} has no {entity} {external_id}")
        current.update(changes)
        self._db.execute(
            "UPDATE objects SET fields = ?, modified = ? WHERE entity = ? AND id = ?",
            (json.dumps(current, sort_keys=True), self.clock(), entity, external_id),
        )
        self._index(entity, external_id, current)
        self._touch(entity, external_id)

    def _index(self, entity: str, external_id: str, fields: Mapping[str, Any]) -> None:
        """What `match` finds an object by: each text field, and each text element of a list field."""
        self._db.execute("DELETE FROM matches WHERE entity = ? AND id = ?", (entity, external_id))
        rows = [
            (entity, name, text, external_id)
            for name, value in fields.items()
            for text in ([value] if isinstance(value, str) else value if isinstance(value, list) else ())
            if isinstance(text, str)
        ]
        self._db.executemany("INSERT INTO matches VALUES (?, ?, ?, ?)", rows)

    def get(self, entity: str, external_id: str) -> dict[str, Any] | None:
        """The fields of one object, or None."""
        row = self._db.execute(
            "SELECT fields FROM objects WHERE entity = ? AND id = ?", (entity, external_id)
        ).fetchone()
        return None if row is None else dict(json.loads(row[0]))

    def objects(self, entity: str) -> dict[str, dict[str, Any]]:
        """Every object of `entity`: id → fields."""
        rows = self._db.execute("SELECT id, fields FROM objects WHERE entity = ?", (entity,))
        return {r[0]: json.loads(r[1]) for r in rows}

    def origins(self, entity: str) -> dict[str, str | None]:
        """Every object of `entity`: id → the canonical id an obmen create stamped on it."""
        rows = self._db.execute("SELECT id, origin FROM objects WHERE entity = ?", (entity,))
        return {r[0]: r[1] for r in rows}

    def writes(self) -> list[dict[str, Any]]:
        """Every write obmen made, in order."""
        rows = self._db.execute("SELECT kind, entity, id, canonical_id, fields FROM writes ORDER BY seq")
        return [
            {"kind": r[0], "entity": r[1], "id": r[2], "canonical_id": r[3], "fields": json.loads(r[4])}
            for r in rows
        ]

    def take_notifications(self) -> list[Change]:
        """The push notifications since the last call, after the loss/duplication/reorder knobs."""
        rows = self._db.execute("SELECT seq, entity, id FROM pushed ORDER BY seq").fetchall()
        if rows:
            self._db.execute("DELETE FROM pushed WHERE seq <= ?", (rows[-1][0],))
        out: list[Change] = []
        for _, entity, external_id in rows:
            if self.rng.random() < self.knobs.lose:
                continue
            out.append(Change(entity, external_id))
            if self.rng.random() < self.knobs.duplicate:
                out.append(Change(entity, external_id))
        if self.knobs.reorder:
            self.rng.shuffle(out)
        return out

    # --- the connector contract -----------------------------------------------------------------

    async def _pause(self) -> None:
        if self.knobs.latency:
            await asyncio.sleep(self.knobs.latency)

    def _call(self) -> None:
        """Count a contract call; refuse it when the whole system refuses."""
        self.requests += 1
        if self.knobs.refuse is not None:
            raise AccessRefused(
                f"{self.system}: {self.knobs.refuse}", system=self.system, reason=self.knobs.refuse
            )

    def _remote(self, row: Sequence[Any]) -> Remote:
        entity, external_id, origin, modified, fields = row
        return Remote(entity, external_id, json.loads(fields), modified_at=modified, origin=origin)

    def _hold(self, entity: str, external_ids: Sequence[str]) -> list[Path]:
        """Mark objects as being read; a mark already held by another process is an overlap."""
        assert self.overlaps is not None
        held = self.overlaps / ".held"
        held.mkdir(parents=True, exist_ok=True)
        marks: list[Path] = []
        for external_id in external_ids:
            mark = held / f"{self.system}-{entity}-{external_id}"
            try:
                os.close(os.open(mark, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
                marks.append(mark)
            except FileExistsError:
                (self.overlaps / f"{mark.name}-{os.getpid()}-{time.time_ns()}").touch()
        return marks

    async def fetch(self, entity: str, external_ids: Sequence[str]) -> Mapping[str, Remote]:
        """Read objects by id."""
        self._call()
        self.calls["fetch"] += 1
        marks = self._hold(entity, external_ids) if self.overlaps else []
        try:
            await self._pause()
        finally:
            for mark in marks:
                mark.unlink(missing_ok=True)
        places = ",".join("?" * len(external_ids))
        rows = self._db.execute(
            f"SELECT * FROM objects WHERE entity = ? AND id IN ({places})",  # noqa: S608 - placeholders only
            (entity, *external_ids),
        )
        return {row[1]: self._remote(row) for row in rows}

    async def find_by_origin(self, entity: str, canonical_ids: Sequence[str]) -> Mapping[str, Remote]:
        """Objects stamped with these canonical ids."""
        self._call()
        marks = ",".join("?" * len(canonical_ids))
        rows = self._db.execute(
            f"SELECT * FROM objects WHERE entity = ? AND origin IN ({marks})",  # noqa: S608
            (entity, *canonical_ids),
        )
        return {row[2]: self._remote(row) for row in rows}

    async def match(self, entity: str, keys: Sequence[MatchKey]) -> Mapping[MatchKey, str]:
        """The first object (lowest id) whose field equals, or list field contains, each key's value."""
        self._call()
        self.calls["match"] += 1
        out: dict[MatchKey, str] = {}
        for name, value in keys:
            # An index of the fields (`_index`) instead of a JSON scan of every object per key: a large
            # catalog matched against a full-table scan is quadratic, which no real system is.
            row = self._db.execute(
                "SELECT id FROM matches WHERE entity = ? AND name = ? AND value = ? ORDER BY id LIMIT 1",
                (entity, name, value),
            ).fetchone()
            if row is not None:
                out[(name, value)] = row[0]
        return out

    def _apply(self, op: WriteOp) -> str:
        if isinstance(op, Create):
            external_id = self.create(op.entity, op.fields, origin=op.canonical_id)
            kind, cid = "create", op.canonical_id
        else:
            if op.external_id in self.knobs.permanent_ids:
                raise PermanentError(f"{self.system} refuses to change {op.entity} {op.external_id}")
            if self.get(op.entity, op.external_id) is None:
                raise NotFound(f"{self.system} has no {op.entity} {op.external_id}")
            self.edit(op.entity, op.external_id, **op.fields)
            external_id, kind, cid = op.external_id, "update", None
        self._db.execute(
            "INSERT INTO writes (kind, entity, id, canonical_id, fields) VALUES (?, ?, ?, ?, ?)",
            (kind, op.entity, external_id, cid, json.dumps(dict(op.fields), sort_keys=True)),
        )
        return external_id

    async def write(self, ops: Sequence[WriteOp]) -> Sequence[WriteResult]:
        """Apply writes; a transient failure fails the whole call, as a 503 would."""
        self._call()
        self.calls["write"] += 1
        await self._pause()
        if self.rng.random() < self.knobs.transient:
            raise TransientError(f"{self.system} answered 503")
        results = []
        for op in ops:
            try:
                results.append(WriteResult(op, external_id=self._apply(op)))
            except (PermanentError, TransientError) as exc:
                results.append(WriteResult(op, error=exc))
        if ops and self.rng.random() < self.knobs.crash_after_write:
            raise SimulatedCrash(f"crash after writing {len(ops)} objects to {self.system}")
        return results

    async def changes(self, cursor: str | None, limit: int) -> ChangePage:
        """The reliable change log after `cursor`."""
        self._call()
        rows = self._db.execute(
            "SELECT seq, entity, id FROM changes WHERE seq > ? ORDER BY seq LIMIT ?",
            (int(cursor or 0), limit),
        ).fetchall()
        last = str(rows[-1][0]) if rows else cursor
        return ChangePage([Change(r[1], r[2]) for r in rows], last, more=len(rows) == limit)

    async def scan(self, entity: str, cursor: str | None, limit: int) -> ScanPage:
        """Every object id of `entity`, in id order."""
        self._call()
        rows = self._db.execute(
            "SELECT id FROM objects WHERE entity = ? AND id > ? ORDER BY id LIMIT ?",
            (entity, cursor or "", limit),
        ).fetchall()
        ids = [r[0] for r in rows]
        return ScanPage(ids, ids[-1] if len(ids) == limit else None)

    def close(self) -> None:
        """Close the backing database."""
        self._db.close()


class ManualClock:
    """A clock that moves only when told to: backoff, leases and newest-wins without sleeping."""

    def __init__(self, start: float = 1_700_000_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> float:
        """Move forward and return the new time."""
        self.now += seconds
        return self.now
