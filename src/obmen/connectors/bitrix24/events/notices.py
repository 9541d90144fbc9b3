"""Bitrix24 events as keys: online handler payloads, the offline queue, and binding at install.

Online events are at-most-once and carry only an id (docs/protocols/bitrix24.md §6.3, §6.4), so a payload
becomes a
key and nothing more. The offline queue is the reliable path (§6.5): read with `clear=0` (the batch is
reserved under a `process_id`), enqueue the keys, and only then `event.offline.clear` that batch. Our
own writes carry `auth_connector`, so they never come back through it.
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping, Sequence
from typing import Any

from obmen.connectors.base import Change, ChangePage
from obmen.connectors.bitrix24.client.rest import Ambiguous, Bitrix24Client
from obmen.connectors.bitrix24.crm.fields import counterparty_id
from obmen.errors import ProtocolError

__all__ = [
    "EVENTS",
    "OfflineQueue",
    "bind_events",
    "change_of",
    "changes_of",
    "parse_form",
    "verify_token",
]

#: The events obmen listens to (docs/protocols/bitrix24.md §6.2, §5.7 catalog events).
EVENTS: Sequence[str] = (
    *(
        f"ONCRM{kind}{action}"
        for kind in ("DEAL", "CONTACT", "COMPANY", "LEAD", "DYNAMICITEM")
        for action in ("ADD", "UPDATE", "DELETE")
    ),
    *(f"CATALOG.PRODUCT.ON.{action}" for action in ("ADD", "UPDATE", "DELETE")),
)
_KIND = {
    "DEAL": "order",
    "CONTACT": "contact",
    "COMPANY": "company",
    "LEAD": "lead",
    "DYNAMICITEM": "dynamic",
}
#: Catalog product types (docs/protocols/bitrix24.md §5.7): 1 simple, 3/6 parent, 4/5 variation, 7 service.
_PRODUCT_TYPES = {
    "1": ("product", "offer"),
    "3": ("product",),
    "6": ("product",),
    "4": ("offer",),
    "5": ("offer",),
}


def parse_form(pairs: Sequence[tuple[str, str]]) -> dict[str, Any]:
    """Nest PHP bracket pairs (`data[FIELDS][ID]=7`) into dicts (docs/protocols/bitrix24.md §6.3)."""
    root: dict[str, Any] = {}
    for key, value in pairs:
        head, _, rest = key.partition("[")
        parts = [head, *rest.rstrip("]").split("][")] if rest else [head]
        node = root
        for part in parts[:-1]:
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                raise ProtocolError(f"event field {key!r} clashes with a plain value")
            node = child
        node[parts[-1]] = value
    return root


def verify_token(payload: Mapping[str, Any], expected: str) -> bool:
    """Whether `auth[application_token]` is ours (the only check Bitrix24 offers).

    See docs/protocols/bitrix24.md §6.3.
    """
    auth = payload.get("auth")
    token = auth.get("application_token") if isinstance(auth, Mapping) else None
    return (
        bool(expected) and isinstance(token, str) and hmac.compare_digest(token.encode(), expected.encode())
    )


def change_of(event: str, data: Any) -> Change | None:
    """The first key an event names, or None for events obmen does not sync."""
    return next(iter(changes_of(event, data)), None)


def changes_of(event: str, data: Any) -> list[Change]:
    """The keys an event names (a simple product is both a product and its one offer)."""
    name = event.upper()
    fields = data.get("FIELDS") if isinstance(data, Mapping) else None
    if not isinstance(fields, Mapping) or not str(fields.get("ID") or "").isdigit():
        return []
    ident = str(fields["ID"])
    if name.startswith("CATALOG.PRODUCT.ON."):
        # The payload is FIELDS{ID, TYPE} (docs/protocols/bitrix24.md §5.7); an unknown type is read as both.
        kinds = _PRODUCT_TYPES.get(str(fields.get("TYPE") or ""), ("product", "offer"))
        return [Change(kind, ident) for kind in kinds]
    if not name.startswith("ONCRM"):
        return []
    entity = next((e for kind, e in _KIND.items() if name[5:].startswith(kind)), None)
    if entity == "dynamic":
        # Smart invoices share the dynamic-item events with smart processes (docs/protocols/bitrix24.md §5.5).
        return [Change("invoice", ident)] if str(fields.get("ENTITY_TYPE_ID")) == "31" else []
    if entity in ("contact", "company"):
        return [Change("counterparty", counterparty_id(entity, ident))]
    return [Change(entity, ident)] if entity else []


async def bind_events(client: Bitrix24Client, handler: str | None, *, connector: str) -> None:
    """Bind the online handler (if any) and the offline queue; an existing binding is fine.

    Application auth only: a webhook gets `WRONG_AUTH_TYPE` (docs/protocols/bitrix24.md §1.1).
    """
    calls: list[tuple[str, dict[str, Any]]] = []
    for event in EVENTS:
        if handler:
            calls.append(("event.bind", {"event": event, "handler": handler}))
        calls.append(("event.bind", {"event": event, "event_type": "offline", "auth_connector": connector}))
    if handler:
        # The doorbell: "the offline queue is not empty", at most every minTimeout seconds (§6.5). It
        # rings only for others' changes (ours carry auth_connector), and it is how a change to an object
        # obmen wrote a moment ago arrives, its online event being taken for an echo (echo.py): so the
        # documented default of 1 s, not a longer one.
        calls.append(
            ("event.bind", {"event": "ONOFFLINEEVENT", "handler": handler, "options": {"minTimeout": 1}})
        )
    for result in await client.call_many(calls):
        if isinstance(result, Exception) and "ALREADY" not in str(result).upper():
            raise result


class OfflineQueue:
    """The offline event queue as a change feed; the cursor is the reserved batch to acknowledge.

    `poll_changes` commits the keys together with the cursor, so a batch is cleared only on the
    call after the one that returned it: after its keys are safely in the queue (docs/protocols/bitrix24.md
    §6.5).
    A reading `get` whose answer was lost may have reserved a batch under a `process_id` nobody
    knows; the next read finds such batches with `event.offline.list` and re-selects them by their
    `process_id` (the parameter exists for exactly that, D:…/events/event-offline-get.md).
    """

    def __init__(self, client: Bitrix24Client, *, connector: str) -> None:
        self.client = client
        self.connector = connector
        self._suspect = False

    async def changes(self, cursor: str | None, limit: int) -> ChangePage:
        """Acknowledge the batch the caller committed (`cursor`), then reserve and return the next."""
        if cursor:
            await self.client.call(
                "event.offline.clear", {"process_id": cursor, "auth_connector": self.connector}
            )
        size = max(1, min(limit, 50))
        if self._suspect:
            orphan = await self._orphan()
            if orphan is not None:
                return await self._read({"process_id": orphan}, size, more=True)
            self._suspect = False
        try:
            return await self._read({}, size)
        except Ambiguous:
            self._suspect = True
            raise

    async def _read(self, extra: Mapping[str, Any], size: int, *, more: bool = False) -> ChangePage:
        params = {"clear": 0, "limit": size, "auth_connector": self.connector, **extra}
        reply = await self.client.call("event.offline.get", params)
        result = reply.result if isinstance(reply.result, Mapping) else {}
        events = result.get("events") or []
        changes: list[Change] = []
        for event in events:
            changes.extend(changes_of(str(event.get("EVENT_NAME") or ""), event.get("EVENT_DATA")))
        process_id = result.get("process_id") or extra.get("process_id") if events else None
        full = more or len(events) >= size
        return ChangePage(list(dict.fromkeys(changes)), str(process_id) if process_id else None, more=full)

    async def _orphan(self) -> str | None:
        """The `process_id` of a reserved batch left behind by a lost answer, if there is one."""
        listed = await self.client.call(
            "event.offline.list", {"filter": {"!PROCESS_ID": "", "ERROR": 0}, "order": {"ID": "ASC"}}
        )
        rows = listed.result if isinstance(listed.result, list) else []
        return next((str(r["PROCESS_ID"]) for r in rows if r.get("PROCESS_ID")), None)
