"""Nothing waits unseen (docs/architecture.md §2.14): a wait shows what for and since when, then parks."""

from __future__ import annotations

from obmen.connectors.base import Change
from obmen.engine.context import Engine, EngineSettings
from obmen.engine.policy import Policy
from obmen.engine.scheduler import enqueue_changes
from obmen.engine.worker import Worker, WorkerOptions
from obmen.store.database import Database
from obmen.store.status import read_status
from obmen.testing.fakes import FakeSystem, ManualClock
from obmen.web.app import Metrics


async def test_an_order_waiting_for_a_customer_that_never_arrives_is_shown_then_parked(db: Database) -> None:
    clock = ManualClock()
    fields = {"counterparty": ["name"], "order": ["number", "customer"]}
    fakes = {n: FakeSystem(n, fields=fields, clock=clock, seed=i) for i, n in enumerate(["site", "bitrix24"])}
    settings = EngineSettings(max_attempts=3, max_wait=3600.0)
    engine = Engine(db=db, connectors=fakes, policy=Policy.build(), settings=settings, clock=clock)
    order = fakes["site"].create(
        "order", {"number": "S-9", "customer": {"$ref": "counterparty", "id": "ghost"}}
    )
    await enqueue_changes(engine, "site", [Change("order", order)], trigger="site:push")
    started = clock.now
    worker = Worker(engine, name="w", options=WorkerOptions(tenant_lease=False))

    for _ in range(5):  # many rounds, more than its attempts: it only waits
        await worker.drain()
        clock.advance(600)
    status = await read_status(db, engine.tenant, now=clock.now)
    assert status.waiting_total == 1
    [waiting] = status.waiting
    assert waiting["waits_for"] == "waits for counterparty ghost in site"
    assert waiting["since"] == started
    assert status.oldest_wait == clock.now - started
    metrics = Metrics()
    metrics.update(status)
    assert metrics.waiting._value.get() == 1  # the gauge as scraped
    assert status.parked_total == 0

    clock.advance(3600)
    await worker.drain()
    status = await read_status(db, engine.tenant, now=clock.now)
    assert (status.waiting_total, status.parked_total) == (0, 1)
    [parked] = status.parked
    assert parked["reason"].startswith("waits for counterparty ghost in site, which never arrived")
    assert not fakes["bitrix24"].objects("order")
