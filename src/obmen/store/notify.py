"""Optional PostgreSQL wake-up: `enqueue` NOTIFYs, idle workers LISTEN (docs/architecture.md §2.9).

Latency then no longer depends on the polling interval; polling stays as the fallback, so a lost
notification (a dropped connection) only costs one interval. SQLite has no such channel.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

import psycopg
from sqlalchemy.engine import make_url

from obmen.store.database import sync_url

__all__ = ["CHANNEL", "listen"]

CHANNEL = "obmen_work"
log = logging.getLogger(__name__)


def _dsn(url: str) -> str:
    return make_url(sync_url(url)).set(drivername="postgresql").render_as_string(hide_password=False)


async def listen(url: str, tenant: str, wake: asyncio.Event, stop: asyncio.Event) -> None:
    """Set `wake` whenever work for `tenant` is enqueued, until `stop`; reconnects after failures."""
    while not stop.is_set():
        try:
            async with await psycopg.AsyncConnection.connect(_dsn(url), autocommit=True) as conn:
                await conn.execute(f"LISTEN {CHANNEL}")
                gen = conn.notifies()
                stopper = asyncio.ensure_future(stop.wait())
                try:
                    while not stop.is_set():
                        nxt = asyncio.ensure_future(anext(gen))
                        done, _ = await asyncio.wait({nxt, stopper}, return_when=asyncio.FIRST_COMPLETED)
                        if nxt not in done:
                            nxt.cancel()
                            break
                        if nxt.result().payload == tenant:
                            wake.set()
                finally:
                    stopper.cancel()
        except (psycopg.Error, OSError) as exc:
            log.warning("LISTEN %s failed (%s); polling until it reconnects", CHANNEL, exc)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=5)
