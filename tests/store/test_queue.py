"""The work queue's guarantees, on SQLite and PostgreSQL."""

from __future__ import annotations

import random

import sqlalchemy as sa

from obmen.errors import backoff
from obmen.store import queue, setbacks, tables
from obmen.store.database import Database
from obmen.store.queue import NewItem

T = "default"


async def put(db: Database, *items: NewItem, now: float = 100.0) -> int:
    async with db.begin() as conn:
        return await queue.enqueue(db, conn, T, items, now=now)


async def pending(db: Database) -> list[tuple[str, float]]:
    async with db.begin() as conn:
        rows = await conn.execute(
            sa.select(tables.work_items.c.key, tables.work_items.c.not_before).order_by(
                tables.work_items.c.key
            )
        )
        return [(r.key, r.not_before) for r in rows]


async def test_pending_keys_are_deduplicated_and_keep_the_earliest_time(db: Database) -> None:
    await put(db, NewItem("order", "c1", delay=30))
    await put(db, NewItem("order", "c1", delay=5), NewItem("order", "c1", delay=50))
    assert await pending(db) == [("order:c1", 105.0)]


async def test_unlinked_keys_become_linked_keys_once_the_object_is_linked(db: Database) -> None:
    from obmen.store import state

    async with db.begin() as conn:
        await state.add_links(conn, T, "order", [("c1", "site", "42")], now=1)
    await put(
        db,
        NewItem("order", system="site", external_id="42"),
        NewItem("order", system="site", external_id="7"),
    )
    assert [k for k, _ in await pending(db)] == ["order:c1", "order@site:7"]


async def test_a_deep_enqueue_of_unlinked_keys_finds_links_in_every_chunk(db: Database) -> None:
    # 20,000 keys in one lookup were too deep for PostgreSQL to plan (issue 14's deep queue).
    from obmen.store import state

    async with db.begin() as conn:
        await state.add_links(conn, T, "order", [("c1", "site", "0"), ("c2", "site", "19999")], now=1)
    count = await put(db, *(NewItem("order", system="site", external_id=str(i)) for i in range(20000)))
    assert count == 20000
    keys = {k for k, _ in await pending(db)}
    assert {"order:c1", "order:c2", "order@site:1", "order@site:19998"} <= keys
    assert "order@site:0" not in keys
    assert "order@site:19999" not in keys


async def test_a_claimed_key_is_not_claimed_again_until_done_but_can_be_requeued(db: Database) -> None:
    await put(db, NewItem("order", "c1"), NewItem("order", "c2"))
    first = await queue.claim(db, T, "w1", limit=10, lease=30, now=100)
    assert sorted(i.key for i in first) == ["order:c1", "order:c2"]
    await put(db, NewItem("order", "c1"))  # a new event while c1 is being reconciled
    assert await queue.claim(db, T, "w2", limit=10, lease=30, now=101) == []
    async with db.begin() as conn:
        await queue.complete(conn, [i.id for i in first])
    (again,) = await queue.claim(db, T, "w2", limit=10, lease=30, now=102)
    assert again.key == "order:c1"


async def test_an_idle_claim_is_one_statement_on_either_store(db: Database) -> None:
    # Issue 14: an idle worker claims every poll interval; on PostgreSQL the claim lock and the
    # readiness test share one statement, and the claim itself is skipped when nothing is ready.
    await queue.claim(db, T, "w1", limit=10, lease=30, now=100)  # reaps: due on a process's first claim
    await put(db, NewItem("order", "later", delay=60))
    before = db.statements
    assert await queue.claim(db, T, "w1", limit=10, lease=30, now=101) == []
    assert db.statements - before == 1
    (item,) = await queue.claim(db, T, "w1", limit=10, lease=30, now=161)
    assert item.key == "order:later"


async def test_new_objects_of_one_entity_are_matched_one_batch_at_a_time(db: Database) -> None:
    await put(db, *(NewItem("counterparty", system="site", external_id=str(i)) for i in range(5)))
    batch = await queue.claim(db, T, "w1", limit=3, lease=30, now=100)
    assert len(batch) == 3
    assert await queue.claim(db, T, "w2", limit=3, lease=30, now=100) == []


async def test_claims_take_one_entity_type_and_respect_not_before(db: Database) -> None:
    await put(db, NewItem("order", "o1"), NewItem("product", "p1"), NewItem("order", "o2", delay=60))
    batch = await queue.claim(db, T, "w1", limit=10, lease=30, now=100)
    assert {i.entity for i in batch} == {"order"}
    assert [i.key for i in batch] == ["order:o1"]


async def test_a_dead_workers_items_return_after_the_lease(db: Database) -> None:
    await put(db, NewItem("order", "c1"), NewItem("order", "c2"))
    await queue.claim(db, T, "dead", limit=10, lease=30, now=100)
    await put(db, NewItem("order", "c2"), now=110)  # c2 changed again meanwhile
    assert await queue.claim(db, T, "heir", limit=10, lease=30, now=129) == []
    # Expired claims are looked for every third of a lease, not on every claim (issue 14).
    assert await queue.claim(db, T, "heir", limit=10, lease=30, now=131) == []
    taken = await queue.claim(db, T, "heir", limit=10, lease=30, now=139)
    assert sorted(i.key for i in taken) == ["order:c1", "order:c2"]
    assert [i.attempts for i in sorted(taken, key=lambda i: i.key)] == [2, 1]
    async with db.begin() as conn:
        assert await queue.owned(conn, "dead", [i.id for i in taken]) == set()


async def test_retry_folds_into_a_newer_pending_item_and_keeps_the_attempt_count(db: Database) -> None:
    await put(db, NewItem("order", "c1"))
    (item,) = await queue.claim(db, T, "w1", limit=10, lease=30, now=100)
    await put(db, NewItem("order", "c1"), now=101)
    async with db.begin() as conn:
        await setbacks.retry(db, conn, T, item, error="503", delay=10, now=102)
    (again,) = await queue.claim(db, T, "w1", limit=10, lease=30, now=102)
    assert again.attempts == 2


async def test_parked_items_leave_the_queue_and_come_back_on_unpark(db: Database) -> None:
    await put(db, NewItem("order", "c1", trigger="site:push"))
    (item,) = await queue.claim(db, T, "w1", limit=10, lease=30, now=100)
    async with db.begin() as conn:
        await setbacks.park(db, conn, T, item, reason="PermanentError: bad INN", now=101)
    assert await pending(db) == []
    assert await setbacks.unpark(db, T, None, now=200) == 1
    assert await pending(db) == [("order:c1", 200.0)]


def test_backoff_grows_exponentially_with_jitter_and_is_capped() -> None:
    rng = random.Random(1)
    delays = [backoff(n, base=1, cap=60, rng=rng) for n in range(1, 10)]
    assert all(2 ** (n - 1) / 2 <= d <= 2 ** (n - 1) for n, d in zip(range(1, 7), delays, strict=False))
    assert all(30 <= d <= 60 for d in delays[6:])
    assert len(set(delays)) == len(delays)


async def test_a_key_that_waits_for_an_object_goes_once_one_is_linked_not_after_its_delay(
    db: Database,
) -> None:
    # A site event's order waits for its new buyer (docs/protocols/site-rest.md §4): it shows as waiting,
    # is due after its delay at the latest, and goes as soon as a counterparty is linked.
    wait = "counterparty 7 in site"
    await put(db, NewItem("order", system="site", external_id="42", delay=2.0, waits_for=wait))
    await put(db, NewItem("order", system="site", external_id="43", delay=2.0))
    async with db.begin() as conn:
        row = (
            await conn.execute(sa.select(tables.work_items).where(tables.work_items.c.key.like("%42")))
        ).one()
    assert (row.last_error, row.waiting_since, row.not_before) == (f"{queue.WAITS_FOR}{wait}", 100.0, 102.0)
    assert await queue.claim(db, T, "w", limit=10, lease=30, now=100.1) == []
    async with db.begin() as conn:
        assert await queue.release_waiters(conn, T, "product", now=100.2) == 0
        assert await queue.release_waiters(conn, T, "counterparty", now=100.2) == 1
    claimed = await queue.claim(db, T, "w", limit=10, lease=30, now=100.2)
    assert [c.key for c in claimed] == ["order@site:42"]  # the other waits out its delay
    assert claimed[0].waiting_since == 100.0


async def test_a_key_given_twice_waits_only_if_both_wait(db: Database) -> None:
    waits = NewItem("order", "c1", delay=2.0, waits_for="counterparty 7 in site")
    await put(db, waits, NewItem("order", "c1"))
    async with db.begin() as conn:
        row = (await conn.execute(sa.select(tables.work_items))).one()
    assert (row.last_error, row.waiting_since, row.not_before) == (None, None, 100.0)
