"""The reconciler end to end against fake systems, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

import pytest
import sqlalchemy as sa

from obmen.connectors.base import Change, Remote
from obmen.engine.context import Engine, EngineSettings
from obmen.engine.policy import Policy
from obmen.engine.scheduler import enqueue_changes, full_resync
from obmen.engine.worker import Worker, WorkerOptions
from obmen.store import setbacks, tables
from obmen.store.database import Database
from obmen.testing.fakes import FakeSystem, Knobs, ManualClock, SimulatedCrash

CONTACT = {"counterparty": ["name", "emails", "phones", "comment"]}
ORDER = {"order": ["number", "customer", "status", "lines"]}


def systems(clock: ManualClock, **knobs: Knobs) -> dict[str, FakeSystem]:
    fields = {**CONTACT, **ORDER}
    return {
        name: FakeSystem(name, fields=fields, clock=clock, knobs=knobs.get(name), seed=i)
        for i, name in enumerate(["onec", "site", "bitrix24"])
    }


def make_engine(db: Database, fakes: dict[str, FakeSystem], clock: ManualClock, **policy: str) -> Engine:
    settings = EngineSettings(batch_size=50, lease_seconds=30, max_attempts=3, backoff_base=1, backoff_cap=10)
    return Engine(db=db, connectors=fakes, policy=Policy.build(policy), settings=settings, clock=clock)


def worker(engine: Engine, name: str = "w1") -> Worker:
    return Worker(engine, name=name, options=WorkerOptions(tenant_lease=False))


async def notify(engine: Engine, fakes: dict[str, FakeSystem]) -> None:
    for name, fake in fakes.items():
        await enqueue_changes(engine, name, fake.take_notifications(), trigger=f"{name}:push")


async def settle(engine: Engine, fakes: dict[str, FakeSystem], clock: ManualClock, rounds: int = 6) -> None:
    """Deliver notifications and drain until quiet, moving the clock past any backoff."""
    for _ in range(rounds):
        await notify(engine, fakes)
        await worker(engine).drain()
        clock.advance(60)
    await notify(engine, fakes)
    await worker(engine).drain()


async def rows(db: Database, table: sa.Table) -> list[Any]:
    async with db.begin() as conn:
        return list((await conn.execute(sa.select(table))).all())


async def test_created_object_reaches_every_system_once_and_echo_writes_nothing(db: Database) -> None:
    clock = ManualClock()
    fakes = systems(clock)
    engine = make_engine(db, fakes, clock)
    fakes["site"].create("counterparty", {"name": "Иван", "emails": ["ivan@example.ru"]})

    await notify(engine, fakes)
    assert await worker(engine).drain() == 1
    for name in ("onec", "bitrix24"):
        (obj,) = fakes[name].objects("counterparty").values()
        assert obj == {"name": "Иван", "emails": ["ivan@example.ru"]}
    writes = sum(len(f.writes()) for f in fakes.values())
    assert writes == 2

    # Our two creates come back as notifications: the merge finds nothing to do (echo).
    await notify(engine, fakes)
    assert await worker(engine).drain() == 1
    assert sum(len(f.writes()) for f in fakes.values()) == writes
    journal = await rows(db, tables.journal)
    assert sorted((j.action, j.target_system, j.status) for j in journal) == [
        ("create", "bitrix24", "applied"),
        ("create", "onec", "applied"),
    ]


async def test_edit_on_one_side_propagates_to_the_others(db: Database) -> None:
    clock = ManualClock()
    fakes = systems(clock)
    engine = make_engine(db, fakes, clock)
    site_id = fakes["site"].create("counterparty", {"name": "Иван", "emails": []})
    await settle(engine, fakes, clock)
    (b24_id,) = fakes["bitrix24"].objects("counterparty")
    fakes["bitrix24"].edit("counterparty", b24_id, comment="VIP")
    await settle(engine, fakes, clock)
    assert fakes["site"].get("counterparty", site_id) == {"name": "Иван", "emails": [], "comment": "VIP"}
    (onec,) = fakes["onec"].objects("counterparty").values()
    assert onec["comment"] == "VIP"


async def test_crash_after_remote_create_does_not_duplicate(db: Database) -> None:
    clock = ManualClock()
    fakes = systems(clock, bitrix24=Knobs(crash_after_write=1.0))
    engine = make_engine(db, fakes, clock)
    fakes["site"].create("counterparty", {"name": "Пётр", "emails": ["petr@example.ru"]})
    await notify(engine, fakes)
    with pytest.raises(SimulatedCrash):
        await worker(engine, "doomed").drain()
    assert len(fakes["bitrix24"].objects("counterparty")) == 1

    fakes["bitrix24"].knobs.crash_after_write = 0.0
    clock.advance(31)  # the dead worker's lease runs out
    await worker(engine, "heir").drain()
    await settle(engine, fakes, clock)
    assert len(fakes["bitrix24"].objects("counterparty")) == 1
    assert len(fakes["onec"].objects("counterparty")) == 1
    links = await rows(db, tables.links)
    assert len({link.canonical_id for link in links}) == 1
    assert await rows(db, tables.intents) == []
    recovered = [j for j in await rows(db, tables.journal) if j.trigger == "recovery"]
    # Both creates of the crashed batch had been sent (one bulk call per system, at once): both are
    # found by their idempotency key, neither is sent again.
    assert sorted((j.action, j.target_system) for j in recovered) == [("link", "bitrix24"), ("link", "onec")]
    assert [w["kind"] for w in fakes["bitrix24"].writes()] == ["create"]


async def test_same_person_on_two_sides_is_matched_not_duplicated(db: Database) -> None:
    clock = ManualClock()
    fakes = systems(clock)
    engine = make_engine(db, fakes, clock)
    fakes["site"].create("counterparty", {"name": "Анна", "emails": ["anna@example.ru"]})
    fakes["bitrix24"].create("counterparty", {"name": "Анна С.", "emails": ["anna@example.ru"]})
    await settle(engine, fakes, clock)
    assert [len(f.objects("counterparty")) for f in fakes.values()] == [1, 1, 1]
    names = {f.system: next(iter(f.objects("counterparty").values()))["name"] for f in fakes.values()}
    assert len(set(names.values())) == 1  # newest wins: one name everywhere
    assert any(j.action == "link" for j in await rows(db, tables.journal))


async def test_a_batch_of_new_customers_asks_each_system_for_matches_once(db: Database) -> None:
    clock = ManualClock()
    fakes = systems(clock)
    engine = make_engine(db, fakes, clock)
    for i in range(20):
        fakes["site"].create("counterparty", {"name": f"Покупатель {i}", "emails": [f"b{i}@example.ru"]})
    fakes["bitrix24"].create("counterparty", {"name": "Покупатель 7 (CRM)", "emails": ["b7@example.ru"]})
    await notify(engine, {"site": fakes["site"]})
    await worker(engine).drain()
    # One lookup per other system for the whole batch, not one per customer (a portal request each).
    assert (fakes["onec"].calls["match"], fakes["bitrix24"].calls["match"]) == (1, 1)
    await settle(engine, fakes, clock)
    assert [len(f.objects("counterparty")) for f in fakes.values()] == [20, 20, 20]  # b7 matched, not doubled


async def test_owner_policy_puts_back_a_change_made_elsewhere(db: Database) -> None:
    clock = ManualClock()
    fakes = systems(clock)
    engine = make_engine(db, fakes, clock, **{"counterparty.comment": "owner:onec"})
    onec_id = fakes["onec"].create("counterparty", {"name": "ООО Ромашка", "comment": "от 1С"})
    await settle(engine, fakes, clock)
    (site_id,) = fakes["site"].objects("counterparty")
    fakes["site"].edit("counterparty", site_id, comment="с сайта", name="ООО «Ромашка»")
    await settle(engine, fakes, clock)
    assert fakes["site"].get("counterparty", site_id) == {"name": "ООО «Ромашка»", "comment": "от 1С"}
    assert fakes["onec"].get("counterparty", onec_id) == {"name": "ООО «Ромашка»", "comment": "от 1С"}


async def test_conflict_policy_records_a_conflict_and_forces_nothing(db: Database) -> None:
    clock = ManualClock()
    fakes = systems(clock)
    engine = make_engine(db, fakes, clock, **{"counterparty.comment": "conflict"})
    fakes["onec"].create("counterparty", {"name": "X", "comment": "a"})
    await settle(engine, fakes, clock)
    ids = {f.system: next(iter(f.objects("counterparty"))) for f in fakes.values()}
    fakes["site"].edit("counterparty", ids["site"], comment="b")
    fakes["bitrix24"].edit("counterparty", ids["bitrix24"], comment="c")
    await settle(engine, fakes, clock)
    comments = {f.system: f.get("counterparty", ids[f.system])["comment"] for f in fakes.values()}  # type: ignore[index]
    assert comments == {"onec": "a", "site": "b", "bitrix24": "c"}
    (conflict,) = await rows(db, tables.conflicts)
    assert conflict.field == "comment"
    assert conflict.resolved_at is None
    # A person settles it on one side; once all agree the conflict closes.
    for name in ("onec", "site"):
        fakes[name].edit("counterparty", ids[name], comment="c")
    await settle(engine, fakes, clock)
    (conflict,) = await rows(db, tables.conflicts)
    assert conflict.resolved_at is not None


async def test_order_waits_for_its_customer_and_is_written_with_each_systems_ids(db: Database) -> None:
    clock = ManualClock()
    fakes = systems(clock)
    engine = make_engine(db, fakes, clock)
    customer = fakes["site"].create("counterparty", {"name": "Олег"})
    fakes["site"].create("order", {"number": "S-1", "customer": {"$ref": "counterparty", "id": customer}})
    # Only the order's notification arrives: the customer is discovered through the reference.
    await enqueue_changes(
        engine, "site", [Change("order", fakes["site"].take_notifications()[-1].external_id)], trigger="t"
    )
    await settle(engine, fakes, clock)
    for name in ("onec", "bitrix24"):
        (order,) = fakes[name].objects("order").values()
        (contact_id,) = fakes[name].objects("counterparty")
        assert order == {"number": "S-1", "customer": {"$ref": "counterparty", "id": contact_id}}


async def test_an_order_goes_as_soon_as_its_new_customer_is_linked(db: Database) -> None:
    clock = ManualClock()
    fakes = systems(clock)
    engine = make_engine(db, fakes, clock)
    customer = fakes["site"].create("counterparty", {"name": "Олег"})
    fakes["site"].create("order", {"number": "S-3", "customer": {"$ref": "counterparty", "id": customer}})
    await enqueue_changes(
        engine, "site", [Change("order", fakes["site"].take_notifications()[-1].external_id)], trigger="t"
    )
    # The clock stands still: the order waits, its customer is made, and the order is let go at once
    # rather than after its wait (ref_retry_delay), all in one drain.
    await worker(engine).drain()
    (order,) = fakes["bitrix24"].objects("order").values()
    assert order["number"] == "S-3"


async def test_an_order_waiting_longer_than_its_attempts_for_a_slow_customer_is_not_parked(
    db: Database,
) -> None:
    clock = ManualClock()
    fakes = systems(clock, bitrix24=Knobs(transient=1.0))  # the customer cannot reach Bitrix24 for a while
    engine = make_engine(db, fakes, clock)  # max_attempts=3
    customer = fakes["site"].create("counterparty", {"name": "Олег"})
    fakes["site"].create("order", {"number": "S-2", "customer": {"$ref": "counterparty", "id": customer}})
    for _ in range(8):  # many more rounds of waiting than the order has attempts
        await notify(engine, fakes)
        await worker(engine).drain()
        clock.advance(1)
    parked = {r.entity for r in await rows(db, tables.parked)}
    assert "order" not in parked  # the customer failed (and is parked); the order only waited
    waiting = [r for r in await rows(db, tables.work_items) if r.entity == "order"]
    assert [r.last_error.startswith("waits for counterparty") for r in waiting] == [True]
    assert [r.attempts for r in waiting] == [0]  # waiting spent none of its attempts
    fakes["bitrix24"].knobs.transient = 0.0
    await setbacks.unpark(db, engine.tenant, None, now=clock.now)
    await settle(engine, fakes, clock)
    (order,) = fakes["bitrix24"].objects("order").values()
    assert order["number"] == "S-2"


async def test_permanent_failure_parks_and_transient_failures_retry_then_park(db: Database) -> None:
    clock = ManualClock()
    fakes = systems(clock)
    engine = make_engine(db, fakes, clock)
    site_id = fakes["site"].create("counterparty", {"name": "A"})
    await settle(engine, fakes, clock)
    (onec_id,) = fakes["onec"].objects("counterparty")
    fakes["onec"].knobs.permanent_ids.add(onec_id)
    fakes["bitrix24"].knobs.transient = 1.0
    fakes["site"].edit("counterparty", site_id, name="B")
    await settle(engine, fakes, clock, rounds=5)
    (parked,) = await rows(db, tables.parked)
    assert "PermanentError" in parked.reason
    assert "refuses" in parked.reason
    assert await rows(db, tables.work_items) == []


async def test_transient_failures_are_retried_with_backoff_until_parked(db: Database) -> None:
    clock = ManualClock()
    fakes = systems(clock, bitrix24=Knobs(transient=1.0))
    engine = make_engine(db, fakes, clock)
    fakes["site"].create("counterparty", {"name": "A"})
    await notify(engine, fakes)
    await worker(engine).drain()
    (item,) = await rows(db, tables.work_items)
    assert item.state == "pending"
    assert item.attempts == 1
    assert item.not_before > clock.now
    assert await worker(engine).drain() == 0  # not before its backoff
    await settle(engine, fakes, clock, rounds=4)
    (parked,) = await rows(db, tables.parked)
    assert parked.attempts == 3
    assert "gave up after 3 attempts" in parked.reason
    fakes["bitrix24"].knobs.transient = 0.0
    assert len(fakes["onec"].objects("counterparty")) == 1  # the healthy side was not held back


async def test_full_resync_catches_lost_notifications(db: Database) -> None:
    clock = ManualClock()
    fakes = systems(clock, site=Knobs(lose=1.0))
    engine = make_engine(db, fakes, clock)
    fakes["site"].create("counterparty", {"name": "Lost"})
    await settle(engine, fakes, clock)
    assert fakes["bitrix24"].objects("counterparty") == {}
    assert await full_resync(engine) == 1
    await settle(engine, fakes, clock)
    assert len(fakes["bitrix24"].objects("counterparty")) == 1


class Unstamped(FakeSystem):
    """A system whose new objects get ids derived from the canonical id (1C's OData `Ref_Key`): a read
    shows no stamp; only `find_by_origin`, which derives the id again, knows whose create it was."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.capabilities = replace(self.capabilities, derived_ids=frozenset(self.capabilities.fields))

    async def fetch(self, entity: str, external_ids: Sequence[str]) -> Mapping[str, Remote]:
        found = await super().fetch(entity, external_ids)
        return {x: replace(r, origin=None) for x, r in found.items()}


async def test_a_create_announced_before_its_link_is_adopted_as_that_create_not_as_new(db: Database) -> None:
    clock = ManualClock()
    fakes = systems(clock)
    fakes["onec"] = Unstamped("onec", fields={**CONTACT, **ORDER}, clock=clock, seed=7)
    fakes["onec"].knobs.crash_after_write = 1.0
    engine = make_engine(db, fakes, clock)
    # Nothing to match it by (no phone, no e-mail): only the pending create can tell what it is.
    fakes["site"].create("counterparty", {"name": "Анна"})
    await notify(engine, fakes)
    with pytest.raises(SimulatedCrash):
        await worker(engine, "doomed").drain()
    # 1C announces the counterparty obmen just made, before any link to it is committed.
    fakes["onec"].knobs.crash_after_write = 0.0
    await notify(engine, fakes)
    await worker(engine, "heir").drain()
    clock.advance(31)  # the dead worker's lease runs out
    await settle(engine, fakes, clock)

    assert len(fakes["onec"].objects("counterparty")) == 1
    assert len(fakes["bitrix24"].objects("counterparty")) == 1
    links = await rows(db, tables.links)
    assert len({link.canonical_id for link in links}) == 1, links
    assert await rows(db, tables.intents) == []
    assert await rows(db, tables.work_items) == []  # nothing waits, retries or is parked


async def test_a_cancellation_is_written_with_the_orders_status_beside_it(db: Database) -> None:
    # A deal's stage shows both the cancellation and the status: a restored order needs its status there
    # again although the status did not change (engine/plan.py `_COMPANIONS`, docs/architecture.md §2.11).
    clock = ManualClock()
    fields = {"order": ["number", "status", "cancelled"]}
    fakes = {
        name: FakeSystem(name, fields=fields, clock=clock, seed=i)
        for i, name in enumerate(["onec", "site", "bitrix24"])
    }
    engine = make_engine(db, fakes, clock)
    site_id = fakes["site"].create("order", {"number": "7", "status": "P", "cancelled": False})
    await settle(engine, fakes, clock)
    for cancelled in (True, False):
        before = len(fakes["bitrix24"].writes())
        fakes["site"].edit("order", site_id, cancelled=cancelled)
        await settle(engine, fakes, clock)
        [write] = fakes["bitrix24"].writes()[before:]
        assert (write["kind"], write["fields"]) == ("update", {"cancelled": cancelled, "status": "P"})
