"""A partner's upload that still shows what it held before obmen's change is "not yet seen" (§2.11).

The ingest of a pull-only partner over the real mirror and outbox (docs/architecture.md §2.7, §2.11).
"""

from __future__ import annotations

from obmen.connectors.base import Update
from obmen.connectors.mirrored.connector import Mirrored
from obmen.connectors.mirrored.ingest import MirrorIngest
from obmen.connectors.mirrored.records import Record
from obmen.store import mirror
from obmen.store.database import Database
from obmen.store.mirror import MirrorStore
from obmen.testing.fakes import ManualClock

T, S = "default", "onec"
UNPAID = [{"system": "card", "paid": False}]
PAID = [{"system": "card", "paid": True}]


async def test_a_delivered_change_is_kept_until_an_upload_shows_it_and_then_a_change_back_counts(
    db: Database,
) -> None:
    clock = ManualClock()
    ingest = MirrorIngest(db, T, S, clock=clock)
    onec = Mirrored(
        S,
        MirrorStore(db, T, S, clock=clock),
        fields={"order": frozenset({"status", "payments"})},
        creates=frozenset({"order"}),
    )

    async def upload(**fields: object) -> dict[str, object]:
        clock.advance(1)
        await ingest.absorb([Record("order", "o1", dict(fields))], trigger="onec:documents")
        return dict((await onec.fetch("order", ["o1"]))["o1"].fields)

    assert await upload(status="N", payments=UNPAID) == {"status": "N", "payments": UNPAID}
    clock.advance(1)
    [written] = await onec.write([Update("order", "o1", {"payments": PAID})])
    assert written.ok
    async with db.begin() as conn:
        await mirror.collect(conn, T, S, "run-1")
        await mirror.acknowledge(conn, T, S, "run-1")

    # 1C wrote these documents before it took the payment in: neither undoes it.
    assert await upload(status="D") == {"status": "D", "payments": PAID}
    assert await upload(status="D", payments=UNPAID) == {"status": "D", "payments": PAID}
    # It shows the payment: seen. From now on its word on the payment is its own again.
    assert await upload(status="D", payments=PAID) == {"status": "D", "payments": PAID}
    async with db.begin() as conn:
        _, queued = await mirror.read_with_queued(conn, T, S, "order", ["o1"])
    [item] = queued.values()
    assert item.changed == {}
    assert await upload(status="D", payments=UNPAID) == {"status": "D", "payments": UNPAID}


async def test_a_third_value_is_the_partners_own_change(db: Database) -> None:
    clock = ManualClock()
    ingest = MirrorIngest(db, T, S, clock=clock)
    store = MirrorStore(db, T, S, clock=clock)
    await ingest.absorb([Record("order", "o1", {"status": "N"})], trigger="onec:documents")
    clock.advance(1)
    await store.queue("order", {"o1": {"status": "P"}}, {"o1": {"status": "N"}})
    clock.advance(1)
    await ingest.absorb([Record("order", "o1", {"status": "F"})], trigger="onec:documents")
    assert (await store.snapshots("order", ["o1"]))["o1"].fields == {"status": "F"}
    # It changed the status without having seen obmen's: the two are concurrent (a `conflict` rule).
    assert (await store.snapshots("order", ["o1"]))["o1"].contested == {"status": ("N", "P")}


async def test_a_contest_is_remembered_until_another_upload_contests_again(db: Database) -> None:
    clock = ManualClock()
    ingest = MirrorIngest(db, T, S, clock=clock)
    store = MirrorStore(db, T, S, clock=clock)
    onec = Mirrored(S, store, fields={"order": frozenset({"comment"})}, creates=frozenset())
    await ingest.absorb([Record("order", "o1", {"comment": "a"})], trigger="onec:documents")
    clock.advance(1)
    await store.queue("order", {"o1": {"comment": "ours"}}, {"o1": {"comment": "a"}})
    clock.advance(1)
    await ingest.absorb([Record("order", "o1", {"comment": "theirs"})], trigger="onec:documents")
    clock.advance(1)
    # A later upload that shows the same again neither forgets the contest nor makes a new one.
    await ingest.absorb([Record("order", "o1", {"comment": "theirs again"})], trigger="onec:documents")
    remote = (await onec.fetch("order", ["o1"]))["o1"]
    assert remote.fields == {"comment": "theirs again"}
    assert remote.contested == {"comment": ("a", "ours")}
    # The document the partner collects carries its own value, never obmen's over it.
    async with db.begin() as conn:
        [document] = await mirror.collect(conn, T, S, "run-1")
    assert document.fields == {"comment": "theirs again"}


async def test_an_upload_showing_the_old_value_or_obmens_is_no_contest(db: Database) -> None:
    clock = ManualClock()
    ingest = MirrorIngest(db, T, S, clock=clock)
    store = MirrorStore(db, T, S, clock=clock)
    await ingest.absorb([Record("order", "o1", {"comment": "a", "status": "N"})], trigger="onec:documents")
    clock.advance(1)
    await store.queue(
        "order", {"o1": {"comment": "ours", "status": "P"}}, {"o1": {"comment": "a", "status": "N"}}
    )
    clock.advance(1)
    await ingest.absorb([Record("order", "o1", {"comment": "a", "status": "P"})], trigger="onec:documents")
    assert (await store.snapshots("order", ["o1"]))["o1"].contested == {}
