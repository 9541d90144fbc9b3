"""The dashboard and the status API show a system that refuses obmen, and stop showing it once it answers
(docs/architecture.md §2.13)."""

from __future__ import annotations

import httpx

from obmen.connectors.base import Change
from obmen.engine.context import Engine, EngineSettings
from obmen.engine.peek import read_sides
from obmen.engine.policy import Policy
from obmen.engine.scheduler import enqueue_changes
from obmen.engine.worker import Worker, WorkerOptions
from obmen.store.database import Database
from obmen.testing.fakes import FakeSystem, ManualClock
from obmen.web.app import Dashboard, create_app

FIELDS = {"order": ["number", "comment"]}
REASON = "ACCESS_DENIED: REST API is available only on commercial plans"


async def test_the_overview_and_the_api_show_the_refusal_with_its_next_probe(db: Database) -> None:
    clock = ManualClock()
    fakes = {n: FakeSystem(n, fields=FIELDS, clock=clock, seed=i) for i, n in enumerate(["site", "bitrix24"])}
    fakes["bitrix24"].knobs.refuse = REASON
    engine = Engine(db=db, connectors=fakes, policy=Policy.build(), settings=EngineSettings(), clock=clock)
    order = fakes["site"].create("order", {"number": "132", "comment": ""})
    await enqueue_changes(engine, "site", [Change("order", order)], trigger="site:push")
    worker = Worker(engine, name="w", options=WorkerOptions(tenant_lease=False))
    await worker.drain()
    dashboard = Dashboard(read_sides=lambda entity, cid: read_sides(engine, entity, cid))
    app = create_app(db, clock=clock, dashboard=dashboard)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://obmen") as http:
        russian = (await http.get("/")).text
        english = (await http.get("/", params={"lang": "en"})).text
        status = (await http.get("/api/status")).json()
        metrics = (await http.get("/metrics")).text

        fakes["bitrix24"].knobs.refuse = None
        clock.advance(61)
        await worker.drain()
        after = (await http.get("/")).text
        cleared = (await http.get("/api/status")).json()

    assert "<p class='outage' data-outage='bitrix24'>Битрикс24 отказывает: ACCESS_DENIED" in russian
    assert "следующая проверка в <time" in russian
    assert "class='card refused' data-system='bitrix24'" in russian
    assert "data-count='held'" in russian
    assert "Bitrix24 refuses: ACCESS_DENIED" in english
    assert "next probe at <time" in english
    [outage] = status["outages"]
    assert (outage["system"], outage["reason"], outage["probes"]) == ("bitrix24", REASON, 0)
    assert outage["next_probe"] == outage["since"] + 60
    assert outage["text"].startswith(f"Bitrix24 refuses: {REASON} since ")
    assert f"Битрикс24 отказывает: {REASON} с " in outage["text"]
    assert status["parked"]["total"] == 0
    assert 'obmen_system_refusing_seconds{system="bitrix24"}' in metrics
    assert not any("breaker" in c["source"] for c in status["checkpoints"])

    assert "data-outage" not in after
    assert cleared["outages"] == []
    assert cleared["depth"] == 0
    assert [o["number"] for o in fakes["bitrix24"].objects("order").values()] == ["132"]
