"""Fixtures: a site sandbox over in-process ASGI, a 1C driver bound to it, and a shop with a catalog.

A module that sets `REST_WEBHOOK` (`"1/sandboxcode"`) gets a sandbox serving its REST under that webhook,
with the default exchange limits.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from site_driver import LOGIN, PASSWORD, OneC, small_catalog

from obmen_sandbox.site import SiteSandbox


@pytest.fixture
def sandbox(request: pytest.FixtureRequest, tmp_path: Path) -> SiteSandbox:
    webhook = getattr(request.module, "REST_WEBHOOK", None)
    if webhook:
        return SiteSandbox(LOGIN, PASSWORD, work_dir=tmp_path / "work", webhook=webhook)
    return SiteSandbox(LOGIN, PASSWORD, file_limit=4096, portion=10, work_dir=tmp_path / "work")


@pytest.fixture
async def client(sandbox: SiteSandbox) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=sandbox.app)
    async with httpx.AsyncClient(transport=transport, base_url="http://site.test") as http:
        yield http


@pytest.fixture
def onec(client: httpx.AsyncClient) -> OneC:
    return OneC(client)


@pytest.fixture
async def shop(onec: OneC, client: httpx.AsyncClient) -> httpx.AsyncClient:
    """The site once 1C's catalog exchange has filled it."""
    await onec.catalog_run(small_catalog(), use_zip=False)
    return client
