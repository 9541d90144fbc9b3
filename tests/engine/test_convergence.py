"""Convergence: whatever people do on three systems, and however badly the plumbing behaves, obmen ends
with every side agreeing as the policy says, nothing duplicated, and every write in the journal.

Hypothesis draws a script of actions: creates and edits on any side (from a small pool of e-mails, so
matching and look-alikes happen), notification deliveries through lossy, duplicating, reordering
knobs, worker runs that may crash right after a remote write (before the local commit), transient
failures, and time passing. Then the network heals, the periodic full resync runs, and the queue
drains. The invariants are checked against the fakes' own state and the store.
"""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from typing import Any

import sqlalchemy as sa
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from obmen.engine.context import Engine, EngineSettings
from obmen.engine.policy import Policy
from obmen.engine.scheduler import enqueue_changes, full_resync
from obmen.engine.worker import Worker, WorkerOptions
from obmen.store import tables
from obmen.store.database import Database
from obmen.testing.fakes import FakeSystem, Knobs, ManualClock, SimulatedCrash

SYSTEMS = ("onec", "site", "bitrix24")
FIELDS = {"counterparty": ["name", "emails", "comment", "status"]}
POLICY = {"counterparty.comment": "conflict", "counterparty.status": "owner:onec"}
EMAILS = ["a@x.ru", "b@x.ru", "c@x.ru", "d@x.ru"]
VALUES = {
    "name": st.sampled_from(["Иван", "Пётр", "ООО Ромашка", "Anna"]),
    "emails": st.lists(st.sampled_from(EMAILS), max_size=2, unique=True),
    "comment": st.sampled_from(["", "VIP", "звонить после 18", "долг"]),
    "status": st.sampled_from(["new", "active", "blocked"]),
}

system = st.sampled_from(SYSTEMS)
create = st.tuples(st.just("create"), system, st.fixed_dictionaries({}, optional=VALUES))
edit = st.tuples(st.just("edit"), system, st.integers(0, 20), st.sampled_from(sorted(VALUES)), st.data())
deliver = st.tuples(st.just("deliver"), system)
work = st.tuples(st.just("work"), st.integers(1, 3))
tick = st.tuples(st.just("tick"), st.sampled_from([1.0, 5.0, 61.0]))
action = st.one_of(create, edit, deliver, work, tick)
knobs = st.builds(
    Knobs,
    lose=st.sampled_from([0.0, 0.3, 1.0]),
    duplicate=st.sampled_from([0.0, 0.5]),
    reorder=st.booleans(),
    transient=st.sampled_from([0.0, 0.2, 0.5]),
    crash_after_write=st.sampled_from([0.0, 0.1, 0.3]),
)


class World:
    """Three fakes, one engine, and a crash-tolerant way to run workers."""

    def __init__(self, db: Database, faults: dict[str, Knobs], seed: int) -> None:
        self.clock = ManualClock()
        self.fakes = {
            name: FakeSystem(name, fields=FIELDS, clock=self.clock, knobs=faults[name], seed=seed + i)
            for i, name in enumerate(SYSTEMS)
        }
        settings = EngineSettings(
            batch_size=8, lease_seconds=30, max_attempts=1000, backoff_base=1, backoff_cap=20
        )
        self.engine = Engine(
            db=db, connectors=self.fakes, policy=Policy.build(POLICY), settings=settings, clock=self.clock
        )
        self.generation = 0

    async def run_worker(self, batches: int) -> None:
        self.generation += 1
        worker = Worker(self.engine, name=f"w{self.generation}", options=WorkerOptions(tenant_lease=False))
        try:
            for _ in range(batches):
                await worker.run_once()
        except SimulatedCrash:
            self.clock.advance(31)  # the crashed worker's leases run out; a new one takes over

    async def deliver(self, name: str) -> None:
        fake = self.fakes[name]
        await enqueue_changes(self.engine, name, fake.take_notifications(), trigger=f"{name}:push")

    async def apply(self, step: tuple[Any, ...]) -> None:
        kind = step[0]
        if kind == "create":
            self.clock.advance(0.5)
            self.fakes[step[1]].create("counterparty", step[2])
        elif kind == "edit":
            fake, index, name, data = self.fakes[step[1]], step[2], step[3], step[4]
            ids = sorted(fake.objects("counterparty"))
            if ids:
                self.clock.advance(0.5)
                fake.edit("counterparty", ids[index % len(ids)], **{name: data.draw(VALUES[name])})
        elif kind == "deliver":
            await self.deliver(step[1])
        elif kind == "work":
            await self.run_worker(step[1])
        else:
            self.clock.advance(step[1])

    async def quiesce(self) -> None:
        """The network heals; the safety net and the workers run until nothing is left to do."""
        for fake in self.fakes.values():
            fake.knobs.transient = fake.knobs.crash_after_write = 0.0
        await full_resync(self.engine)
        for _ in range(200):
            for name in SYSTEMS:
                await self.deliver(name)
            await self.run_worker(50)
            self.clock.advance(61)
            async with self.engine.db.begin() as conn:
                left = (
                    await conn.execute(sa.select(sa.func.count()).select_from(tables.work_items))
                ).scalar()
            if not left and not any(f.take_notifications() for f in self.fakes.values()):
                return
        raise AssertionError("the queue never drained")


async def _rows(db: Database, table: sa.Table) -> list[Any]:
    async with db.begin() as conn:
        return list((await conn.execute(sa.select(table))).all())


async def check(world: World) -> None:
    db = world.engine.db
    links = await _rows(db, tables.links)
    assert await _rows(db, tables.parked) == []
    by_cid: dict[str, dict[str, str]] = {}
    for link in links:
        by_cid.setdefault(link.canonical_id, {})[link.system] = link.external_id
    # No object exists twice: each canonical object is exactly one object in every system, and every
    # object of every system belongs to exactly one canonical object.
    assert all(len(systems) == len(SYSTEMS) for systems in by_cid.values()), (
        by_cid,
        await _rows(db, tables.journal),
    )
    for name, fake in world.fakes.items():
        linked = sorted(systems[name] for systems in by_cid.values())
        assert linked == sorted(fake.objects("counterparty")), name
    # Every side agrees field by field, except conflicting fields that are recorded for a person.
    open_conflicts = {
        (c.canonical_id, c.field) for c in await _rows(db, tables.conflicts) if c.resolved_at is None
    }
    for cid, systems in by_cid.items():
        views = {name: world.fakes[name].get("counterparty", x) or {} for name, x in systems.items()}
        for field in FIELDS["counterparty"]:
            values = {json.dumps(view.get(field), sort_keys=True) for view in views.values()}
            assert len(values) == 1 or (cid, field) in open_conflicts, (cid, field, views)
            if (cid, field) in open_conflicts:
                assert POLICY.get(f"counterparty.{field}") == "conflict"
    # The owner's field is never overwritten elsewhere: 1C never receives a status update.
    assert not [w for w in world.fakes["onec"].writes() if w["kind"] == "update" and "status" in w["fields"]]
    # The journal accounts for every write: it is written ahead, so every remote write has a row
    # (`applied`, or `planned` where a crash hid the outcome), and every `applied` row is a real write.
    # A `planned` row may also stand for a write that never happened (the crash came first).
    applied: Counter[tuple[str, str, str, str]] = Counter()
    journal: Counter[tuple[str, str, str, str]] = Counter()
    for row in await _rows(db, tables.journal):
        if row.action in ("create", "update") and row.status in ("applied", "planned"):
            ident = row.canonical_id if row.action == "create" else row.external_id
            journal[(row.target_system, row.action, ident, row.fields)] += 1
            if row.status == "applied":
                applied[(row.target_system, row.action, ident, row.fields)] += 1
    writes: Counter[tuple[str, str, str, str]] = Counter()
    for name, fake in world.fakes.items():
        for w in fake.writes():
            ident = w["canonical_id"] if w["kind"] == "create" else w["id"]
            fields = json.dumps(w["fields"], sort_keys=True, ensure_ascii=False, separators=(",", ":"))
            writes[(name, w["kind"], ident, fields)] += 1
    assert not writes - journal, "writes missing from the journal"
    assert not applied - writes, "journal rows marked applied that no system received"


async def scenario(url: str, faults: dict[str, Knobs], steps: list[tuple[Any, ...]], seed: int) -> None:
    db = Database.connect(url)
    try:
        async with db.begin() as conn:
            for table in reversed(tables.metadata.sorted_tables):
                await conn.execute(sa.delete(table))
        world = World(db, faults, seed)
        for step in steps:
            await world.apply(step)
        await world.quiesce()
        await check(world)
    finally:
        await db.close()


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
    ],
)
@given(
    faults=st.fixed_dictionaries(dict.fromkeys(SYSTEMS, knobs)),
    steps=st.lists(action, min_size=1, max_size=40),
    seed=st.integers(0, 1000),
)
@example(  # found by CI: a transient failure and a crash in one batch leave a `planned` row unsent
    faults={"onec": Knobs(), "site": Knobs(crash_after_write=0.1), "bitrix24": Knobs(transient=0.2)},
    steps=[("create", "onec", {}), ("deliver", "onec"), ("work", 1)],
    seed=257,
)
def test_three_systems_converge(
    database_url: str, faults: dict[str, Knobs], steps: list[Any], seed: int
) -> None:
    asyncio.run(scenario(database_url, faults, steps, seed))
