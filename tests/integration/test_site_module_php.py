"""The obmen.ping 1C-Bitrix module, run by php-cli as the kernel would, against obmen's real `/hooks/site`.

`tests/php/run_handler.php` installs the module into a stub of the kernel (`tests/php/kernel_stub.php`),
fires `OnSaleShipmentEntitySaved`, `OnSalePaymentEntitySaved` and `OnSaleOrderSaved` with their entities,
and runs the background jobs the handlers queued: each one POSTs a signed ping to obmen, which enqueues the
order's key (docs/protocols/site-rest.md §5). The Makefile installs php-cli when it is missing.
"""

from __future__ import annotations

import asyncio
import json
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

from obmen.app.runtime import WebServer, build_runtime
from obmen.config.load import load_settings
from obmen.store.database import upgrade
from obmen_sandbox.serving import free_port

REPO = Path(__file__).resolve().parents[2]
MODULE = REPO / "integrations" / "bitrix-module" / "obmen.ping"
HARNESS = REPO / "tests" / "php" / "run_handler.php"
SECRET = "module-secret"

pytestmark = pytest.mark.skipif(
    shutil.which("php") is None, reason="php-cli is not installed (make installs it)"
)


@pytest.fixture
async def obmen(tmp_path: Path) -> AsyncIterator[str]:
    """obmen's web app in rest mode, on a real socket (its loops are not run: the keys stay queued)."""
    env = {
        "OBMEN_STATE_DIR": str(tmp_path),
        "OBMEN_SITE__MODE": "rest",
        "OBMEN_SITE__REST_URL": "http://127.0.0.1:9/rest/1/",
        "OBMEN_SITE__REST_TOKEN": "unused",
        "OBMEN_SITE__PING_SECRET": SECRET,
    }
    settings = load_settings(None, env=env)
    await asyncio.to_thread(upgrade, settings.database.url)
    runtime = await build_runtime(settings)
    port = free_port()
    server = WebServer(uvicorn.Config(runtime.app, host="127.0.0.1", port=port, log_level="warning"))
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            raise RuntimeError(f"obmen could not listen: {task.exception()}")
        await asyncio.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task
        await runtime.aclose()


async def run_module(url: str, secret: str, order: int) -> dict[str, Any]:
    process = await asyncio.create_subprocess_exec(
        "php",
        str(HARNESS),
        str(MODULE),
        url,
        secret,
        str(order),
        str(order * 10),
        str(order * 100),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await process.communicate()
    assert process.returncode == 0, err.decode()
    answer: dict[str, Any] = json.loads(out)
    return answer


async def test_the_module_pings_obmen_for_each_saved_entity_and_obmen_queues_the_order(obmen: str) -> None:
    answer = await run_module(f"{obmen}/hooks/site", SECRET, 7)
    # Every handler answered SUCCESS at once; the pings left as background jobs (none for the system one).
    assert [name for name, _ in answer["results"]].count("OnSaleShipmentEntitySaved") == 2
    assert {kind for _, kind in answer["results"]} == {1}
    assert answer["jobs"] == 3
    assert [s["status"] for s in answer["sent"]] == [200, 200, 200]
    assert all(json.loads(s["body"])["queued"] == 1 for s in answer["sent"])
    async with httpx.AsyncClient() as http:
        timeline = (await http.get(f"{obmen}/api/timeline/order/site:7")).json()
    assert [q["key"] for q in timeline["queued"]] == ["order@site:7"]  # three pings, one key
    assert timeline["queued"][0]["trigger"] == "site:event"


async def test_a_ping_signed_with_another_secret_is_refused(obmen: str) -> None:
    answer = await run_module(f"{obmen}/hooks/site", "not-the-secret", 8)
    assert [s["status"] for s in answer["sent"]] == [403, 403, 403]
    async with httpx.AsyncClient() as http:
        reply = await http.get(f"{obmen}/api/timeline/order/site:8")
    assert reply.status_code == 404  # obmen knows nothing of the order
