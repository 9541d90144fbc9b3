"""Who holds each loop's lease, since when, and a stalled loop: in `/api/status`, the dashboard (Russian
and English), `/metrics` and `obmen status` (docs/operations.md §10)."""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import httpx

from obmen.store import state
from obmen.store.database import Database, upgrade
from obmen.web.app import create_app

NOW = 10_000.0
TTL = 15.0


async def _loops(db: Database) -> None:
    """The scheduler moves; the site exchange is renewed by its heartbeat but stuck in its query."""
    async with db.begin() as conn:
        await state.acquire_lease(
            conn, "scheduler:default", "shop:41:aa11bb", ttl=TTL, now=NOW - 2, doing="idle"
        )
        await state.acquire_lease(conn, "site-exchange:default", "shop:41:aa11bb", ttl=TTL, now=NOW - 600)
        await state.acquire_lease(
            conn,
            "site-exchange:default",
            "shop:41:aa11bb",
            ttl=TTL,
            now=NOW - 3,
            ticked_at=NOW - 300,
            doing="pull: query",
        )
        # A dead process's tenant lease, lapsed: free for the next live one.
        await state.acquire_lease(conn, "tenant:default", "shop:40:cc22dd", ttl=TTL, now=NOW - 100)


async def test_status_api_dashboard_and_metrics_flag_the_stalled_loop(db: Database) -> None:
    await _loops(db)
    app = create_app(db, clock=lambda: NOW)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://obmen") as http:
        status = (await http.get("/api/status")).json()
        ru = (await http.get("/?lang=ru")).text
        en = (await http.get("/?lang=en")).text
        fragment = (await http.get("/?fragment=loops&lang=en")).text
        metrics = (await http.get("/metrics")).text
    leases = {x["name"]: x for x in status["leases"]}
    assert status["stalled"] == ["site-exchange:default"]
    exchange = leases["site-exchange:default"]
    assert (exchange["holder"], exchange["since"], exchange["doing"]) == (
        "shop:41:aa11bb",
        NOW - 600,
        "pull: query",
    )
    assert exchange["tick_age"] == 300
    assert leases["scheduler:default"]["state"] == "held"
    assert leases["tenant:default"]["state"] == "expired"
    for word in ("Циклы", "Обмен с сайтом", "ЗАВИС: держит аренду, но не продвигается"):
        assert word in ru
    for word in ("Loops", "Site exchange", "STALLED: holds its lease but is not moving", "shop:41:aa11bb"):
        assert word in en
    assert "class='lease stalled'" in fragment
    assert "pull: query" in fragment
    assert 'obmen_lease_stalled{lease="site-exchange:default"} 1.0' in metrics
    assert 'obmen_lease_stalled{lease="scheduler:default"} 0.0' in metrics
    assert 'obmen_lease_tick_age_seconds{lease="site-exchange:default"} 300.0' in metrics
    assert "tenant:default" not in metrics  # a lapsed lease is nobody's loop


def test_obmen_status_says_who_holds_each_loop_and_which_is_stalled(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/obmen.db"
    upgrade(url)
    now = time.time()

    async def seed() -> None:
        db = Database.connect(url)
        try:
            async with db.begin() as conn:
                await state.acquire_lease(
                    conn,
                    "site-exchange:default",
                    "shop:41:aa11bb",
                    ttl=TTL,
                    now=now,
                    ticked_at=now - 300,
                    doing="pull: query",
                )
        finally:
            await db.close()

    asyncio.run(seed())
    env = {**os.environ, "OBMEN_STATE_DIR": str(tmp_path)}
    shown = subprocess.run(
        [sys.executable, "-m", "obmen", "status"], env=env, capture_output=True, text=True, timeout=60
    )
    assert shown.returncode == 0, shown.stderr
    assert "Leases / аренды" in shown.stdout
    assert "STALLED" in shown.stdout
    said = re.search(
        r"site-exchange:default: held by shop:41:aa11bb but its loop has not moved for (\d+) s", shown.stdout
    )
    assert said is not None, shown.stdout
    assert 300 <= int(said.group(1)) < 400
    as_json = subprocess.run(
        [sys.executable, "-m", "obmen", "status", "--json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert json.loads(as_json.stdout)["stalled"] == ["site-exchange:default"]
