"""The demo's watcher sends a read once more when its pooled connection was closed under it."""

from __future__ import annotations

import httpx
import pytest

from obmen.demo.endpoints import Stack
from obmen.demo.watch import Watcher


def _watcher(handler: httpx.MockTransport) -> Watcher:
    urls = ("http://obmen", "http://b24", "http://site", "http://onec")
    stack = Stack(*urls, "login", "password", "login", "password", runtime=None)
    return Watcher(stack, httpx.AsyncClient(transport=handler))


async def test_a_read_whose_connection_was_closed_is_sent_again_and_a_write_is_not() -> None:
    calls: list[str] = []

    def answer(request: httpx.Request) -> httpx.Response:
        calls.append(request.method)
        if len(calls) % 2 == 1:
            raise httpx.ReadError("connection closed by the server", request=request)
        return httpx.Response(200, json={"depth": 0})

    watcher = _watcher(httpx.MockTransport(answer))
    assert (await watcher.obmen_status()) == {"depth": 0}
    assert calls == ["GET", "GET"]
    with pytest.raises(httpx.ReadError):
        await watcher.site("PATCH", "/orders/1", {"comment": "x"})
    assert calls == ["GET", "GET", "PATCH"]
    await watcher.http.aclose()
