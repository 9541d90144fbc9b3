"""The sandboxes' control APIs read their bodies while counting (issue 13, row 4)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from obmen_sandbox.bitrix24 import Bitrix24Sandbox
from obmen_sandbox.bodies import CONTROL_LIMIT, ControlBodyLimit
from obmen_sandbox.onec import OnecSandbox
from obmen_sandbox.site import SiteSandbox


class Counted:
    """A chunked body that counts what the server read."""

    def __init__(self, total: int, chunk: int = 64 * 1024) -> None:
        self.total, self.chunk, self.sent = total, chunk, 0

    async def __aiter__(self) -> AsyncIterator[bytes]:
        while self.sent < self.total:
            self.sent += self.chunk
            yield b" " * self.chunk


async def _echo(request: Request) -> JSONResponse:
    return JSONResponse({"size": len(await request.body())})


def _app(limit: int) -> Starlette:
    return Starlette(
        routes=[Route("/_sandbox/seed", _echo, methods=["POST"]), Route("/rest/x", _echo, methods=["POST"])],
        middleware=[Middleware(ControlBodyLimit, limit=limit)],
    )


async def test_a_chunked_body_far_over_the_cap_is_refused_early() -> None:
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(_app(1024 * 1024)), base_url="http://sb"
    ) as http:
        body = Counted(300 * 1024 * 1024)
        reply = await http.post("/_sandbox/seed", content=body)
        assert reply.status_code == 413
        assert body.sent <= 1024 * 1024 + 2 * body.chunk
        small = await http.post("/_sandbox/seed", content=b"{}" * 100)
        assert small.json() == {"size": 200}  # under the cap the route reads the same bytes
        other = await http.post("/rest/x", content=b"x" * 2 * 1024 * 1024)
        assert other.json() == {"size": 2 * 1024 * 1024}  # only the control API is capped


@pytest.mark.parametrize(
    ("app", "path"),
    [
        (lambda: Bitrix24Sandbox().app, "/_sandbox/seed"),
        (lambda: SiteSandbox("obmen", "pw").app, "/_sandbox/reset"),
        (lambda: OnecSandbox("http://site.test", "1c", "pw").app, "/_sandbox/reset"),
    ],
    ids=["bitrix24", "site", "onec"],
)
async def test_every_sandbox_caps_its_control_bodies(app: object, path: str) -> None:
    transport = httpx.ASGITransport(app())  # type: ignore[operator]
    async with httpx.AsyncClient(transport=transport, base_url="http://sb") as http:
        headers = {"content-length": str(CONTROL_LIMIT + 1)}
        reply = await http.post(path, content=Counted(CONTROL_LIMIT + 1), headers=headers)
    assert reply.status_code == 413
