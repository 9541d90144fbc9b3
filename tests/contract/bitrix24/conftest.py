"""Fixtures of the Bitrix24 contract tests (helpers live in `b24_support`)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from b24_support import Build, build_client, make_sandbox

from obmen.connectors.bitrix24.client.rest import Bitrix24Client
from obmen_sandbox.bitrix24 import Bitrix24Sandbox


@pytest.fixture
def sandbox() -> Bitrix24Sandbox:
    return make_sandbox()


@pytest.fixture
def client_for() -> Build:
    return build_client


@pytest.fixture
async def client(sandbox: Bitrix24Sandbox) -> AsyncIterator[Bitrix24Client]:
    async with build_client(sandbox) as client:
        yield client
