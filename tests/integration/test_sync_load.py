"""`obmen sync`: a full load or single keys, with their progress in the store, `/api/progress` and `/metrics`.

1C's mirror holds a few products (as an upload leaves them); only 1C is configured, so reconciling a
product links it and records its base, which is enough to watch a load drain.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from obmen.app.runtime import build_runtime
from obmen.config.load import load_settings
from obmen.engine.loads import full_load
from obmen.store import mirror
from obmen.store.database import Database
from obmen.store.mirror import MirrorRecord
from obmen.store.progress import read_loads

PRODUCTS = 30


@pytest.fixture
def env(tmp_path: Path, sqlite_template: Path) -> dict[str, str]:
    shutil.copy(sqlite_template, tmp_path / "obmen.db")
    env = {
        "OBMEN_STATE_DIR": str(tmp_path),
        "OBMEN_ONEC__LOGIN": "1c",
        "OBMEN_ONEC__PASSWORD": "1c-pw",
        "OBMEN_WORKER__POLL_INTERVAL": "0.1",
    }
    settings = load_settings(None, env=env)

    async def upload() -> None:
        db = Database.connect(settings.database.url)
        records = [
            MirrorRecord("product", f"p-{n:03}", {"name": f"Товар {n}", "xml_id": f"p-{n:03}"})
            for n in range(PRODUCTS)
        ]
        async with db.begin() as conn:
            await mirror.absorb(conn, "default", "onec", records, now=time.time())
        await db.close()

    asyncio.run(upload())
    return env


async def test_a_full_load_shows_its_progress_in_the_store_the_api_and_the_metrics(
    env: dict[str, str],
) -> None:
    runtime = await build_runtime(load_settings(None, env=env))
    try:
        load = await full_load(runtime.engine, ["product"])
        assert (load.total, load.scanning, load.entities) == (PRODUCTS, False, ("product",))
        [stored] = await read_loads(runtime.db, "default")
        assert (stored.name, stored.total, stored.done, stored.finished) == (load.name, PRODUCTS, 0, False)
        transport = httpx.ASGITransport(app=runtime.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://obmen") as http:
            [shown] = (await http.get("/api/progress")).json()["loads"]
            assert (shown["total"], shown["done"], shown["eta_seconds"]) == (PRODUCTS, 0, None)
            metrics = (await http.get("/metrics")).text
            assert f'obmen_load_keys{{load="{load.name}"}} {PRODUCTS}.0' in metrics
            assert f'obmen_load_done_keys{{load="{load.name}"}} 0.0' in metrics

            stop = asyncio.Event()
            working = asyncio.create_task(runtime.run(stop, resync_now=False))
            deadline = time.monotonic() + 60
            while not (await read_loads(runtime.db, "default"))[0].finished:
                assert time.monotonic() < deadline, "the load did not drain"
                await asyncio.sleep(0.1)
            stop.set()
            await working
            [shown] = (await http.get("/api/progress")).json()["loads"]
            assert (shown["done"], shown["left"], shown["finished"], shown["eta_seconds"]) == (
                PRODUCTS,
                0,
                True,
                0.0,
            )
            assert shown["rate"] > 0
            metrics = (await http.get("/metrics")).text
            assert f'obmen_load_done_keys{{load="{load.name}"}} {PRODUCTS}.0' in metrics
    finally:
        await runtime.aclose()


def _obmen(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "obmen", *args]
    return subprocess.run(command, env={**os.environ, **env}, capture_output=True, text=True, timeout=120)


def test_sync_full_works_the_load_itself_when_no_worker_runs(env: dict[str, str]) -> None:
    done = _obmen(env, "sync", "--full", "product", "--json")
    assert done.returncode == 0, done.stderr
    load = json.loads(done.stdout.splitlines()[-1])
    assert (load["total"], load["done"], load["finished"]) == (PRODUCTS, PRODUCTS, True)
    assert "Traceback" not in done.stderr


def test_sync_of_one_key_and_the_mistakes_it_explains(env: dict[str, str]) -> None:
    done = _obmen(env, "sync", "product:onec:p-007", "--json")
    assert done.returncode == 0, done.stderr
    load = json.loads(done.stdout.splitlines()[-1])
    assert (load["entities"], load["total"], load["finished"]) == (["product"], 1, True)

    unknown = _obmen(env, "sync", "--full", "spaceship")
    assert unknown.returncode == 2
    assert "unknown entity spaceship" in unknown.stderr
    assert "product" in unknown.stderr
    bad = _obmen(env, "sync", "order132")
    assert bad.returncode == 2
    assert "entity:system:external_id" in bad.stderr
    nothing = _obmen(env, "sync")
    assert nothing.returncode == 2
    assert "--full" in nothing.stderr


async def test_a_load_reads_what_is_left_from_the_queue_on_either_store(db: Database) -> None:
    from obmen.store import queue, state
    from obmen.store.progress import Load, save_load
    from obmen.store.queue import NewItem

    now = time.time()
    items = [NewItem("product", system="onec", external_id=f"p_{n}%", trigger="sync") for n in range(4)]
    seen: set[str] = set()
    async with db.begin() as conn:
        await queue.enqueue(db, conn, "default", items + items[:2], now=now, seen=seen)
        await queue.enqueue(db, conn, "default", [NewItem("order", system="site", external_id="1")], now=now)
        await state.set_cursor(conn, "default", "progress_like_but_not", "{}", now=now)
    assert len(seen) == 4
    await save_load(db, "default", Load("full-x", ("product",), now - 10, 4, False), now=now)
    [load] = await read_loads(db, "default")
    assert (load.name, load.total, load.left, load.done, load.finished) == ("full-x", 4, 4, 0, False)
    async with db.begin() as conn:
        # Only the rows under the prefix: other checkpoints are not loads.
        assert set(await state.cursors_under(conn, "default", "progress:")) == {"progress:full-x"}
        assert await state.lease_holder(conn, "tenant:default", now=now) is None
        assert await state.acquire_lease(conn, "tenant:default", "w1", ttl=30, now=now)
        assert await state.lease_holder(conn, "tenant:default", now=now) == "w1"
        assert await state.lease_holder(conn, "tenant:default", now=now + 31) is None


async def test_the_overview_and_the_metrics_show_a_load_half_done_with_its_rate_and_eta(db: Database) -> None:
    from obmen.store import queue
    from obmen.store.progress import Load, save_load
    from obmen.store.queue import NewItem
    from obmen.web.app import create_app

    now = 1_800_000_000.0
    left = [NewItem("product", system="onec", external_id=f"p-{n}", trigger="sync") for n in range(4)]
    async with db.begin() as conn:
        await queue.enqueue(db, conn, "default", left, now=now, seen=set())
    # 10 keys in 10 s, 6 of them done: 0.6 keys/s, the 4 left need 6.7 s more.
    await save_load(db, "default", Load("full-20261202", ("product",), now - 10, 10, False), now=now)
    app = create_app(db, clock=lambda: now)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://obmen") as http:
        ru = (await http.get("/", params={"fragment": "loads", "lang": "ru"})).text
        en = (await http.get("/", params={"lang": "en"})).text
        metrics = (await http.get("/metrics")).text
        [shown] = (await http.get("/api/progress")).json()["loads"]
    assert "<progress max='10' value='6'>" in ru
    assert "6 / 10" in ru
    assert "(60%)" in ru
    assert "0.6/с" in ru
    assert "6 с" in ru
    assert "идёт" in ru
    assert "Loads and resyncs" in en
    assert "0.6/s" in en
    assert "6 s" in en
    assert "running" in en
    assert "data-live='3'" in en  # the section refreshes itself, the page does not reload
    assert "data-system='progress'" not in en  # a load's note is not a system
    assert 'obmen_load_done_keys{load="full-20261202"} 6.0' in metrics
    assert 'obmen_load_rate_keys_per_second{load="full-20261202"} 0.6' in metrics
    assert 'obmen_load_eta_seconds{load="full-20261202"} 6.66' in metrics
    assert (shown["done"], shown["rate"], shown["eta_seconds"]) == (6, 0.6, 6.7)


async def test_the_overview_says_when_no_load_runs(db: Database) -> None:
    from obmen.web.app import create_app

    app = create_app(db)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://obmen") as http:
        page = (await http.get("/", params={"fragment": "loads", "lang": "en"})).text
    assert "No load: `obmen sync --full` starts the initial load" in page
