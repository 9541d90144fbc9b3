"""Helpers shared by the Bitrix24 sandbox tests (a uniquely named module: the test dirs are not packages)."""

from __future__ import annotations

from typing import Any

import httpx

HOOK = "1/sandboxtoken"
BASE = "http://portal.test"


class Rest:
    """Calls through the webhook; `call` answers the decoded body, `raw` the response."""

    def __init__(self, http: httpx.AsyncClient) -> None:
        self.http = http

    async def raw(self, method: str, body: Any = None, **kw: Any) -> httpx.Response:
        return await self.http.post(f"/rest/{HOOK}/{method}.json", json=body or {}, **kw)

    async def call(self, method: str, body: Any = None) -> Any:
        response = await self.raw(method, body)
        assert response.status_code == 200, response.text
        return response.json()

    async def result(self, method: str, body: Any = None) -> Any:
        return (await self.call(method, body))["result"]
