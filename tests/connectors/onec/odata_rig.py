"""What the OData connector tests share: the sandbox's service root, a settable clock, its control API."""

from __future__ import annotations

from typing import Any

import httpx

from obmen_sandbox.onec import OnecSandbox

ROOT = "http://onec/trade/odata/standard.odata"


class Clock:
    """A clock a test moves by hand (`clock.now = …`)."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


async def control(sandbox: OnecSandbox, verb: str, path: str, body: Any = None) -> Any:
    """Call the 1C sandbox's control API in process; a refusal fails the test with the sandbox's text."""
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=sandbox.app), base_url="http://onec"
    ) as http:
        reply = await http.request(verb, f"/_sandbox{path}", json=body)
        assert reply.status_code < 400, reply.text
        return reply.json()
