"""What the demo's script watches with: the systems' control APIs and obmen's own API, and a timer.

Watching reads the sandboxes' control APIs rather than the portal's REST: it must not spend the portal's
request budget (2 requests/s, shared with obmen, docs/protocols/bitrix24.md §3). `Watcher.until` times a
change until another system shows it: that time is the propagation latency the demo prints.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import httpx

from obmen.demo.stack import WEBHOOK, Stack

__all__ = ["Propagation", "Timeout", "Watcher"]

T = TypeVar("T")


class Timeout(Exception):
    """A change did not become visible in time."""


@dataclass(frozen=True)
class Propagation:
    """One change and how long it took to be seen."""

    flow: str
    what: str
    seconds: float
    #: Which interfaces carried it ("site REST → Bitrix24", "1C exchange", …).
    path: str = ""


@dataclass
class Watcher:
    """One running stack seen through its APIs, and the log of what was seen when."""

    stack: Stack
    http: httpx.AsyncClient
    timeout: float = 30.0
    log: list[Propagation] = field(default_factory=list)
    report: Callable[[Propagation], None] = lambda _: None
    #: Steps this stack's paths do not carry, each with why (said, never skipped in silence).
    gaps: list[str] = field(default_factory=list)
    note: Callable[[str], None] = lambda _: None

    # -- plumbing -----------------------------------------------------------------------------------

    async def b24(self, method: str, params: dict[str, Any] | None = None) -> Any:
        """Call the portal as a manager's browser would (its webhook)."""
        url = f"{self.stack.bitrix24}/rest/{WEBHOOK}/{method}.json"
        for attempt in range(20):
            reply = (await self.http.post(url, json=params or {})).json()
            # The manager shares the portal's bucket with obmen (docs/protocols/bitrix24.md §3): wait as a
            # polite client.
            if reply.get("error") != "QUERY_LIMIT_EXCEEDED":
                break
            await asyncio.sleep(0.5 * (attempt + 1))
        if "error" in reply:
            raise RuntimeError(f"{method}: {reply['error']} {reply.get('error_description', '')}")
        return reply["result"]

    async def _request(self, verb: str, url: str, **kwargs: Any) -> httpx.Response:
        """One request; a read (GET) is sent once more if its pooled connection was closed under it.

        A server closes an idle keep-alive connection after a few seconds, and a request that picks it up
        at that moment fails to read (`httpx.ReadError`): nothing was read, so a read may go again. A
        write is not repeated (it may have been taken).
        """
        try:
            return await self.http.request(verb, url, **kwargs)
        except (httpx.ReadError, httpx.RemoteProtocolError):
            if verb.upper() != "GET":
                raise
            return await self.http.request(verb, url, **kwargs)

    async def site(self, verb: str, path: str, body: Any = None) -> Any:
        """The storefront's control API (a customer, or the shop's back office)."""
        reply = await self._request(verb, f"{self.stack.site}/_sandbox{path}", json=body)
        if reply.status_code >= 400:
            raise RuntimeError(f"site {verb} {path}: {reply.status_code} {reply.text[:300]}")
        return reply.json()

    async def onec(self, verb: str, path: str, body: Any = None) -> Any:
        """1C's control API (an accountant, and the scheduled exchange)."""
        reply = await self._request(verb, f"{self.stack.onec}/_sandbox{path}", json=body)
        if reply.status_code >= 400:
            raise RuntimeError(f"1C {verb} {path}: {reply.status_code} {reply.text[:300]}")
        return reply.json()

    async def until(
        self,
        flow: str,
        what: str,
        probe: Callable[[], Awaitable[T | None]],
        since: float,
        *,
        record: bool = True,
        path: str = "",
    ) -> T:
        """Poll `probe` until it returns something; record how long since the change (unless `record` is
        off: waiting for a precondition is not a propagation)."""
        while True:
            found = await probe()
            if found is not None and found is not False:
                if record:
                    seen = Propagation(flow, what, time.monotonic() - since, path)
                    self.log.append(seen)
                    self.report(seen)
                return found
            if time.monotonic() - since > self.timeout:
                raise Timeout(f"{flow}: {what}: not seen within {self.timeout:.0f} s")
            await asyncio.sleep(0.05)

    def not_carried(self, flow: str, why: str) -> None:
        """Say that a step is not played because this stack's path does not carry it, and why."""
        line = f"[{flow}] not played: {why}"
        self.gaps.append(line)
        self.note(line)

    # -- paths --------------------------------------------------------------------------------------

    @property
    def site_path(self) -> str:
        """How obmen reaches the site in this stack."""
        return "site REST" if self.stack.site_mode == "rest" else "site exchange"

    @property
    def onec_path(self) -> str:
        """How obmen reaches 1C in this stack."""
        return "1C OData" if self.stack.onec_mode == "odata" else "1C exchange"

    @property
    def odata(self) -> bool:
        """1C is reached through OData: it has no exchange runs to start."""
        return self.stack.onec_mode == "odata"

    # -- probes -------------------------------------------------------------------------------------
    # What a person would see in the portal is read from the sandbox's control API: watching must not
    # spend the portal's REST budget (2 requests/s, shared with obmen, docs/protocols/bitrix24.md §3).

    async def portal(self, table: str) -> list[dict[str, Any]]:
        """Rows of one of the portal's tables, as the sandbox holds them."""
        reply = await self._request("GET", f"{self.stack.bitrix24}/_sandbox/dump", params={"tables": table})
        return list(reply.json()["tables"].get(table, []))

    async def b24_products(self) -> list[dict[str, Any]]:
        """Every product of the portal's product catalog (not its variations)."""
        return [r for r in await self.portal("catalog.product") if not r.get("parentId")]

    async def site_catalog(self) -> dict[str, Any]:
        """The storefront's first page of products, with its totals."""
        return dict(await self.site("GET", "/products?offset=0&limit=500"))

    async def deal_of(self, number: str) -> dict[str, Any] | None:
        """The deal carrying a site order's number, if obmen has made it."""
        return next((d for d in await self.portal("crm.deal") if number in str(d.get("TITLE"))), None)

    async def invoice_of(self, deal_id: Any) -> dict[str, Any] | None:
        """The smart invoice linked to a deal."""
        invoices = await self.portal("crm.smart_invoice")
        return next((i for i in invoices if str(i.get("PARENT_ID_2")) == str(deal_id)), None)

    async def settled(self, what: str = "obmen's queue") -> None:
        """Wait until obmen's queue is empty (nothing pending or running), or fail."""
        started = time.monotonic()
        while (await self.obmen_status())["depth"]:
            if time.monotonic() - started > self.timeout:
                raise Timeout(f"{what}: not settled within {self.timeout:.0f} s")
            await asyncio.sleep(0.1)

    async def quiet(self, pause: float = 1.5) -> None:
        """Wait until obmen's queue is empty and stays so while late events land (before flow 8)."""
        await self.settled()
        await asyncio.sleep(pause)
        await self.settled()

    async def obmen_status(self) -> dict[str, Any]:
        """obmen's own `/api/status` (queue, parked, conflicts), as `obmen status` shows it."""
        return dict((await self._request("GET", f"{self.stack.obmen}/api/status")).json())

    async def journal(self, after: int = 0) -> list[dict[str, Any]]:
        """obmen's journal of propagations newer than entry `after`, oldest first."""
        reply = await self._request("GET", f"{self.stack.obmen}/api/propagations", params={"limit": 500})
        return sorted((r for r in reply.json()["items"] if r["id"] > after), key=lambda r: r["id"])

    async def timeline(self, entity: str, key: str) -> dict[str, Any]:
        """obmen's timeline of one object (`obmen explain`): links, the agreed base, journal, outbox."""
        reply = await self._request("GET", f"{self.stack.obmen}/api/timeline/{entity}/{key}")
        return dict(reply.json()) if reply.status_code == 200 else {}
