"""Named leases follow liveness: a dead holder's lease is taken over after its ttl, a live holder's is
kept by the heartbeat however long its round lasts, and a loop that stops moving shows as stalled."""

from __future__ import annotations

import asyncio

from obmen.store import state
from obmen.store.database import Database
from obmen.store.keeper import STALL_TTLS, Leases, lease_rows
from obmen.testing.fakes import ManualClock

TTL = 15.0
NAME = "site-exchange:default"


async def test_a_dead_holders_lease_is_taken_over_after_its_ttl(db: Database) -> None:
    async with db.begin() as conn:
        assert await state.acquire_lease(conn, NAME, "host:1:aaaaaa", ttl=TTL, now=1000)
        # Renewed by its holder: still held since the first take.
        assert await state.acquire_lease(conn, NAME, "host:1:aaaaaa", ttl=TTL, now=1010)
        # A restarted process is another holder: it waits for the lease to lapse, not longer.
        assert not await state.acquire_lease(conn, NAME, "host:2:bbbbbb", ttl=TTL, now=1020)
        assert await state.acquire_lease(conn, NAME, "host:2:bbbbbb", ttl=TTL, now=1026)
        [row] = await lease_rows(conn, "default", now=1027)
    assert (row["holder"], row["since"], row["expires_at"], row["state"]) == (
        "host:2:bbbbbb",
        1026,
        1041,
        "held",
    )


async def _round(done: asyncio.Event) -> None:
    await done.wait()


async def test_a_live_holders_lease_is_kept_by_its_heartbeat_beyond_its_ttl(db: Database) -> None:
    clock = ManualClock()
    first, second = (
        Leases(db, "host:1:aaaaaa", ttl=TTL, clock=clock),
        Leases(db, "host:2:bbbbbb", ttl=TTL, clock=clock),
    )
    done = asyncio.Event()
    holding = asyncio.create_task(_round(done))
    lease = first.lease(NAME)
    lease.bind(holding)
    assert await lease.hold()
    # A long round: ten ttls, the heartbeat beating every third of one.
    for _ in range(30):
        clock.advance(TTL / 3)
        await first.beat()
        assert lease.held
        assert not await second.lease(NAME).hold()
    done.set()
    await holding
    # The round's loop has ended without letting go (it died): the heartbeat stops, the lease lapses.
    clock.advance(TTL / 3)
    await first.beat()
    assert not await second.lease(NAME).hold()
    clock.advance(TTL)
    assert await second.lease(NAME).hold()
    await first.beat()
    assert not lease.held


async def test_the_heartbeat_task_renews_in_real_time_and_releases_on_stop(db: Database) -> None:
    ttl = 1.2  # beats every 0.4 s: room for a busy machine, still three ttls in under four seconds
    first, second = Leases(db, "host:1:aaaaaa", ttl=ttl), Leases(db, "host:2:bbbbbb", ttl=ttl)
    stop, done = asyncio.Event(), asyncio.Event()
    keeper = asyncio.create_task(first.run(stop))

    async def long_round() -> None:
        assert await first.lease(NAME).hold()
        await done.wait()
        await first.lease(NAME).release()

    holding = asyncio.create_task(long_round())
    await asyncio.sleep(0.05)
    for _ in range(6):  # three ttls
        await asyncio.sleep(ttl / 2)
        assert not await second.lease(NAME).hold()
    stop.set()
    await asyncio.sleep(0.1)
    assert not keeper.done()  # the round still holds its lease: the keeper keeps beating for it
    done.set()
    await asyncio.wait_for(asyncio.gather(holding, keeper), timeout=ttl)
    assert await second.lease(NAME).hold()  # released, so taken at once


async def test_a_loop_that_stops_ticking_shows_stalled_while_an_idle_one_does_not(db: Database) -> None:
    clock = ManualClock()
    leases = Leases(db, "host:1:aaaaaa", ttl=TTL, clock=clock)
    stuck, waiting = leases.lease("site-exchange:default"), leases.lease("scheduler:default")
    forever = asyncio.create_task(asyncio.Event().wait())
    for lease in (stuck, waiting):
        lease.bind(forever)
        assert await lease.hold()
    stuck.tick("pull: query")
    with waiting.idle():
        for _ in range(3 * STALL_TTLS + 3):  # a ttl past the stall limit
            clock.advance(TTL / 3)
            await leases.beat()
        async with db.begin() as conn:
            rows = {r["name"]: r for r in await lease_rows(conn, "default", now=clock())}
    forever.cancel()
    assert rows["site-exchange:default"]["state"] == "stalled"
    assert rows["site-exchange:default"]["doing"] == "pull: query"
    assert rows["site-exchange:default"]["tick_age"] > STALL_TTLS * TTL
    assert rows["scheduler:default"]["state"] == "held"
    assert rows["scheduler:default"]["since"] == rows["site-exchange:default"]["since"]
