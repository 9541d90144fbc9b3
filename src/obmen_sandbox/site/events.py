"""The sale module's events leaving the site: REST outgoing webhooks and the obmen.ping module's pings.

Two ways out, after docs/protocols/site-rest.md §4:

- an *outgoing webhook* the administrator made (handler URL, events, `application_token`): a
  form-encoded POST per event, `event=ONSALEORDERSAVED`, `data[FIELDS][ID]`, `ts`,
  `auth[application_token]` (the REST reference's "what the handler receives"), carrying only the id of the
  entity saved: an order, a payment, a shipment, a property value;
- the *obmen.ping module* (§5): the kernel's `OnSaleOrderSaved`, `OnSalePaymentEntitySaved`,
  `OnSaleShipmentEntitySaved` handlers post `{"event", "id", "order"}` as JSON, signed with
  `X-Obmen-Signature: sha256=<HMAC-SHA256 of the body under the shared secret>`.

Deliveries are sent after the reply, in the background, at most once and never retried (as the REST
reference says of events); faults drop or delay them.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import itertools
import json
import ssl
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import httpx

from obmen_sandbox.site.orders import Order, Parts

__all__ = ["RECOMMENDED", "REST_EVENTS", "Binding", "Module", "SiteEvents", "signature"]

#: What each part of a save raises over REST: event name → (part, which id it carries).
REST_EVENTS: dict[str, str] = {
    "ONSALEORDERSAVED": "order",
    "ONORDERENTITYSAVED": "order",
    "ONPAYMENTENTITYSAVED": "payment",
    "ONSHIPMENTENTITYSAVED": "shipment",
    "ONPROPERTYVALUEENTITYSAVED": "property",
}
#: The kernel's events the obmen.ping module handles (docs/protocols/site-rest.md §5).
MODULE_EVENTS = {
    "payment": "OnSalePaymentEntitySaved",
    "shipment": "OnSaleShipmentEntitySaved",
    "order": "OnSaleOrderSaved",
}
_ORDER_OF_PARTS = ("property", "payment", "shipment", "order")
#: What an integrator binds (docs/protocols/site-rest.md §7): an order's, its payment's, its shipment's saves.
RECOMMENDED = ("ONSALEORDERSAVED", "ONPAYMENTENTITYSAVED", "ONSHIPMENTENTITYSAVED")
#: One TLS context for every delivery (building one per event costs a good part of a delivery's CPU).
_TLS = ssl.create_default_context()


def signature(secret: str, body: bytes) -> str:
    """The `X-Obmen-Signature` value of a ping body."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


@dataclass
class Binding:
    """One outgoing webhook: where it posts, which events, and the token it signs them with."""

    id: int
    handler: str
    events: frozenset[str]
    application_token: str

    def json(self) -> dict[str, Any]:
        """The control API's view."""
        return {
            "id": self.id,
            "handler": self.handler,
            "events": sorted(self.events),
            "application_token": self.application_token,
        }


@dataclass
class Module:
    """The installed obmen.ping module: obmen's URL and the shared secret."""

    url: str
    secret: str


@dataclass
class SiteEvents:
    """Bindings, the module, and deliveries waiting to be sent."""

    domain: str = "shop.example.ru"
    clock: Callable[[], float] = time.time
    bindings: list[Binding] = field(default_factory=list)
    module: Module | None = None
    #: Faults: drop this many next deliveries; delay each by this many seconds.
    drop: int = 0
    delay: float = 0.0
    #: Every delivery: {"url", "event", "id", "status"} (an HTTP status, "dropped" or an error text).
    delivered: list[dict[str, Any]] = field(default_factory=list)
    _pending: list[tuple[str, bytes, dict[str, str], dict[str, Any]]] = field(default_factory=list)
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)
    _ids: Any = field(default_factory=lambda: itertools.count(1))

    def bind(self, handler: str, events: Iterable[str], application_token: str) -> Binding:
        """Add an outgoing webhook."""
        binding = Binding(
            int(next(self._ids)), handler, frozenset(e.upper() for e in events), application_token
        )
        self.bindings.append(binding)
        return binding

    def saved(self, order: Order, parts: Parts) -> None:
        """An order was saved: queue each bound event, entities first and the order last, as Bitrix does.

        A new order saves every entity, so `parts` then holds them all.
        """
        first = order.payments[0].id if order.payments else 0
        ids = {"order": order.id, "payment": first, "shipment": order.shipment_id}
        for part in _ORDER_OF_PARTS:
            if part not in parts:
                continue
            for binding in self.bindings:
                for event in sorted(binding.events):
                    if REST_EVENTS.get(event) == part:
                        for object_id in self._ids_of(order, part, ids):
                            self._rest(binding, event, object_id, order)
            if self.module is not None and part in MODULE_EVENTS and ids[part]:
                self._ping(MODULE_EVENTS[part], ids[part], order.id)

    @staticmethod
    def _ids_of(order: Order, part: str, ids: dict[str, int]) -> list[int]:
        if part == "property":
            codes = 5 if order.customer.company else 3
            return [order.id * 10 + n for n in range(1, codes + 1)]
        if part == "payment":
            return [p.id for p in order.payments]  # each payment is an entity of its own
        # An order made through REST has no shipment until it is added (id 0).
        return [ids[part]] if ids[part] else []

    def _rest(self, binding: Binding, event: str, object_id: int, order: Order) -> None:
        fields: list[tuple[str, str]] = [("event", event), ("event_handler_id", str(binding.id))]
        fields.append(("data[FIELDS][ID]", str(object_id)))
        if event == "ONSALEORDERSAVED":
            fields += [("data[FIELDS][XML_ID]", order.xml_id), ("data[FIELDS][ACTION]", "save")]
        fields += [
            ("ts", str(int(self.clock()))),
            ("auth[domain]", self.domain),
            ("auth[client_endpoint]", f"https://{self.domain}/rest/"),
            ("auth[member_id]", hashlib.md5(self.domain.encode(), usedforsecurity=False).hexdigest()),
            ("auth[application_token]", binding.application_token),
        ]
        headers = {
            "Content-Type": "application/x-www-form-urlencoded",
            "User-Agent": "Bitrix24 Webhook Engine",
        }
        note = {"event": event, "id": object_id}
        self._pending.append((binding.handler, urlencode(fields).encode(), headers, note))

    def _ping(self, event: str, object_id: int, order_id: int) -> None:
        assert self.module is not None
        body = json.dumps({"event": event, "id": object_id, "order": order_id}).encode()
        headers = {
            "Content-Type": "application/json",
            "X-Obmen-Signature": signature(self.module.secret, body),
            "User-Agent": "obmen.ping",
        }
        self._pending.append((self.module.url, body, headers, {"event": event, "id": object_id}))

    def flush(self) -> None:
        """Start sending what is pending, in the background: the request that saved does not wait."""
        pending, self._pending = self._pending, []
        for url, body, headers, note in pending:
            if self.drop > 0:
                self.drop -= 1
                self.delivered.append({"url": url, **note, "status": "dropped"})
                continue
            task = asyncio.get_running_loop().create_task(self._send(url, body, headers, note))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _send(self, url: str, body: bytes, headers: dict[str, str], note: dict[str, Any]) -> None:
        if self.delay:
            await asyncio.sleep(self.delay)
        try:
            async with httpx.AsyncClient(timeout=10, verify=_TLS) as client:
                response = await client.post(url, content=body, headers=headers)
            self.delivered.append({"url": url, **note, "status": response.status_code})
        except httpx.HTTPError as exc:
            # Never retried: a failed delivery is gone (the REST reference on events).
            self.delivered.append({"url": url, **note, "status": f"{type(exc).__name__}: {exc}"})
        del self.delivered[:-1000]

    async def drain(self) -> None:
        """Wait until every started delivery has finished (tests)."""
        self.flush()
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    def reset(self) -> None:
        """Forget bindings, the module, faults and deliveries."""
        self.bindings.clear()
        self.module = None
        self.drop, self.delay = 0, 0.0
        self.delivered.clear()
        self._pending.clear()
