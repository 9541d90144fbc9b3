"""`event.bind|get|unbind`, `event.offline.get|clear|error|list`, `events` (D:…/events/*.md, §6.1, §6.5).

All but `events` need an application's context: through a webhook they answer WRONG_AUTH_TYPE.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from obmen_sandbox.bitrix24 import query
from obmen_sandbox.bitrix24.crm_values import to_int
from obmen_sandbox.bitrix24.events import KNOWN_EVENTS, Binding
from obmen_sandbox.bitrix24.registry import Call, Listed, RestError, method
from obmen_sandbox.bitrix24.wire import iso

if TYPE_CHECKING:
    from obmen_sandbox.bitrix24.portal import Portal

__all__: list[str] = []

_RECORD_FIELDS = ("ID", "TIMESTAMP_X", "EVENT_NAME", "MESSAGE_ID", "PROCESS_ID", "ERROR")


def _app(call: Call) -> str:
    if call.app is None:  # the dispatcher refuses app-only methods for webhooks; batch relies on it too
        raise RestError("WRONG_AUTH_TYPE", "Current authorization type is denied for this method", 403)
    return call.app


@method("event.bind", scope="basic", app_only=True)
def event_bind(portal: Portal, call: Call) -> bool:
    """Bind a handler (online) or open an offline queue (`event_type=offline`)."""
    client_id = _app(call)
    name = str(call.param("event") or "").upper()
    if name not in KNOWN_EVENTS:
        raise RestError("ERROR_EVENT_NOT_FOUND", "Event not found")
    offline = str(call.param("event_type") or "online").lower() == "offline"
    handler = "" if offline else str(call.param("handler") or "")
    if not offline and not handler.startswith(("http://", "https://")):
        raise RestError("WRONG_HANDLER_URL", "Wrong handler URL")
    # The dispatcher lifts `auth_connector` out of the parameters into the call (auth.call_for).
    connector = (call.auth_connector or "") if offline else ""
    auth_type = to_int(call.param("auth_type")) or 0
    for binding in portal.events.bindings:
        same = (binding.client_id, binding.event, binding.handler, binding.offline, binding.connector)
        if same == (client_id, name, handler, offline, connector):
            raise RestError("ERROR_HANDLER_ALREADY_EXIST", "Handler already exists!")
    options = call.param("options") or {}
    portal.events.bindings.append(
        Binding(
            id=portal.events.next_binding_id(),
            client_id=client_id,
            event=name,
            handler=handler,
            auth_type=auth_type,
            offline=offline,
            connector=connector,
            options=dict(options) if isinstance(options, Mapping) else {},
        )
    )
    return True


@method("event.get", scope="basic", app_only=True)
def event_get(portal: Portal, call: Call) -> list[dict[str, Any]]:
    """The calling application's bindings."""
    client_id = _app(call)
    out = []
    for b in portal.events.bindings:
        if b.client_id != client_id:
            continue
        entry: dict[str, Any] = {"event": b.event, "handler": b.handler, "auth_type": str(b.auth_type)}
        entry["offline"] = 1 if b.offline else 0
        if b.offline:
            entry["connector"] = b.connector
        out.append(entry)
    return out


@method("event.unbind", scope="basic", app_only=True)
def event_unbind(portal: Portal, call: Call) -> dict[str, int]:
    """Remove matching bindings; answers how many went."""
    client_id = _app(call)
    name = str(call.param("event") or "").upper()
    handler = call.param("handler")
    offline = str(call.param("event_type") or "online").lower() == "offline"
    keep, gone = [], 0
    for b in portal.events.bindings:
        hit = b.client_id == client_id and b.event == name and b.offline == offline
        if hit and (offline or handler in (None, "", b.handler)):
            gone += 1
        else:
            keep.append(b)
    portal.events.bindings[:] = keep
    return {"count": gone}


@method("events", scope="basic")
def events_list(portal: Portal, call: Call) -> list[str]:
    """Event names the portal offers."""
    return sorted(KNOWN_EVENTS)


def _render(record: Mapping[str, Any], with_state: bool = False) -> dict[str, Any]:
    out = {
        "ID": str(record["ID"]),
        "TIMESTAMP_X": iso(record["TIMESTAMP_X"]),
        "EVENT_NAME": record["EVENT_NAME"],
        "EVENT_DATA": record["EVENT_DATA"],
        "EVENT_ADDITIONAL": record["EVENT_ADDITIONAL"],
        "MESSAGE_ID": record["MESSAGE_ID"],
    }
    if with_state:
        out["PROCESS_ID"] = record["PROCESS_ID"]
        out["ERROR"] = str(record["ERROR"])
    return out


def _resolve(name: str) -> str | None:
    upper = name.upper()
    return upper if upper in _RECORD_FIELDS else None


def _selected(
    portal: Portal, call: Call, records: list[dict[str, Any]], default_order: str = "TIMESTAMP_X"
) -> list[dict[str, Any]]:
    """Filter and order queue records (get: TIMESTAMP_X ASC by default, list: ID ASC)."""
    where = call.param("filter") or {}
    order = call.param("order") or {default_order: "ASC"}
    if not isinstance(where, Mapping) or not isinstance(order, Mapping):
        raise RestError("INVALID_ARG_VALUE", "Invalid filter")
    rows = [r for r in records if query.matches(r, where, _resolve)]
    return query.sort_rows(rows, order, _resolve)


@method("event.offline.get", scope="basic", app_only=True)
def offline_get(portal: Portal, call: Call) -> dict[str, Any]:
    """Take up to `limit` records: deleted at once (`clear=1`) or reserved under a `process_id`."""
    client_id = _app(call)
    connector = call.auth_connector or ""
    process = str(call.param("process_id") or "")
    errors = str(call.param("error") or "0") == "1"
    clear = str(call.param("clear", "1")) != "0"
    limit = max(1, to_int(call.param("limit")) or query.PAGE)
    queue = portal.events.offline
    mine = [
        r
        for r in queue.values()
        if r["_app"] == client_id
        and r["_connector"] == connector
        and bool(r["ERROR"]) == errors
        and (r["PROCESS_ID"] == process if process else not r["PROCESS_ID"])
    ]
    chosen = _selected(portal, call, mine)[:limit]
    result = [_render(r) for r in chosen]
    if clear:
        for r in chosen:
            queue.pop(int(r["ID"]), None)
        return {"process_id": None, "events": result}
    process = process or portal.events.new_process_id()
    for r in chosen:
        r["PROCESS_ID"] = process
    return {"process_id": process, "events": result}


def _ids(value: Any) -> set[str] | None:
    if value in (None, "", []):
        return None
    items = value.values() if isinstance(value, Mapping) else value if isinstance(value, list) else [value]
    return {str(v) for v in items}


@method("event.offline.clear", scope="basic", app_only=True)
def offline_clear(portal: Portal, call: Call) -> bool:
    """Acknowledge reserved records of a process (all, or those listed by `id` or `message_id`)."""
    client_id = _app(call)
    process = str(call.param("process_id") or "")
    if not process:
        raise RestError("INVALID_ARG_VALUE", "process_id is required")
    ids, messages = _ids(call.param("id")), _ids(call.param("message_id"))
    queue = portal.events.offline
    for record_id, r in list(queue.items()):
        if r["_app"] != client_id or r["PROCESS_ID"] != process:
            continue
        if ids is not None and str(record_id) not in ids:
            continue
        if ids is None and messages is not None and r["MESSAGE_ID"] not in messages:
            continue
        del queue[record_id]
    return True


@method("event.offline.error", scope="basic", app_only=True)
def offline_error(portal: Portal, call: Call) -> bool:
    """Mark reserved records as failed: they leave the process and come back only with `error=1`."""
    client_id = _app(call)
    process = str(call.param("process_id") or "")
    messages = _ids(call.param("message_id"))
    if not process:
        raise RestError("INVALID_ARG_VALUE", "process_id is required")
    for r in portal.events.offline.values():
        mine = r["_app"] == client_id and r["PROCESS_ID"] == process
        if mine and (messages is None or r["MESSAGE_ID"] in messages):
            r.update(ERROR=1, PROCESS_ID="")
    return True


@method("event.offline.list", scope="basic", app_only=True)
def offline_list(portal: Portal, call: Call) -> Listed:
    """Read the queue without changing it, with PROCESS_ID and ERROR columns."""
    client_id = _app(call)
    mine = [r for r in portal.events.offline.values() if r["_app"] == client_id]
    rows = _selected(portal, call, mine, "ID")
    got = query.page(rows, query.parse_start(call.param("start")))
    return Listed([_render(r, with_state=True) for r in got.rows], got.total, got.next)
