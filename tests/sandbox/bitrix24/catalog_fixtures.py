"""Helpers for the catalog tests: a client driving a real `Bitrix24Sandbox` over in-process HTTP.

`open_api()` yields an `Api`: `await api("catalog.product.add", fields={...})` POSTs a JSON body to the
webhook route and answers an `Answer` (`result`, `total`, `next`) or raises `ApiError` with the wire
code and HTTP status. `api.events` records what the methods emitted through the portal.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx

from obmen_sandbox.bitrix24 import Bitrix24Sandbox, catalog
from obmen_sandbox.bitrix24.registry import Call

HOOK = "1/catalogtoken"
BASE = "http://portal.test"


@dataclass(frozen=True)
class Answer:
    """A successful answer: `result` and, for lists, `total` and `next`."""

    result: Any
    total: int | None = None
    next: int | None = None


class ApiError(Exception):
    """An error answer."""

    def __init__(self, code: str, description: str, status: int) -> None:
        super().__init__(f"{status} {code}: {description}")
        self.code, self.description, self.status = code, description, status


class Api:
    """Calls REST methods through the sandbox's webhook route."""

    def __init__(self, sandbox: Bitrix24Sandbox, http: httpx.AsyncClient) -> None:
        self.sandbox = sandbox
        self.portal = sandbox.portal
        self.http = http
        self.events: list[tuple[str, int | str, dict[str, Any]]] = []
        emit = self.portal.emit

        def recording(event: str, object_id: int | str, call: Call, **extra: Any) -> None:
            self.events.append((event, object_id, extra))
            emit(event, object_id, call, **extra)

        self.portal.emit = recording  # type: ignore[method-assign]

    async def raw(self, name: str, **kwargs: Any) -> httpx.Response:
        """The bare response of a POST to the method."""
        return await self.http.post(f"/rest/{HOOK}/{name}.json", **kwargs)

    async def __call__(self, name: str, **params: Any) -> Answer:
        response = await self.raw(name, json=params)
        body = response.json()
        if "error" in body:
            raise ApiError(str(body["error"]), body.get("error_description", ""), response.status_code)
        assert response.status_code == 200, response.text
        return Answer(body["result"], body.get("total"), body.get("next"))

    def store_control(self, enabled: bool) -> None:
        """Switch inventory management on the portal."""
        catalog.set_store_control(self.portal, enabled)


@asynccontextmanager
async def open_api() -> AsyncIterator[Api]:
    """A client on a fresh sandbox with a frozen clock."""
    sandbox = Bitrix24Sandbox(webhook=HOOK, limits="off", domain="portal.test")
    sandbox.clock.freeze(1_790_000_000.0)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(sandbox.app), base_url=BASE) as http:
        yield Api(sandbox, http)


async def add_product(api: Api, name: str, **fields: Any) -> dict[str, Any]:
    """Add a simple product to the product catalog; its answered row."""
    answer = await api(
        "catalog.product.add", fields={"iblockId": catalog.PRODUCT_IBLOCK, "name": name, **fields}
    )
    row: dict[str, Any] = answer.result["element"]
    return row
