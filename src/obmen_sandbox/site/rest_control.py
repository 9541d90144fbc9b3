"""The control API of the site's REST and events, under `/_sandbox` (what an administrator clicks).

- `POST /rest/webhooks {"user_id"?, "code"?, "scopes"?}` → the webhook with its `url`; `GET /rest/webhooks`;
- `POST /rest/handlers {"handler", "events"?, "application_token"?}` → an outgoing webhook (every sale event
  by default); `GET|DELETE /rest/handlers`;
- `POST /module {"url", "secret"}` installs the obmen.ping module, `DELETE /module` removes it;
- `POST /events/faults {"drop"?: n, "delay"?: s}` loses the next n deliveries, delays each; `GET /events`
  lists the deliveries; `POST /events/drain` waits for the ones in flight;
- `POST|GET|DELETE /rest/faults {"status", "error", "description", "method"?, "times"}`; `GET /rest/calls`.
"""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from obmen_sandbox.site.events import REST_EVENTS, Module
from obmen_sandbox.site.rest_state import RestFault
from obmen_sandbox.site.state import SiteState

__all__ = ["rest_control_routes"]

Handler = Callable[[SiteState, Request], Awaitable[Response]]


class _Bad(ValueError):
    pass


async def _body(request: Request) -> dict[str, Any]:
    try:
        body = await request.json()
    except ValueError:
        raise _Bad("the body must be JSON") from None
    if not isinstance(body, dict):
        raise _Bad("the body must be an object")
    return body


def _string(body: dict[str, Any], key: str, default: str | None = None) -> str:
    value = body.get(key, default)
    if not isinstance(value, str) or not value:
        raise _Bad(f"{key!r} must be a non-empty string")
    return value


def _url(body: dict[str, Any], key: str) -> str:
    value = _string(body, key)
    if not value.startswith(("http://", "https://")):
        raise _Bad(f"{key!r} must be an http(s) URL")
    return value


async def add_webhook(state: SiteState, request: Request) -> Response:
    """Make an incoming webhook."""
    body = await _body(request)
    user = body.get("user_id", 1)
    if not isinstance(user, int) or isinstance(user, bool) or user < 1:
        raise _Bad("'user_id' must be a positive integer")
    scopes = body.get("scopes", ["sale", "catalog"])
    if not isinstance(scopes, list) or not all(isinstance(x, str) for x in scopes):
        raise _Bad("'scopes' must be a list of strings")
    code = _string(body, "code", secrets.token_hex(8))
    hook = state.rest.add(user, code, frozenset(scopes))
    return JSONResponse(hook.json(str(request.base_url)), status_code=201)


async def list_webhooks(state: SiteState, request: Request) -> Response:
    """The webhooks."""
    return JSONResponse([h.json(str(request.base_url)) for h in state.rest.webhooks.values()])


async def add_handler(state: SiteState, request: Request) -> Response:
    """Make an outgoing webhook posting the sale events to `handler`."""
    body = await _body(request)
    events = body.get("events", sorted(REST_EVENTS))
    if not isinstance(events, list) or not events or not all(isinstance(e, str) for e in events):
        raise _Bad("'events' must be a non-empty list of event names")
    unknown = sorted({e.upper() for e in events} - set(REST_EVENTS))
    if unknown:
        raise _Bad(f"unknown events {unknown}; the site offers {sorted(REST_EVENTS)}")
    token = _string(body, "application_token", secrets.token_hex(16))
    binding = state.events.bind(_url(body, "handler"), events, token)
    return JSONResponse(binding.json(), status_code=201)


async def list_handlers(state: SiteState, request: Request) -> Response:
    """The outgoing webhooks."""
    return JSONResponse([b.json() for b in state.events.bindings])


async def clear_handlers(state: SiteState, request: Request) -> Response:
    """Remove every outgoing webhook."""
    state.events.bindings.clear()
    return JSONResponse([])


async def install_module(state: SiteState, request: Request) -> Response:
    """Install the obmen.ping module with obmen's URL and the shared secret."""
    body = await _body(request)
    state.events.module = Module(_url(body, "url"), _string(body, "secret"))
    return JSONResponse({"installed": True, "url": state.events.module.url}, status_code=201)


async def remove_module(state: SiteState, request: Request) -> Response:
    """Uninstall the module."""
    state.events.module = None
    return JSONResponse({"installed": False})


async def event_faults(state: SiteState, request: Request) -> Response:
    """Lose the next `drop` deliveries and/or delay every delivery by `delay` seconds."""
    body = await _body(request)
    drop, delay = body.get("drop", 0), body.get("delay", 0.0)
    if not isinstance(drop, int) or isinstance(drop, bool) or drop < 0:
        raise _Bad("'drop' must be a non-negative integer")
    if not isinstance(delay, int | float) or isinstance(delay, bool) or delay < 0:
        raise _Bad("'delay' must be a non-negative number")
    state.events.drop, state.events.delay = drop, float(delay)
    return JSONResponse({"drop": drop, "delay": float(delay)})


async def deliveries(state: SiteState, request: Request) -> Response:
    """Every delivery so far."""
    return JSONResponse(state.events.delivered)


async def drain(state: SiteState, request: Request) -> Response:
    """Wait for the deliveries in flight."""
    await state.events.drain()
    return JSONResponse(state.events.delivered)


async def add_rest_fault(state: SiteState, request: Request) -> Response:
    """Arm a REST fault: the next matching calls answer this error."""
    body = await _body(request)
    fault = RestFault()
    for key, typ in (("status", int), ("error", str), ("description", str), ("method", str), ("times", int)):
        if key in body:
            if not isinstance(body[key], typ) or isinstance(body[key], bool):
                raise _Bad(f"{key!r} must be {typ.__name__}")
            setattr(fault, key, body[key])
    state.rest.faults.append(fault)
    return JSONResponse([f.json() for f in state.rest.faults], status_code=201)


async def list_rest_faults(state: SiteState, request: Request) -> Response:
    """The armed REST faults."""
    return JSONResponse([f.json() for f in state.rest.faults])


async def clear_rest_faults(state: SiteState, request: Request) -> Response:
    """Disarm every REST fault."""
    state.rest.faults.clear()
    return JSONResponse([])


async def calls(state: SiteState, request: Request) -> Response:
    """REST calls by method so far."""
    return JSONResponse(state.rest.calls)


def rest_control_routes(state: SiteState) -> list[Route]:
    """Routes to mount under `/_sandbox` beside the storefront's."""

    def wrap(handler: Handler) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            try:
                if handler is drain:
                    return await handler(state, request)  # waits on deliveries, not on the state
                async with state.lock:
                    return await handler(state, request)
            except _Bad as exc:
                return JSONResponse({"error": str(exc)}, status_code=400)

        return endpoint

    table: list[tuple[str, Handler, str]] = [
        ("/rest/webhooks", add_webhook, "POST"),
        ("/rest/webhooks", list_webhooks, "GET"),
        ("/rest/handlers", add_handler, "POST"),
        ("/rest/handlers", list_handlers, "GET"),
        ("/rest/handlers", clear_handlers, "DELETE"),
        ("/module", install_module, "POST"),
        ("/module", remove_module, "DELETE"),
        ("/events/faults", event_faults, "POST"),
        ("/events", deliveries, "GET"),
        ("/events/drain", drain, "POST"),
        ("/rest/faults", add_rest_fault, "POST"),
        ("/rest/faults", list_rest_faults, "GET"),
        ("/rest/faults", clear_rest_faults, "DELETE"),
        ("/rest/calls", calls, "GET"),
    ]
    return [Route(path, wrap(handler), methods=[verb]) for path, handler, verb in table]
