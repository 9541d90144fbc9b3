"""The scheduler keeps the change feeds' checkpoints it committed while it holds its lease: a round that
finds nothing new sends no statement, and a lease that lapsed reads them again (issue 14)."""

from __future__ import annotations

import sqlalchemy as sa

from obmen.engine.context import Engine, EngineSettings
from obmen.engine.policy import Policy
from obmen.engine.scheduler import Scheduler, poll_changes
from obmen.store import state, tables
from obmen.store.database import Database
from obmen.store.keeper import Leases
from obmen.testing.fakes import FakeSystem, ManualClock

FIELDS = {"order": ["number"]}


def _engine(db: Database, clock: ManualClock) -> tuple[Engine, FakeSystem]:
    site = FakeSystem("site", fields=FIELDS, clock=clock, seed=1)
    settings = EngineSettings(batch_size=50, lease_seconds=30, max_attempts=3, backoff_base=1, backoff_cap=10)
    engine = Engine(db=db, connectors={"site": site}, policy=Policy.build({}), settings=settings, clock=clock)
    return engine, site


async def _queued(db: Database) -> list[str]:
    async with db.begin() as conn:
        rows = await conn.execute(sa.select(tables.work_items.c.external_id).order_by(tables.work_items.c.id))
    return [str(r[0]) for r in rows]


async def test_an_idle_round_sends_no_statement_once_the_checkpoint_is_known(db: Database) -> None:
    clock = ManualClock()
    engine, site = _engine(db, clock)
    leases = Leases(db, "w", ttl=3600, clock=clock)  # long: no heartbeat runs here to renew it
    scheduler = Scheduler(engine, leases=leases, poll_interval=5, resync_interval=1e9)
    site.create("order", {"number": "1"})
    await scheduler.tick()  # the lease, the resync, the first poll
    clock.advance(5)
    await scheduler.tick()
    sent: list[str] = []
    sa.event.listen(db.engine.sync_engine, "before_cursor_execute", lambda *a: sent.append(a[2]))
    for _ in range(5):
        clock.advance(5)
        await scheduler.tick()
    assert site.requests >= 7
    # Each round asked the feed, and the store nothing of its checkpoint (the breakers' read is theirs).
    assert not [s for s in sent if s.startswith("SELECT cursors.value") or "INTO cursors" in s]
    second = site.create("order", {"number": "2"})
    clock.advance(5)
    await scheduler.tick()
    assert (await _queued(db))[-1] == second
    async with db.begin() as conn:
        assert await state.get_cursor(conn, engine.tenant, "site:changes") == "2"


async def test_a_lapsed_lease_reads_the_checkpoint_another_holder_moved(db: Database) -> None:
    clock = ManualClock()
    engine, site = _engine(db, clock)
    scheduler = Scheduler(
        engine, leases=Leases(db, "w", ttl=30, clock=clock), poll_interval=5, resync_interval=1e9
    )
    site.create("order", {"number": "1"})
    await scheduler.tick()
    clock.advance(31)  # this process stalled past its lease; another took the scheduler's over and polled
    other = Scheduler(
        engine, leases=Leases(db, "w2", ttl=30, clock=clock), poll_interval=5, resync_interval=1e9
    )
    site.create("order", {"number": "2"})
    await other.tick()
    async with db.begin() as conn:
        await conn.execute(sa.delete(tables.work_items))
    clock.advance(31)  # and lapsed in its turn
    await scheduler.tick()
    assert await _queued(db) == []  # order 2 was the other's to enqueue: not read again from a stale cursor
    third = site.create("order", {"number": "3"})
    clock.advance(5)
    await scheduler.tick()
    assert await _queued(db) == [third]


async def test_a_poll_without_the_scheduler_reads_the_checkpoint_from_the_store(db: Database) -> None:
    clock = ManualClock()
    engine, site = _engine(db, clock)
    site.create("order", {"number": "1"})
    assert await poll_changes(engine, "site") == 1
    before = db.statements
    assert await poll_changes(engine, "site") == 0
    assert db.statements == before + 1  # the checkpoint's read, nothing written
