"""The web app over in-process HTTP: liveness, readiness, metrics and status reflect the store."""

from __future__ import annotations

import httpx

from obmen.store import queue, setbacks
from obmen.store.database import Database
from obmen.store.queue import NewItem
from obmen.store.state import JournalEntry
from obmen.web.app import Metrics, create_app


def client(db: Database, metrics: Metrics | None = None) -> httpx.AsyncClient:
    app = create_app(db, metrics=metrics, clock=lambda: 1000.0)
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://obmen")


async def test_health_and_readiness(db: Database) -> None:
    async with client(db) as http:
        assert (await http.get("/healthz")).json() == {"status": "ok"}
        ready = await http.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["status"] == "ready"


async def test_readiness_fails_on_an_unmigrated_database(tmp_path: object) -> None:
    empty = Database.connect(f"sqlite:///{tmp_path}/empty.db")
    try:
        async with client(empty) as http:
            response = await http.get("/readyz")
        assert response.status_code == 503
        assert "obmen db upgrade" in response.json()["reason"]
    finally:
        await empty.close()


async def test_metrics_and_status_show_queue_parked_and_writes(db: Database) -> None:
    async with db.begin() as conn:
        await queue.enqueue(
            db, conn, "default", [NewItem("order", "c1"), NewItem("order", "c2", delay=60)], now=1000
        )
    (item,) = await queue.claim(db, "default", "w", limit=1, lease=30, now=1000)
    async with db.begin() as conn:
        await setbacks.park(db, conn, "default", item, reason="PermanentError: ИНН неверен", now=1001)
    metrics = Metrics()
    entry = JournalEntry("order", "c1", "update", "bitrix24", {"status": "won"}, "site:push", "site")
    metrics.applied(entry, enqueued_at=999.5, now=1000.0)
    async with client(db, metrics) as http:
        text = (await http.get("/metrics")).text
        status = (await http.get("/api/status")).json()
        page = (await http.get("/")).text
    assert 'obmen_queue_items{entity="order",state="delayed"} 1.0' in text
    assert "obmen_parked_items 1.0" in text
    assert 'obmen_writes_total{action="update",entity="order",target="bitrix24"} 1.0' in text
    assert 'obmen_propagation_seconds_bucket{entity="order",le="0.5",target="bitrix24"} 1.0' in text
    assert status["parked"]["total"] == 1
    assert status["parked"]["items"][0]["reason"] == "PermanentError: ИНН неверен"
    assert "ИНН неверен" in page


async def test_page_escapes_what_remote_systems_said(db: Database) -> None:
    """Parked reasons and keys come from remote systems and ids: the page shows them as text."""
    async with db.begin() as conn:
        await queue.enqueue(
            db, conn, "default", [NewItem("order", system="site", external_id="<b>1")], now=1000
        )
    (item,) = await queue.claim(db, "default", "w", limit=1, lease=30, now=1000)
    async with db.begin() as conn:
        await setbacks.park(db, conn, "default", item, reason="<script>alert(1)</script>", now=1001)
    async with client(db) as http:
        page = (await http.get("/")).text
    assert "<script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "order@site:&lt;b&gt;1" in page
    assert "api/parked/order%40site%3A%3Cb%3E1/retry" in page
