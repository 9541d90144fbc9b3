"""A pull-only partner's connector over the real mirror and outbox (docs/architecture.md §2.7)."""

from __future__ import annotations

from obmen.connectors.base import Create, Update
from obmen.connectors.mirrored.connector import Mirrored
from obmen.store import mirror
from obmen.store.database import Database
from obmen.store.mirror import MirrorRecord, MirrorStore
from obmen.testing.fakes import ManualClock

T, S = "default", "onec"


def connector(db: Database, clock: ManualClock) -> Mirrored:
    store = MirrorStore(db, T, S, clock=clock)
    fields = {"order": frozenset({"status", "comment"})}
    return Mirrored(S, store, fields=fields, creates=frozenset({"order"}))


async def upload(db: Database, clock: ManualClock, *records: MirrorRecord) -> None:
    async with db.begin() as conn:
        await mirror.absorb(conn, T, S, list(records), now=clock())


async def test_a_queued_write_is_the_partners_state_until_it_uploads_again(db: Database) -> None:
    clock = ManualClock()
    onec = connector(db, clock)
    await upload(db, clock, MirrorRecord("order", "o1", {"status": "N", "comment": "x"}))
    clock.advance(1)
    [result] = await onec.write([Update("order", "o1", {"status": "P"})])
    assert result.ok
    # Not collected yet: reading the mirror alone would undo our write on the next merge.
    assert (await onec.fetch("order", ["o1"]))["o1"].fields == {"status": "P", "comment": "x"}
    clock.advance(1)
    await upload(db, clock, MirrorRecord("order", "o1", {"status": "F", "comment": "x"}))
    # 1C spoke after our write: its word is the truth again.
    assert (await onec.fetch("order", ["o1"]))["o1"].fields == {"status": "F", "comment": "x"}


async def test_a_create_exists_under_its_canonical_id_before_1c_collects_it(db: Database) -> None:
    clock = ManualClock()
    onec = connector(db, clock)
    [result] = await onec.write([Create("order", "cid-7", {"status": "N"})])
    assert result.external_id == "cid-7"
    found = await onec.find_by_origin("order", ["cid-7", "cid-8"])
    assert list(found) == ["cid-7"]
    assert found["cid-7"].external_id == "cid-7"
    async with db.begin() as conn:
        [doc] = await mirror.collect(conn, T, S, "run-1")
    assert (doc.external_id, doc.fields) == ("cid-7", {"status": "N"})


async def test_updates_of_unknown_objects_fail_alone(db: Database) -> None:
    clock = ManualClock()
    onec = connector(db, clock)
    await upload(db, clock, MirrorRecord("order", "o1", {"status": "N", "comment": None}))
    results = await onec.write(
        [Update("order", "nope", {"status": "P"}), Update("order", "o1", {"comment": "c"})]
    )
    assert [r.ok for r in results] == [False, True]
    assert "not in the mirror" in str(results[0].error)


async def test_deleted_objects_are_gone_and_scan_pages(db: Database) -> None:
    clock = ManualClock()
    onec = connector(db, clock)
    await upload(db, clock, *(MirrorRecord("order", f"o{i}", {"status": "N"}) for i in range(5)))
    await upload(db, clock, MirrorRecord("order", "o2", {"status": "N"}, deleted=True))
    assert "o2" not in await onec.fetch("order", ["o1", "o2"])
    first = await onec.scan("order", None, 2)
    second = await onec.scan("order", first.cursor, 2)
    assert (list(first.external_ids), list(second.external_ids), second.cursor) == (
        ["o0", "o1"],
        ["o3", "o4"],
        "o4",
    )
    assert await onec.match("order", [("xml_id", "o3"), ("xml_id", "zz"), ("number", "1")]) == {
        ("xml_id", "o3"): "o3"
    }


async def test_1c_offers_carry_the_shown_price_and_the_total_stock(db: Database) -> None:
    from obmen.connectors.onec.connector import onec_connector

    clock = ManualClock()
    kinds = [("pt-retail", "Розничная"), ("pt-whole", "Оптовая")]
    records = [MirrorRecord("price_type", x, {"name": name, "currency": "RUB"}) for x, name in kinds]
    prices = [
        {"price_type": {"$ref": "price_type", "id": x}, "value": {"amount": amount, "currency": "RUB"}}
        for x, amount in (("pt-whole", "80"), ("pt-retail", "100"))
    ]
    stock = [
        {"warehouse": {"$ref": "warehouse", "id": w}, "quantity": q} for w, q in (("w1", "2"), ("w2", "3.5"))
    ]
    records.append(MirrorRecord("offer", "o1", {"name": "Кеды", "prices": prices, "stock": stock}))
    records.append(MirrorRecord("offer", "o2", {"name": "Без цены", "prices": prices[:1]}))
    await upload(db, clock, *records)
    found = await onec_connector(MirrorStore(db, T, S, clock=clock), price_type="Розничная").fetch(
        "offer", ["o1", "o2"]
    )
    assert found["o1"].fields["price"] == {"amount": "100", "currency": "RUB"}
    assert found["o1"].fields["quantity"] == "5.5"
    assert found["o1"].fields["prices"] == prices  # the full set stays for systems that take every type
    assert found["o2"].fields["price"] is None  # no price in the shown type: none, never another type's
    assert "quantity" not in found["o2"].fields  # a file without stock says nothing about it


async def test_1c_warehouses_map_to_stores_and_an_uncounted_one_leaves_the_stock(db: Database) -> None:
    from obmen.connectors.onec.connector import onec_connector

    clock = ManualClock()
    names = [("w1", "Основной склад"), ("w2", "Склад магазина"), ("w3", "Брак"), ("w4", "Транзит")]
    records = [MirrorRecord("warehouse", x, {"name": name}) for x, name in names]
    amounts = (("w1", "2"), ("w2", "3.5"), ("w3", "9"), ("w4", "1"))
    stock = [{"warehouse": {"$ref": "warehouse", "id": w}, "quantity": q} for w, q in amounts]
    records.append(MirrorRecord("offer", "o1", {"name": "Кеды", "stock": stock}))
    await upload(db, clock, *records)
    # By name and by Ид; two warehouses into one store; «Брак» counts nowhere; «Транзит» is unlisted.
    table = {"Основной склад": 5, "w2": 5, "Брак": 0, "Склад в Туле": 7}
    onec = onec_connector(MirrorStore(db, T, S, clock=clock), warehouses=table)
    fields = (await onec.fetch("offer", ["o1"]))["o1"].fields
    assert fields["store_stock"] == [["5", "5.5"], ["7", "0"]]
    assert fields["quantity"] == "6.5"
    assert [s["warehouse"]["id"] for s in fields["stock"]] == ["w1", "w2", "w4"]
    plain = await onec_connector(MirrorStore(db, T, S, clock=clock)).fetch("offer", ["o1"])
    assert (plain["o1"].fields["quantity"], plain["o1"].fields["store_stock"]) == ("15.5", [])
