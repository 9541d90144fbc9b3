"""On PostgreSQL an idle worker wakes on NOTIFY, long before its polling interval."""

from __future__ import annotations

import asyncio
import time

import pytest

from obmen.connectors.base import Change
from obmen.engine.context import Engine
from obmen.engine.policy import Policy
from obmen.engine.scheduler import enqueue_changes
from obmen.engine.worker import Worker, WorkerOptions
from obmen.store.database import Database
from obmen.testing.fakes import FakeSystem

pytestmark = [pytest.mark.pg, pytest.mark.parametrize("database_url", ["postgres"], indirect=True)]


async def test_enqueue_wakes_an_idle_worker_at_once(db: Database) -> None:
    fields = {"counterparty": ["name"]}
    fakes = {n: FakeSystem(n, fields=fields) for n in ("site", "bitrix24")}
    engine = Engine(db=db, connectors=fakes, policy=Policy.build())  # type: ignore[arg-type]
    worker = Worker(engine, name="w", options=WorkerOptions(poll_interval=60, tenant_lease=False))
    stop = asyncio.Event()
    running = asyncio.create_task(worker.run(stop))
    await asyncio.sleep(1.0)  # the worker found nothing and sleeps for its 60 s interval
    external_id = fakes["site"].create("counterparty", {"name": "Вера"})
    started = time.monotonic()
    await enqueue_changes(engine, "site", [Change("counterparty", external_id)], trigger="test")
    while not fakes["bitrix24"].objects("counterparty") and time.monotonic() - started < 10:  # noqa: ASYNC110
        await asyncio.sleep(0.05)
    elapsed = time.monotonic() - started
    stop.set()
    await running
    assert fakes["bitrix24"].objects("counterparty"), "the worker never woke"
    assert elapsed < 10  # far below the 60 s poll: the NOTIFY woke it
