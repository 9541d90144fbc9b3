"""Keys committed by obmen's own process wake its worker at once; the portal client's counters show."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx

from obmen.config import load_settings
from obmen.connectors.onec.records import Record
from obmen.runtime import build_runtime
from obmen.store.database import Database, upgrade
from obmen.sync.mirrors import MirrorIngest
from obmen.sync.worker import Worker

TOKEN = "outgoing-secret"


async def test_an_event_wakes_the_worker_and_the_portal_counters_are_scraped(tmp_path: Path) -> None:
    env = {
        "OBMEN_STATE_DIR": str(tmp_path),
        "OBMEN_BITRIX24__PORTAL": "http://127.0.0.1:9",
        "OBMEN_BITRIX24__WEBHOOK_USER": "1",
        "OBMEN_BITRIX24__WEBHOOK_TOKEN": "x" * 16,
        "OBMEN_BITRIX24__OUTGOING_TOKEN": TOKEN,
    }
    settings = load_settings(None, env=env)
    await asyncio.to_thread(upgrade, str(settings.database.url))
    runtime = await build_runtime(settings)
    try:
        worker = Worker(runtime.engine)
        runtime._workers.append(worker)  # as `Runtime.run` does for the workers it starts
        async with httpx.AsyncClient(transport=httpx.ASGITransport(runtime.app), base_url="http://o") as http:
            event = {"event": "ONCRMDEALUPDATE", "data[FIELDS][ID]": "5", "auth[application_token]": TOKEN}
            assert (await http.post("/hooks/bitrix24", data=event)).json() == {"queued": 1}
            # Committed, so the worker claims it now instead of at its next poll.
            assert worker.wake.is_set()
            metrics = (await http.get("/metrics")).text
        assert "obmen_bitrix24_requests 0.0" in metrics  # nothing sent to the portal yet
        assert "obmen_bitrix24_echoes_dropped 0.0" in metrics
    finally:
        await runtime.aclose()


async def test_an_upload_that_changes_something_rings_once(db: Database) -> None:
    rung: list[int] = []
    ingest = MirrorIngest(db, "default", "site", on_enqueued=lambda: rung.append(1))
    order = Record("order", "7", {"number": "7", "status": "N"})
    await ingest.absorb([order], trigger="site:query")
    await ingest.absorb([order], trigger="site:query")  # unchanged: nothing enqueued, nobody woken
    assert rung == [1]
