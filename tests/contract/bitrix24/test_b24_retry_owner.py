"""Retrying has one owner per layer (docs/architecture.md §2.6): the client takes short waits, the queue
the long ones, and nothing sleeps a portal's late reset under a held lease."""

from __future__ import annotations

import json

import httpx
import pytest
import sqlalchemy as sa

from obmen.connectors.bitrix24.client.auth import Webhook
from obmen.connectors.bitrix24.client.rest import Bitrix24Client
from obmen.engine.context import Engine, EngineSettings
from obmen.engine.outcome import fail_batch
from obmen.engine.policy import Policy
from obmen.errors import RateLimited, Retry
from obmen.store import queue, tables
from obmen.store.database import Database
from obmen.testing.fakes import ManualClock

HOOK = "http://portal.test/rest/1/code/"
LIMITED = {
    "error": "OPERATION_TIME_LIMIT",
    "error_description": "Method is blocked due to operation time limit.",
}
BUSY = {"error": "QUERY_LIMIT_EXCEEDED", "error_description": "Too many requests"}


def _client(answers: list[tuple[int, dict[str, object]]], sleeps: list[float]) -> Bitrix24Client:
    """A client whose portal answers `answers` in turn, recording every sleep it takes."""

    def answer(request: httpx.Request) -> httpx.Response:
        status, body = answers.pop(0) if len(answers) > 1 else answers[0]
        return httpx.Response(status, content=json.dumps(body), headers={"content-type": "application/json"})

    async def sleep(seconds: float) -> None:
        sleeps.append(seconds)

    return Bitrix24Client(
        Webhook(HOOK), limits="off", transport=httpx.MockTransport(answer), sleep=sleep, retry=Retry()
    )


async def test_a_429_with_a_late_reset_is_not_slept_in_the_client() -> None:
    sleeps: list[float] = []
    async with _client([(429, LIMITED)], sleeps) as client:
        with pytest.raises(RateLimited) as limited:
            await client.call("crm.deal.list")
        assert client.requests == 1
    assert sleeps == []  # not even the short waits: the portal's own reset is far
    assert (limited.value.retry_after or 0) >= 60


async def test_a_short_wait_is_the_clients_within_its_bounds() -> None:
    sleeps: list[float] = []
    answers: list[tuple[int, dict[str, object]]] = [
        (503, BUSY),
        (503, BUSY),
        (200, {"result": [], "time": {}}),
    ]
    async with _client(answers, sleeps) as client:
        reply = await client.call("crm.deal.list")
        assert client.requests == 3
    assert reply.result == []
    policy = Retry()
    assert len(sleeps) == 2
    assert all(0 < s <= policy.max_wait for s in sleeps)
    assert sum(sleeps) <= policy.max_total


async def test_the_queue_waits_the_portals_reset_and_counts_one_attempt(db: Database) -> None:
    clock = ManualClock()
    engine = Engine(db=db, connectors={}, policy=Policy.build(), settings=EngineSettings(), clock=clock)
    async with db.begin() as conn:
        await queue.enqueue(
            db, conn, engine.tenant, [queue.NewItem("order", canonical_id="c1")], now=clock.now
        )
    items = await queue.claim(db, engine.tenant, "w", limit=10, lease=60, now=clock.now)
    async with _client([(429, LIMITED)], []) as client:
        with pytest.raises(RateLimited) as limited:
            await client.call("crm.deal.list")
    await fail_batch(engine, "w", items, limited.value)
    async with db.begin() as conn:
        [row] = (await conn.execute(sa.select(tables.work_items))).all()
        parked = (await conn.execute(sa.select(tables.parked))).all()
    assert (row.state, row.attempts, parked) == ("pending", 1, [])
    assert row.not_before - clock.now >= 60  # the portal's wait, not the first backoff of about a second
    assert "OPERATION_TIME_LIMIT" in row.last_error
