"""A faithful, stateful Bitrix24 REST sandbox (docs/protocols/bitrix24.md §9).

`Bitrix24Sandbox(webhook="1/token", limits="off"|"cloud"|"enterprise", domain="portal.test")` holds one
portal: `.app` is the ASGI app, `.portal` its state (`registry.PortalLike`), `.clock` the sandbox clock —
real time until `clock.freeze(at=None)` or `clock.advance(seconds)` (which freezes first, so
`advance(0)` makes it controllable); `clock.resume()` lets it run again. `serve(host, port, webhook,
limits)` runs one with uvicorn for `obmen sandbox bitrix24`.

Routes: `/rest/{user}/{token}/{method}[.json]`, `/rest/{method}[.json]` (+ `auth`), `/oauth/token/`,
`/oauth/authorize/`, and the control API: `POST /_sandbox/reset`, `POST /_sandbox/seed`
(`{"users": [...], "pipelines": [...], "tables": {"crm.deal": [...]}}`), `GET /_sandbox/dump`,
`GET /_sandbox/requests` (the REST calls that arrived: `{"total", "requests": [{"method", "at"}]}`),
`POST /_sandbox/apps` (`{"handler", "events_handler"}` → tokens; ONAPPINSTALL to `handler`),
`POST /_sandbox/faults` (`error_rate`, `latency`, `timeout_rate`, `timeout_seconds`, `lost_rate`,
`moved_to`, `overload`, `free_plan`, `events: {drop, duplicate, delay, reorder, reorder_seconds}`,
`seed`), `POST /_sandbox/limits` (`operating_limit`, `costs: {method: seconds}`), `POST /_sandbox/clock`
(`freeze`, `at`, `advance`).
"""

from __future__ import annotations

from typing import Any

import httpx
import uvicorn

# Importing the method modules registers their methods.
from obmen_sandbox.bitrix24 import batch as _batch  # noqa: F401
from obmen_sandbox.bitrix24 import catalog as _catalog  # noqa: F401
from obmen_sandbox.bitrix24 import crm as _crm  # noqa: F401
from obmen_sandbox.bitrix24 import crm_dicts as _crm_dicts  # noqa: F401
from obmen_sandbox.bitrix24 import crm_items as _crm_items  # noqa: F401
from obmen_sandbox.bitrix24 import crm_links as _crm_links  # noqa: F401
from obmen_sandbox.bitrix24 import event_methods as _event_methods  # noqa: F401
from obmen_sandbox.bitrix24 import item_rows as _item_rows  # noqa: F401
from obmen_sandbox.bitrix24 import productrows as _productrows  # noqa: F401
from obmen_sandbox.bitrix24 import requisites as _requisites  # noqa: F401
from obmen_sandbox.bitrix24 import users as _users  # noqa: F401
from obmen_sandbox.bitrix24.app import build_app
from obmen_sandbox.bitrix24.clock import SandboxClock
from obmen_sandbox.bitrix24.control import install_app, seed
from obmen_sandbox.bitrix24.portal import Portal

__all__ = ["Bitrix24Sandbox", "SandboxClock", "serve"]


class Bitrix24Sandbox:
    """One sandboxed portal and its ASGI app."""

    def __init__(
        self,
        webhook: str = "1/sandboxtoken",
        limits: str = "off",
        domain: str = "portal.test",
        *,
        event_transport: httpx.AsyncBaseTransport | None = None,
        base_url: str | None = None,
    ) -> None:
        self.clock = SandboxClock()
        self.portal = Portal(
            domain=domain,
            webhook=webhook,
            limits=limits,
            clock=self.clock,
            event_transport=event_transport,
            base_url=base_url,
        )
        self.app = build_app(self.portal)

    def seed(self, data: dict[str, Any]) -> dict[str, list[int]]:
        """Load users, pipelines and table rows (same JSON as `POST /_sandbox/seed`)."""
        return seed(self.portal, data)

    def install_app(self, handler: str | None = None, events_handler: str | None = None) -> dict[str, Any]:
        """Install an application (same answer as `POST /_sandbox/apps`); ONAPPINSTALL is sent on `flush`."""
        return install_app(self.portal, handler, events_handler)

    async def drain_events(self) -> None:
        """Wait until every pending online event delivery has been attempted."""
        await self.portal.events.drain()


def serve(
    host: str = "127.0.0.1", port: int = 8024, webhook: str = "1/sandboxtoken", limits: str = "off"
) -> None:
    """Run a sandbox with uvicorn until interrupted (blocking)."""
    base = f"http://{host}:{port}"
    sandbox = Bitrix24Sandbox(webhook=webhook, limits=limits, domain=f"{host}:{port}", base_url=base)
    uvicorn.run(sandbox.app, host=host, port=port, log_level="info")
