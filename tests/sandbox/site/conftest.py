"""Fixtures: a site sandbox over in-process ASGI and a 1C driver bound to it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from site_driver import LOGIN, PASSWORD, OneC

from obmen_sandbox.site import SiteSandbox


@pytest.fixture
def sandbox(tmp_path: Path) -> SiteSandbox:
    return SiteSandbox(LOGIN, PASSWORD, file_limit=4096, portion=10, work_dir=tmp_path / "work")


@pytest.fixture
async def client(sandbox: SiteSandbox) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=sandbox.app)
    async with httpx.AsyncClient(transport=transport, base_url="http://site.test") as http:
        yield http


@pytest.fixture
def onec(client: httpx.AsyncClient) -> OneC:
    return OneC(client)
