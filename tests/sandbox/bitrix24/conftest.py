"""The Bitrix24 sandbox in process: a frozen clock, a webhook client over ASGI."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from b24sandbox_support import BASE, HOOK, Rest

from obmen_sandbox.bitrix24 import Bitrix24Sandbox


@pytest.fixture
def sandbox() -> Bitrix24Sandbox:
    sandbox = Bitrix24Sandbox(webhook=HOOK, limits="off", domain="portal.test")
    sandbox.clock.freeze(1_780_000_000.0)
    return sandbox


@pytest.fixture
async def http(sandbox: Bitrix24Sandbox) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(sandbox.app)
    async with httpx.AsyncClient(transport=transport, base_url=BASE) as client:
        yield client


@pytest.fixture
def rest(http: httpx.AsyncClient) -> Rest:
    return Rest(http)
