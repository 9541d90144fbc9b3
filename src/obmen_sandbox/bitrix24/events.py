"""Events: bindings, online delivery and the offline queue (docs/protocols/bitrix24.md §6).

Online: a form-encoded POST per bound handler, sent after the REST reply, never retried (§6.4).
Offline: one record per (event, object) and queue (application, `auth_connector`), coalesced while
unreserved; `event.offline.get` with `clear=0` reserves records under a `process_id` (§6.5). A change
made by a call that names the binding's `auth_connector` is not queued for it (echo suppression).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import itertools
import random
import secrets
import ssl
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import httpx

from obmen_sandbox.bitrix24.auth import ACCESS_LIFETIME, App, Auth
from obmen_sandbox.bitrix24.registry import Call, Clock

__all__ = ["KNOWN_EVENTS", "Binding", "EventFaults", "EventHub", "flatten"]

_CRM = ("LEAD", "DEAL", "CONTACT", "COMPANY", "DYNAMICITEM", "REQUISITE")
#: Events a portal offers (`events`); another method family may add its own names (catalog events).
KNOWN_EVENTS: set[str] = {f"ONCRM{x}{a}" for x in _CRM for a in ("ADD", "UPDATE", "DELETE")} | {
    "ONCRMDEALMOVETOCATEGORY",
    "ONAPPINSTALL",
    "ONAPPUNINSTALL",
    "ONOFFLINEEVENT",
    *(f"CATALOG.PRODUCT.ON.{a}" for a in ("ADD", "UPDATE", "DELETE")),
    *(f"CATALOG.PRICE.ON.{a}" for a in ("ADD", "UPDATE", "DELETE")),
}


def flatten(value: Any, prefix: str = "") -> list[tuple[str, str]]:
    """Nested data as PHP bracket pairs: {"data": {"FIELDS": {"ID": 1}}} → [("data[FIELDS][ID]", "1")]."""
    if isinstance(value, Mapping):
        pairs: list[tuple[str, str]] = []
        for key, item in value.items():
            pairs += flatten(item, f"{prefix}[{key}]" if prefix else str(key))
        return pairs
    if isinstance(value, list):
        return [p for i, item in enumerate(value) for p in flatten(item, f"{prefix}[{i}]")]
    if value is None:
        return [(prefix, "")]
    if isinstance(value, bool):
        return [(prefix, "1" if value else "0")]
    return [(prefix, str(value))]


@dataclass
class Binding:
    """One `event.bind`."""

    id: int
    client_id: str
    event: str
    handler: str
    auth_type: int
    offline: bool
    connector: str
    options: dict[str, Any]
    last_doorbell: float | None = None


@dataclass
class EventFaults:
    """Injected misbehaviour of online delivery (control API `/faults`)."""

    drop: float = 0.0
    duplicate: float = 0.0
    delay: float = 0.0
    #: Share of deliveries held back `reorder_seconds` more, so that later ones overtake them (§6.4).
    reorder: float = 0.0
    reorder_seconds: float = 1.0
    rng: random.Random = field(default_factory=lambda: random.Random(0))


#: The TLS settings of online deliveries, built once (httpx builds one per client otherwise).
_TLS = ssl.create_default_context()


@dataclass
class EventHub:
    """Bindings, the offline queue and online deliveries of one portal."""

    clock: Clock
    auth: Auth
    domain: str
    member_id: str
    transport: httpx.AsyncBaseTransport | None = None
    #: Where the portal's REST lives, for `auth[client_endpoint]` (https://{domain} unless served locally).
    base_url: str = ""
    faults: EventFaults = field(default_factory=EventFaults)
    bindings: list[Binding] = field(default_factory=list)
    offline: dict[int, dict[str, Any]] = field(default_factory=dict)
    #: Every online POST attempted: (url, form pairs, HTTP status or an error text).
    delivered: list[tuple[str, list[tuple[str, str]], int | str]] = field(default_factory=list)
    _pending: list[tuple[str, list[tuple[str, str]]]] = field(default_factory=list)
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)
    _ids: Any = field(default_factory=lambda: itertools.count(1))
    _muted: bool = False
    _record_ids: Any = field(default_factory=lambda: itertools.count(1))

    def reset(self) -> None:
        """Drop bindings, queued records and pending deliveries."""
        self.bindings.clear()
        self.offline.clear()
        self._pending.clear()
        self.delivered.clear()

    @contextlib.contextmanager
    def muted(self) -> Iterator[None]:
        """No events while seeding: a seeded portal starts with an empty queue."""
        self._muted = True
        try:
            yield
        finally:
            self._muted = False

    def next_binding_id(self) -> int:
        """A new `event_handler_id`."""
        return int(next(self._ids))

    # -- emission ---------------------------------------------------------------------------------

    def emit(self, event: str, object_id: int | str, call: Call, **extra: Any) -> None:
        """An object changed: queue online deliveries and offline records."""
        if self._muted:
            return
        name = event.upper()
        data = {"FIELDS": {"ID": object_id, **extra}}
        for binding in list(self.bindings):
            if binding.event != name:
                continue
            if binding.offline:
                if binding.connector and binding.connector == call.auth_connector:
                    continue  # the caller's own change (§6.5)
                self._enqueue_offline(binding, name, data, call)
            else:
                self.post(binding, name, data)

    def post(self, binding: Binding, event: str, data: Mapping[str, Any], *, refresh: bool = False) -> None:
        """Queue one online delivery to a bound handler."""
        app = self.auth.apps.get(binding.client_id)
        if app is None:
            return
        payload = {
            "event": event,
            "event_handler_id": binding.id,
            "data": data,
            "ts": int(self.clock.now()),
            "auth": self.auth_block(app, refresh=refresh),
        }
        self._pending.append((binding.handler, flatten(payload)))

    def auth_block(self, app: App, *, refresh: bool = False) -> dict[str, Any]:
        """The `auth[...]` members of an event (§6.3); `refresh_token` only on install-type events."""
        access, refresh_token = self.auth.issue(app) if refresh else (self.auth.access_for(app), "")
        block: dict[str, Any] = {
            "access_token": access,
            "expires": int(self.clock.now()) + ACCESS_LIFETIME,
            "expires_in": ACCESS_LIFETIME,
            "scope": ",".join(sorted(app.scopes)),
            "domain": self.domain,
            "server_endpoint": "https://oauth.bitrix.info/rest/",
            "status": "L",
            "client_endpoint": f"{self.base_url or 'https://' + self.domain}/rest/",
            "member_id": self.member_id,
            "user_id": app.user_id,
        }
        if refresh:
            block["refresh_token"] = refresh_token
        block["application_token"] = app.application_token
        return block

    def post_raw(self, url: str, payload: Mapping[str, Any]) -> None:
        """Queue a POST of arbitrary form data (ONAPPINSTALL to an install handler)."""
        self._pending.append((url, flatten(payload)))

    def _enqueue_offline(self, binding: Binding, event: str, data: Mapping[str, Any], call: Call) -> None:
        message = hashlib.md5(f"{event}|{data['FIELDS']['ID']}".encode(), usedforsecurity=False).hexdigest()
        now = self.clock.now()
        for record in self.offline.values():
            same_queue = record["_app"] == binding.client_id and record["_connector"] == binding.connector
            if (
                same_queue
                and record["MESSAGE_ID"] == message
                and not record["PROCESS_ID"]
                and not record["ERROR"]
            ):
                record.update(TIMESTAMP_X=now, EVENT_DATA=dict(data))
                break
        else:
            record_id = int(next(self._record_ids))
            self.offline[record_id] = {
                "ID": record_id,
                "TIMESTAMP_X": now,
                "EVENT_NAME": event,
                "EVENT_DATA": dict(data),
                "EVENT_ADDITIONAL": {"user_id": call.user_id},
                "MESSAGE_ID": message,
                "PROCESS_ID": "",
                "ERROR": 0,
                "_app": binding.client_id,
                "_connector": binding.connector,
            }
        self._doorbell(binding.client_id)

    def _doorbell(self, client_id: str) -> None:
        """ONOFFLINEEVENT: "the queue is not empty", at most once per `minTimeout` seconds (§6.5)."""
        now = self.clock.now()
        for binding in self.bindings:
            if binding.client_id != client_id or binding.offline or binding.event != "ONOFFLINEEVENT":
                continue
            timeout = float(binding.options.get("minTimeout", 1) or 1)
            if binding.last_doorbell is None or now - binding.last_doorbell >= timeout:
                binding.last_doorbell = now
                self.post(binding, "ONOFFLINEEVENT", {})

    def new_process_id(self) -> str:
        """A fresh `process_id`."""
        return secrets.token_hex(16)

    # -- delivery ---------------------------------------------------------------------------------

    def flush(self) -> None:
        """Start sending what is pending, in the background (the REST reply does not wait)."""
        pending, self._pending = self._pending, []
        for url, pairs in pending:
            if self.faults.drop and self.faults.rng.random() < self.faults.drop:
                self.delivered.append((url, pairs, "dropped"))
                continue
            faults = self.faults
            copies = 2 if faults.duplicate and faults.rng.random() < faults.duplicate else 1
            for _ in range(copies):
                late = faults.reorder and faults.rng.random() < faults.reorder
                delay = faults.delay + (faults.reorder_seconds if late else 0.0)
                task = asyncio.get_running_loop().create_task(self._send(url, pairs, delay))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)

    async def _send(self, url: str, pairs: list[tuple[str, str]], delay: float) -> None:
        if delay:
            await asyncio.sleep(delay)
        body = urlencode(pairs)
        headers = {
            "Content-Type": "application/x-www-form-urlencoded",
            "User-Agent": "Bitrix24 Webhook Engine",
        }
        try:
            # One TLS context for every delivery: building one per event cost a quarter of the CPU.
            async with httpx.AsyncClient(transport=self.transport, timeout=10, verify=_TLS) as client:
                response = await client.post(url, content=body, headers=headers)
            self.delivered.append((url, pairs, response.status_code))
        except httpx.HTTPError as exc:
            # No retries: the failure is logged and the event is gone (§6.4).
            self.delivered.append((url, pairs, f"{type(exc).__name__}: {exc}"))

    async def drain(self) -> None:
        """Wait until every started delivery has finished (tests)."""
        self.flush()
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)
