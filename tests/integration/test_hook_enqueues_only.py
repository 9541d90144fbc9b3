"""The Bitrix24 hook only enqueues (issue 13): it asks the portal nothing, invoice events become their orders'
keys later in a worker, and an event is acknowledged only once its key is committed, however many arrive
at once. The portal is the sandbox over real HTTP; its request log shows what obmen asked."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from obmen.app.runtime import Runtime, build_runtime
from obmen.config.load import load_settings
from obmen.engine.worker import Worker, WorkerOptions
from obmen.store import queue, tables
from obmen.store.database import upgrade
from obmen_sandbox.bitrix24 import Bitrix24Sandbox
from obmen_sandbox.serving import serve_in_thread

USER, CODE = "1", "sandboxwebhooktoken"
TOKEN = "outgoing-secret"


@pytest.fixture
def portal() -> Iterator[str]:
    """The sandbox portal on a port of its own; yields its base URL."""
    with serve_in_thread(Bitrix24Sandbox(webhook=f"{USER}/{CODE}", domain="portal.test").app) as base:
        yield base


@pytest.fixture
async def runtime(tmp_path: Path, portal: str) -> AsyncIterator[Runtime]:
    """obmen on that portal (webhook mode, SQLite), as `obmen serve` wires it."""
    env = {
        "OBMEN_STATE_DIR": str(tmp_path),
        "OBMEN_BITRIX24__PORTAL": portal,
        "OBMEN_BITRIX24__WEBHOOK_USER": USER,
        "OBMEN_BITRIX24__WEBHOOK_TOKEN": CODE,
        "OBMEN_BITRIX24__OUTGOING_TOKEN": TOKEN,
    }
    settings = load_settings(None, env=env)
    await asyncio.to_thread(upgrade, str(settings.database.url))
    built = await build_runtime(settings)
    try:
        yield built
    finally:
        await built.aclose()


async def _rest(portal: str, method: str, params: dict[str, Any]) -> Any:
    async with httpx.AsyncClient() as http:
        reply = await http.post(f"{portal}/rest/{USER}/{CODE}/{method}.json", json=params)
        return reply.json()["result"]


async def _portal_calls(portal: str) -> list[str]:
    async with httpx.AsyncClient() as http:
        log = (await http.get(f"{portal}/_sandbox/requests")).json()
    assert log["total"] == len(log["requests"])
    return [r["method"] for r in log["requests"]]


async def _queued(runtime: Runtime) -> list[tuple[str, str]]:
    async with runtime.db.begin() as conn:
        rows = await conn.execute(sa.select(tables.work_items.c.key, tables.work_items.c.state))
        return sorted((r.key, r.state) for r in rows)


def _event(name: str, ident: str, token: str = TOKEN, **fields: str) -> dict[str, str]:
    return {
        "event": name,
        "data[FIELDS][ID]": ident,
        **{f"data[FIELDS][{k}]": v for k, v in fields.items()},
        "ts": "1736405807",
        "auth[domain]": "portal.test",
        "auth[application_token]": token,
    }


def _hook(runtime: Runtime) -> httpx.AsyncClient:
    # A failed transaction is the app's 500, as the portal would see it, not an exception in the test.
    transport = httpx.ASGITransport(runtime.app, raise_app_exceptions=False)
    return httpx.AsyncClient(transport=transport, base_url="http://obmen")


async def test_invoice_events_ask_the_portal_nothing_and_a_worker_resolves_them_to_orders(
    runtime: Runtime, portal: str
) -> None:
    deals = [await _rest(portal, "crm.deal.add", {"fields": {"TITLE": f"d{i}"}}) for i in range(3)]
    invoices = [
        (await _rest(portal, "crm.item.add", {"entityTypeId": 31, "fields": {"parentId2": d}}))["item"]["id"]
        for d in deals
    ]
    seeded = await _portal_calls(portal)
    async with _hook(runtime) as hook:
        events = [_event("ONCRMDYNAMICITEMUPDATE", str(i), ENTITY_TYPE_ID="31") for i in [*invoices, 999999]]
        answers = await asyncio.gather(*(hook.post("/hooks/bitrix24", data=e) for e in events * 5))
    assert all((a.status_code, a.json()) == (200, {"queued": 1}) for a in answers)
    assert await _portal_calls(portal) == seeded  # fifty events, not one call to the portal
    keys = {f"invoice@bitrix24:{i}" for i in [*invoices, 999999]}
    assert await _queued(runtime) == sorted((k, "pending") for k in keys)

    worker = Worker(runtime.engine, name="w", options=WorkerOptions(tenant_lease=False))
    assert await worker.run_once() == 4  # the four invoice keys, one batch
    asked = (await _portal_calls(portal))[len(seeded) :]
    assert 1 <= len(asked) <= 2  # one lookup for the whole batch (two if it pages)
    # Each invoice is now its deal's key; the one that does not exist names nothing.
    assert await _queued(runtime) == sorted((f"order@bitrix24:{d}", "pending") for d in deals)


def _mix(rng: random.Random, n: int) -> list[tuple[str | None, dict[str, str] | bytes]]:
    """`n` posts, each with the key it should enqueue (None: it must be refused or name nothing)."""
    posts: list[tuple[str | None, dict[str, str] | bytes]] = []
    for i in range(1, n + 1):
        kind = rng.choice(["deal", "contact", "invoice", "forged", "smart", "broken", "huge"])
        if kind == "deal":
            posts.append((f"order@bitrix24:{i}", _event("ONCRMDEALUPDATE", str(i))))
        elif kind == "contact":
            posts.append((f"counterparty@bitrix24:C{i}", _event("ONCRMCONTACTADD", str(i))))
        elif kind == "invoice":
            posts.append(
                (f"invoice@bitrix24:{i}", _event("ONCRMDYNAMICITEMADD", str(i), ENTITY_TYPE_ID="31"))
            )
        elif kind == "forged":
            posts.append((None, _event("ONCRMDEALUPDATE", str(i), token="f" * 32)))
        elif kind == "smart":  # a smart process, not an invoice: answered, nothing to sync
            posts.append((None, _event("ONCRMDYNAMICITEMUPDATE", str(i), ENTITY_TYPE_ID="128")))
        elif kind == "broken":
            posts.append((None, f"event=ONCRMDEALUPDATE&data[FIELDS][ID]={i}&x=%FF".encode()))
        else:
            posts.append((None, b"event=ONCRMDEALUPDATE&pad=" + b"a" * 70_000))
    return posts


async def _post(hook: httpx.AsyncClient, body: dict[str, str] | bytes) -> httpx.Response:
    if isinstance(body, bytes):
        headers = {"content-type": "application/x-www-form-urlencoded"}
        return await hook.post("/hooks/bitrix24", content=body, headers=headers)
    return await hook.post("/hooks/bitrix24", data=body)


async def test_every_acknowledged_event_is_in_the_queue_when_it_is_answered(runtime: Runtime) -> None:
    posts = _mix(random.Random(13), 300)
    late: list[str] = []

    async def one(hook: httpx.AsyncClient, key: str | None, body: dict[str, str] | bytes) -> int:
        answer = await _post(hook, body)
        if answer.status_code == 200 and key is not None:
            async with runtime.db.begin() as conn:  # read at once: committed before the answer left
                found = await conn.execute(
                    sa.select(tables.work_items.c.key).where(tables.work_items.c.key == key)
                )
                if found.scalar_one_or_none() is None:
                    late.append(key)
        return answer.status_code

    async with _hook(runtime) as hook:
        statuses = await asyncio.gather(*(one(hook, key, body) for key, body in posts))
    assert late == []
    expected = {key for key, _ in posts if key is not None}
    for (key, body), status in zip(posts, statuses, strict=True):
        if key is not None:
            assert status == 200
        elif isinstance(body, bytes):
            assert status in (400, 413)
        else:
            assert status in (200, 403)
    assert {
        k for k, _ in await _queued(runtime)
    } == expected  # nothing refused got in, nothing acked is missing
    assert {400, 403, 413} <= set(statuses)  # the mix held every kind of refusal


async def test_an_event_whose_transaction_failed_is_not_acknowledged(
    runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = queue.enqueue
    failing = True

    async def flaky(*args: Any, **kwargs: Any) -> int:
        if failing:
            raise RuntimeError("disk full")
        return await real(*args, **kwargs)

    monkeypatch.setattr(queue, "enqueue", flaky)
    async with _hook(runtime) as hook:
        lost = await asyncio.gather(*(_post(hook, _event("ONCRMDEALUPDATE", str(i))) for i in range(20)))
        assert {a.status_code for a in lost} == {500}  # not a 200 for a key that is not there
        assert await _queued(runtime) == []
        failing = False
        kept = await _post(hook, _event("ONCRMDEALUPDATE", "7"))
    assert kept.json() == {"queued": 1}
    assert await _queued(runtime) == [("order@bitrix24:7", "pending")]
