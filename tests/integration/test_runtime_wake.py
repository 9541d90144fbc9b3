"""Keys committed by obmen's own process wake its worker at once; the portal client's counters show;
a worker started before the application's install attaches the portal when the tokens arrive."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx

from obmen.app.runtime import build_runtime
from obmen.config.load import load_settings
from obmen.connectors.bitrix24.client.auth import TokenFile, Tokens
from obmen.connectors.bitrix24.setup import Bitrix24Integration
from obmen.connectors.mirrored.ingest import MirrorIngest
from obmen.connectors.mirrored.records import Record
from obmen.engine.worker import Worker
from obmen.store.database import Database, upgrade

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


async def test_a_worker_started_before_the_install_attaches_the_portal_when_the_tokens_arrive(
    tmp_path: Path,
) -> None:
    env = {
        "OBMEN_STATE_DIR": str(tmp_path),
        "OBMEN_BITRIX24__MODE": "app",
        "OBMEN_BITRIX24__PORTAL": "http://127.0.0.1:9",
        "OBMEN_BITRIX24__CLIENT_ID": "local.app",
        "OBMEN_BITRIX24__CLIENT_SECRET": "s" * 16,
        "OBMEN_WORKER__POLL_INTERVAL": "0.1",
    }
    settings = load_settings(None, env=env)
    await asyncio.to_thread(upgrade, str(settings.database.url))
    runtime = await build_runtime(settings)  # an `obmen worker`: nothing installed yet
    stop = asyncio.Event()
    running = asyncio.create_task(runtime.run(stop))
    try:
        await asyncio.sleep(0.3)
        portal = runtime.integrations["bitrix24"]
        assert isinstance(portal, Bitrix24Integration)
        assert portal.connector is None
        # The install reached the `obmen serve` process, which stored the tokens in the shared state dir.
        tokens = Tokens("a" * 32, "r" * 32, "http://127.0.0.1:9/rest/", application_token="t" * 32)
        await TokenFile(tmp_path / "bitrix24-tokens.json").save(tokens)
        for _ in range(60):
            if portal.connector is not None:
                break
            await asyncio.sleep(0.1)
        assert portal.connector is not None
        assert "bitrix24" in runtime.engine.connectors
        assert portal.application_token == "t" * 32
    finally:
        stop.set()
        await asyncio.wait_for(running, timeout=10)
        await runtime.aclose()
