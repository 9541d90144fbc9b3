"""The event hook only enqueues: invoice events become their orders' keys later, in bulk (issue 13, row 5)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import sqlalchemy as sa
from b24_support import build_client, make_sandbox

from obmen.config.settings import Settings
from obmen.connectors.base import Change, SetupContext
from obmen.connectors.bitrix24.connector import Bitrix24Connector
from obmen.connectors.bitrix24.setup import Bitrix24Integration
from obmen.engine.context import Engine, EngineSettings
from obmen.engine.policy import Policy
from obmen.engine.worker import Worker, WorkerOptions
from obmen.store import tables
from obmen.store.database import Database


async def _queue(db: Database) -> list[tuple[str, str]]:
    async with db.begin() as conn:
        rows = await conn.execute(sa.select(tables.work_items.c.key, tables.work_items.c.state))
        return sorted((r.key, r.state) for r in rows)


def _integration(db: Database, tmp_path: Path, connector: Bitrix24Connector) -> Bitrix24Integration:
    ctx = SetupContext(
        db=db,
        tenant="default",
        state_dir=tmp_path,
        clock=lambda: 1000.0,
        wake=lambda: None,
        attach=lambda c: None,
    )
    integration = Bitrix24Integration(Settings(state_dir=tmp_path), ctx)
    integration.connector = connector
    return integration


async def test_invoice_events_cost_no_portal_call_and_become_order_keys_in_bulk(
    db: Database, tmp_path: Path
) -> None:
    sandbox = make_sandbox()
    async with build_client(sandbox) as someone, build_client(sandbox) as ours:
        deals = [
            (await someone.call("crm.deal.add", {"fields": {"TITLE": f"d{i}"}})).result for i in range(3)
        ]
        invoices: list[Any] = []
        for deal in deals:
            made = await someone.call("crm.item.add", {"entityTypeId": 31, "fields": {"parentId2": deal}})
            invoices.append(made.result["item"]["id"])
        connector = Bitrix24Connector(ours)
        integration = _integration(db, tmp_path, connector)
        before = ours.requests
        changes = [Change("invoice", str(i)) for i in invoices] + [Change("invoice", "999999")]
        assert await integration.enqueue(changes) == 4
        assert ours.requests == before  # the handler asked the portal nothing
        assert {k for k, _ in await _queue(db)} == {f"invoice@bitrix24:{i}" for i in [*invoices, 999999]}

        settings = EngineSettings(
            batch_size=50, lease_seconds=30, max_attempts=3, backoff_base=1, backoff_cap=10
        )
        engine = Engine(
            db=db,
            connectors={"bitrix24": connector},
            policy=Policy.build({}),
            settings=settings,
            clock=lambda: 1000.0,
        )
        worker = Worker(engine, name="w", options=WorkerOptions(tenant_lease=False))
        assert await worker.run_once() == 4  # the four invoice keys, one batch
        assert ours.requests == before + 1  # one lookup for all of them
        # Level-triggered: each invoice is now its order's key; the one that is gone names nothing.
        assert await _queue(db) == sorted((f"order@bitrix24:{d}", "pending") for d in deals)


async def test_a_failed_lookup_keeps_the_invoice_keys(db: Database, tmp_path: Path) -> None:
    sandbox = make_sandbox()
    async with build_client(sandbox) as ours:
        connector = Bitrix24Connector(ours)
        integration = _integration(db, tmp_path, connector)
        await integration.enqueue([Change("invoice", "5")])
        sandbox.portal.faults.free_plan = True  # the portal refuses every call
        settings = EngineSettings(
            batch_size=50, lease_seconds=30, max_attempts=3, backoff_base=1, backoff_cap=10
        )
        engine = Engine(
            db=db,
            connectors={"bitrix24": connector},
            policy=Policy.build({}),
            settings=settings,
            clock=lambda: 1000.0,
        )
        await Worker(engine, name="w", options=WorkerOptions(tenant_lease=False)).run_once()
    async with db.begin() as conn:
        parked = [r.key for r in await conn.execute(sa.select(tables.parked.c.key))]
    queued = [k for k, _ in await _queue(db)]
    assert queued + parked == ["invoice@bitrix24:5"]  # retried or parked with its reason, never dropped
