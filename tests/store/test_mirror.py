"""Mirror and outbox of pull-only partners, on SQLite and PostgreSQL (docs/architecture.md §2.7)."""

from __future__ import annotations

from obmen.store import mirror
from obmen.store.database import Database
from obmen.store.mirror import MirrorRecord

T, S = "default", "onec"


def rec(ident: str, name: str, *, origin: str | None = None, deleted: bool = False) -> MirrorRecord:
    return MirrorRecord("product", ident, {"name": name}, origin=origin, deleted=deleted)


async def test_absorb_reports_only_new_and_changed_objects(db: Database) -> None:
    async with db.begin() as conn:
        first = await mirror.absorb(conn, T, S, [rec("a", "A"), rec("b", "B")], now=1.0)
        again = await mirror.absorb(conn, T, S, [rec("a", "A"), rec("b", "B2")], now=2.0)
        deleted = await mirror.absorb(conn, T, S, [rec("a", "A", deleted=True)], now=3.0)
        rows = await mirror.read(conn, T, S, "product", ["a", "b", "zzz"])
    assert sorted(first) == [("product", "a"), ("product", "b")]
    assert again == [("product", "b")]
    assert deleted == [("product", "a")]
    assert set(rows) == {"a", "b"}
    assert rows["b"].fields == {"name": "B2"}
    assert (rows["b"].seen_at, rows["b"].changed_at) == (2.0, 2.0)
    assert rows["a"].deleted


async def test_unchanged_upload_touches_seen_at_only(db: Database) -> None:
    async with db.begin() as conn:
        await mirror.absorb(conn, T, S, [rec("a", "A")], now=1.0)
        assert await mirror.absorb(conn, T, S, [rec("a", "A")], now=5.0) == []
        row = (await mirror.read(conn, T, S, "product", ["a"]))["a"]
    assert (row.seen_at, row.changed_at) == (5.0, 1.0)


async def test_large_uploads_are_chunked(db: Database) -> None:
    records = [rec(f"p{i:05}", f"n{i}") for i in range(1200)]
    async with db.begin() as conn:
        assert len(await mirror.absorb(conn, T, S, records, now=1.0)) == 1200
        page = await mirror.scan(conn, T, S, "product", "p00999", 500)
    assert page[0] == "p01000"
    assert len(page) == 200


async def test_a_read_with_the_queued_documents_is_both_reads_in_one(db: Database) -> None:
    # Mirrored only, queued only (obmen's create), both, a deleted one, and one in neither; a chunk's worth
    # more so that the ids span two chunks.
    many = [rec(f"p{i:04}", f"n{i}") for i in range(600)]
    async with db.begin() as conn:
        await mirror.absorb(conn, T, S, [rec("a", "A", origin="c-a"), rec("b", "B"), *many], now=1.0)
        await mirror.absorb(conn, T, S, [rec("d", "D", deleted=True)], now=1.5)
        docs = {"b": {"name": "B2"}, "new": {"name": "N"}, "p0599": {"name": "x"}}
        await mirror.put(conn, T, S, "product", docs, now=2.0, changed={"b": {"name": "B"}})
        await mirror.put(conn, T, S, "order", {"a": {"status": "N"}}, now=2.0)  # another entity
        ids = ["a", "b", "d", "new", "zzz", *(r.external_id for r in many)]
        rows, queued = await mirror.read_with_queued(conn, T, S, "product", ids)
        assert rows == await mirror.read(conn, T, S, "product", ids)
    assert set(rows) == {"a", "b", "d", *(r.external_id for r in many)}
    assert (rows["a"].origin, rows["d"].deleted, rows["a"].digest) == ("c-a", True, None)
    assert set(queued) == {"b", "new", "p0599"}
    assert (queued["b"].fields, queued["b"].changed, queued["b"].pending) == (
        {"name": "B2"},
        {"name": "B"},
        True,
    )
    assert (queued["new"].entity, queued["new"].version, queued["new"].queued_at) == ("product", 1, 2.0)


async def test_origin_lookup(db: Database) -> None:
    async with db.begin() as conn:
        await mirror.absorb(conn, T, S, [rec("x", "X", origin="cid-1"), rec("y", "Y")], now=1.0)
        found = await mirror.by_origin(conn, T, S, "product", ["cid-1", "cid-2"])
    assert list(found) == ["cid-1"]
    assert found["cid-1"][0] == "x"


async def test_outbox_is_acknowledged_only_by_its_run(db: Database) -> None:
    async with db.begin() as conn:
        await mirror.put(conn, T, S, "order", {"o1": {"status": "N"}, "o2": {"status": "P"}}, now=1.0)
        first = await mirror.collect(conn, T, S, "run-1")
        # The exchange failed before `success`: the next run gets the same documents again.
        second = await mirror.collect(conn, T, S, "run-2")
        await mirror.acknowledge(conn, T, S, "run-1")  # a stale run acknowledges nothing
        assert [i.external_id for i in await mirror.collect(conn, T, S, "run-3")] == ["o1", "o2"]
        assert await mirror.acknowledge(conn, T, S, "run-3") == 2
        assert await mirror.collect(conn, T, S, "run-4") == []
    assert [i.external_id for i in first] == [i.external_id for i in second] == ["o1", "o2"]


async def test_a_change_while_collected_is_sent_again(db: Database) -> None:
    async with db.begin() as conn:
        await mirror.put(conn, T, S, "order", {"o1": {"status": "N"}}, now=1.0)
        await mirror.collect(conn, T, S, "run-1")
        await mirror.put(conn, T, S, "order", {"o1": {"status": "F"}}, now=2.0)
        await mirror.acknowledge(conn, T, S, "run-1")
        again = await mirror.collect(conn, T, S, "run-2")
    assert [(i.external_id, i.fields, i.version) for i in again] == [("o1", {"status": "F"}, 2)]


def order(ident: str, **fields: object) -> MirrorRecord:
    return MirrorRecord("order", ident, dict(fields))


async def test_a_document_is_rebuilt_on_what_the_partner_changed_meanwhile(db: Database) -> None:
    store = mirror.MirrorStore(db, T, S, clock=lambda: 2.0)
    async with db.begin() as conn:
        await mirror.absorb(conn, T, S, [order("o1", status="N", paid=False, comment="")], now=1.0)
    # obmen moves the status (a stage moved in the CRM)...
    await store.queue("order", {"o1": {"status": "P", "paid": False, "comment": ""}}, {"o1": {"status": "N"}})
    async with db.begin() as conn:
        # ...and before the partner collects it, the customer pays there.
        await mirror.absorb(conn, T, S, [order("o1", status="N", paid=True, comment="")], now=3.0)
    seen = (await store.snapshots("order", ["o1"]))["o1"]
    async with db.begin() as conn:
        [sent] = await mirror.collect(conn, T, S, "run-1")
    # Both changes survive: the engine sees them, and the document carries them.
    assert seen.fields == sent.fields == {"status": "P", "paid": True, "comment": ""}


async def test_changes_of_versions_not_yet_collected_add_up(db: Database) -> None:
    async with db.begin() as conn:
        await mirror.absorb(conn, T, S, [order("o1", status="N", paid=False, comment="")], now=1.0)
        doc = {"status": "P", "paid": False, "comment": ""}
        await mirror.put(conn, T, S, "order", {"o1": doc}, now=2.0, changed={"o1": {"status": "N"}})
        doc = {"status": "P", "paid": False, "comment": "позвонить"}
        await mirror.put(conn, T, S, "order", {"o1": doc}, now=3.0, changed={"o1": {"comment": ""}})
        await mirror.absorb(conn, T, S, [order("o1", status="N", paid=True, comment="")], now=4.0)
        [sent] = await mirror.collect(conn, T, S, "run-1")
        assert sent.changed == {"status": "N", "comment": ""}
        assert sent.fields == {"status": "P", "paid": True, "comment": "позвонить"}
        await mirror.acknowledge(conn, T, S, "run-1")
        # Delivered but not shown in an upload yet: a new version still names those changes, and its own.
        await mirror.put(conn, T, S, "order", {"o1": doc}, now=5.0, changed={"o1": {"paid": True}})
        [again] = await mirror.collect(conn, T, S, "run-2")
    assert again.changed == {"status": "N", "comment": "", "paid": True}


async def test_a_field_both_changed_is_left_to_the_engine(db: Database) -> None:
    store = mirror.MirrorStore(db, T, S, clock=lambda: 2.0)
    async with db.begin() as conn:
        await mirror.absorb(conn, T, S, [order("o1", status="N", comment="")], now=1.0)
    await store.queue(
        "order", {"o1": {"status": "P", "comment": "x"}}, {"o1": {"status": "N", "comment": ""}}
    )
    async with db.begin() as conn:
        # The partner moved the status too, before collecting ours: its value stands, ours of the
        # field it did not touch is still delivered.
        await mirror.absorb(conn, T, S, [order("o1", status="F", comment="")], now=3.0)
        [sent] = await mirror.collect(conn, T, S, "run-1")
    assert (
        sent.fields
        == (await store.snapshots("order", ["o1"]))["o1"].fields
        == {"status": "F", "comment": "x"}
    )


async def test_a_whole_document_and_a_delivered_one_are_not_rebuilt(db: Database) -> None:
    store = mirror.MirrorStore(db, T, S, clock=lambda: 2.0)
    async with db.begin() as conn:
        await mirror.absorb(conn, T, S, [order("o1", status="N", paid=False)], now=1.0)
    await store.queue("order", {"o1": {"status": "P", "paid": False}})  # a create: all of it is obmen's
    async with db.begin() as conn:
        await mirror.absorb(conn, T, S, [order("o1", status="N", paid=True)], now=3.0)
        [sent] = await mirror.collect(conn, T, S, "run-1")
        assert sent.fields == {"status": "P", "paid": False}
        await mirror.acknowledge(conn, T, S, "run-1")
        # The partner had it, then changed it: its upload is the truth now.
        await mirror.absorb(conn, T, S, [order("o1", status="F", paid=True)], now=4.0)
    assert (await store.snapshots("order", ["o1"]))["o1"].fields == {"status": "F", "paid": True}


async def test_a_withheld_document_stays_pending_and_a_newer_version_is_not_lost(db: Database) -> None:
    async with db.begin() as conn:
        await mirror.put(conn, T, S, "order", {"o1": {"status": "N"}, "o2": {"status": "N"}}, now=1.0)
        await mirror.collect(conn, T, S, "run-1")
        # o1 could not be written into the answer; meanwhile the engine queued a version that can.
        await mirror.put(conn, T, S, "order", {"o1": {"status": "N", "number": "CRM-7"}}, now=2.0)
        await mirror.withhold(conn, T, S, "run-1", "order", ["o1"])
        assert await mirror.acknowledge(conn, T, S, "run-1") == 1  # o2 only
        again = await mirror.collect(conn, T, S, "run-2")
        assert [(i.external_id, i.fields) for i in again] == [("o1", {"status": "N", "number": "CRM-7"})]
        await mirror.withhold(conn, T, S, "run-2", "order", ["o1"])  # refused again: still waiting
        await mirror.acknowledge(conn, T, S, "run-2")
        assert [i.external_id for i in await mirror.collect(conn, T, S, "run-3")] == ["o1"]
