"""The site exchange runs at once when obmen queues something for the site, not at the next poll."""

from __future__ import annotations

import asyncio
import time

from obmen.connectors.site.driver import site_driver
from obmen.store.database import Database


async def test_a_wake_runs_the_next_round_now_and_stop_ends_the_wait(db: Database) -> None:
    driver = site_driver(db, url="http://127.0.0.1:9/bitrix/admin/1c_exchange.php", login="l", password="p")
    rounds: asyncio.Queue[float] = asyncio.Queue()

    async def counted() -> None:
        rounds.put_nowait(time.monotonic())

    driver._round = counted  # type: ignore[method-assign]  # the exchange itself is tested elsewhere
    stop = asyncio.Event()
    running = asyncio.create_task(driver.run(stop, interval=60))
    try:
        await asyncio.wait_for(rounds.get(), timeout=5)  # the first round runs at start
        woken = time.monotonic()
        driver.wake()
        # The poll interval is a minute: a second round within seconds is the wake's doing.
        second = await asyncio.wait_for(rounds.get(), timeout=5)
        assert second - woken < 5
    finally:
        stop.set()
        await asyncio.wait_for(running, timeout=5)  # stop also ends the minute's wait
        await driver.client.aclose()
