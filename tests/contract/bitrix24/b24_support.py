"""What the Bitrix24 contract tests share: the sandbox in process and our clients wired to it via ASGI."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx

from obmen.connectors.bitrix24.client.auth import Webhook
from obmen.connectors.bitrix24.client.rest import Bitrix24Client, Retry
from obmen_sandbox.bitrix24 import Bitrix24Sandbox
from obmen_sandbox.bitrix24.control import dump

HOOK = "1/sandboxwebhooktoken"
BASE = "http://portal.test"

Build = Callable[..., Bitrix24Client]


class SandboxTime:
    """Sleeping advances the sandbox's clock: limits and token lifetimes play out instantly."""

    def __init__(self, sandbox: Bitrix24Sandbox) -> None:
        self.sandbox = sandbox
        self.slept = 0.0

    def now(self) -> float:
        return float(self.sandbox.clock.now())

    async def sleep(self, seconds: float) -> None:
        self.slept += seconds
        self.sandbox.clock.advance(max(0.0, seconds))


def make_sandbox(limits: str = "off", **kw: Any) -> Bitrix24Sandbox:
    sandbox = Bitrix24Sandbox(webhook=HOOK, limits=limits, domain="portal.test", **kw)
    sandbox.clock.freeze()  # a controllable clock, moved only by our sleeps or by the test
    return sandbox


def rows(sandbox: Bitrix24Sandbox, table: str) -> list[dict[str, Any]]:
    """Every row of one sandbox table."""
    return list(dump(sandbox.portal)["tables"].get(table, []))


def build_client(sandbox: Bitrix24Sandbox, limits: str = "off", **kw: Any) -> Bitrix24Client:
    """Our client on the sandbox's ASGI app, sleeping on the sandbox clock."""
    time = SandboxTime(sandbox)
    return Bitrix24Client(
        kw.pop("auth", Webhook(f"{BASE}/rest/{HOOK}/")),
        limits=limits,
        transport=kw.pop("transport", httpx.ASGITransport(sandbox.app)),
        sleep=time.sleep,
        clock=time.now,
        retry=kw.pop("retry", Retry(attempts=8, base=0.5, cap=5.0)),
        **kw,
    )
