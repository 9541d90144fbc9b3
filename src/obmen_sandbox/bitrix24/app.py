"""The HTTP face of the portal: REST routes, the OAuth endpoints, injected faults.

See §1, §2 (docs/protocols/bitrix24.md).

`/rest/{user}/{code}/{method}[.json]` (webhook) and `/rest/{method}[.json]` with `auth` in the query or
the body (application); GET query strings, JSON, urlencoded and multipart bodies in bracket notation.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from starlette.applications import Starlette
from starlette.datastructures import UploadFile
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from obmen_sandbox.bitrix24 import control
from obmen_sandbox.bitrix24.auth import ACCESS_LIFETIME, OAuthError
from obmen_sandbox.bitrix24.dispatch import Caller, invoke
from obmen_sandbox.bitrix24.registry import RestError
from obmen_sandbox.bitrix24.wire import dumps, parse_brackets, parse_query
from obmen_sandbox.bodies import ControlBodyLimit

if TYPE_CHECKING:
    from obmen_sandbox.bitrix24.portal import Portal

__all__ = ["build_app", "json_response"]

_HTML_500 = (
    "<html><head><title>500 Internal Server Error</title></head>"
    "<body><h1>Internal Server Error</h1></body></html>"
)
_HTML_504 = (
    "<html><head><title>504 Gateway Time-out</title></head><body><h1>504 Gateway Time-out</h1></body></html>"
)


def json_response(body: Any, status: int = 200) -> Response:
    """JSON the way the portal writes it."""
    return Response(dumps(body), status, media_type="application/json; charset=utf-8")


def _error(exc: RestError) -> Response:
    return json_response({"error": exc.code, "error_description": exc.description}, exc.status)


async def read_params(request: Request) -> dict[str, Any]:
    """Query string merged with the body (JSON, urlencoded or multipart); a GET body is ignored (§2.1)."""
    params = parse_query(request.url.query)
    if request.method == "GET":
        return params
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind in ("application/x-www-form-urlencoded", "multipart/form-data"):
        form = await request.form()
        pairs = [(k, v.filename or "" if isinstance(v, UploadFile) else v) for k, v in form.multi_items()]
        params.update(parse_brackets((k, str(v)) for k, v in pairs))
        return params
    raw = await request.body()
    if raw.strip():
        try:
            body = json.loads(raw)
        except (ValueError, RecursionError) as exc:
            raise RestError("INVALID_REQUEST", "Wrong request body: JSON expected") from exc
        if isinstance(body, Mapping):
            params.update(body)
    return params


async def _faults(portal: Portal, request: Request) -> Response | None:
    faults = portal.faults
    host = request.headers.get("host", "")
    if faults.moved_to and host != faults.moved_to:
        target = request.url.replace(netloc=faults.moved_to)
        return RedirectResponse(str(target), status_code=302)
    if faults.latency:
        await asyncio.sleep(faults.latency)
    if faults.timeout_rate and faults.rng.random() < faults.timeout_rate:
        await asyncio.sleep(faults.timeout_seconds)
        return Response(_HTML_504, 504, media_type="text/html")
    if faults.error_rate and faults.rng.random() < faults.error_rate:
        return Response(_HTML_500, 500, media_type="text/html")
    if faults.overload:
        return _error(RestError("OVERLOAD_LIMIT", "REST API is blocked due to overload", 503))
    if faults.free_plan:
        return _error(RestError("ACCESS_DENIED", "REST API is available only on commercial plans", 403))
    return None


def _caller(portal: Portal, parts: list[str], params: Mapping[str, Any]) -> Caller:
    if len(parts) == 3:
        return Caller(portal.auth.webhook_call(parts[0], parts[1]))
    app, user_id = portal.auth.app_call(params.get("auth"))
    return Caller(user_id, app)


async def rest(request: Request) -> Response:
    """One REST call."""
    portal: Portal = request.app.state.portal
    parts = [p for p in request.path_params["path"].split("/") if p]
    portal.requests.record(parts[-1].removesuffix(".json") if parts else "", portal.clock.now())
    faulty = await _faults(portal, request)
    if faulty is not None:
        return faulty
    if len(parts) not in (1, 3):
        return _error(RestError("ERROR_METHOD_NOT_FOUND", "Method not found!", 404))
    name = parts[-1].removesuffix(".json")
    try:
        params = await read_params(request)
        caller = _caller(portal, parts, params)
        portal.limits.take()
    except RestError as exc:
        return _error(exc)
    outcome = invoke(portal, name, params, caller)
    portal.events.flush()
    faults = portal.faults
    if faults.lost_rate and faults.rng.random() < faults.lost_rate:
        # Done, but the answer never arrives: a proxy gives up waiting for it.
        await asyncio.sleep(faults.timeout_seconds)
        return Response(_HTML_504, 504, media_type="text/html")
    if outcome.error is not None:
        return _error(outcome.error)
    return json_response(outcome.envelope())


async def oauth_token(request: Request) -> Response:
    """`/oauth/token/`: authorization_code and refresh_token grants; each refresh rotates (§1.2)."""
    portal: Portal = request.app.state.portal
    try:
        params = await read_params(request)
    except RestError as exc:
        return _error(exc)
    try:
        app, user_id = portal.auth.grant(params)
    except OAuthError as exc:
        return json_response({"error": exc.code, "error_description": exc.description}, exc.status)
    access, refresh = portal.auth.issue(app, user_id)
    base = f"{request.url.scheme}://{request.url.netloc}"
    return json_response(
        {
            "access_token": access,
            "expires": int(portal.clock.now()) + ACCESS_LIFETIME,
            "expires_in": ACCESS_LIFETIME,
            "scope": ",".join(sorted(app.scopes)),
            "domain": "oauth.bitrix.info",
            "server_endpoint": "https://oauth.bitrix.info/rest/",
            "status": "L",
            "client_endpoint": f"{base}/rest/",
            "member_id": portal.member_id,
            "user_id": user_id,
            "refresh_token": refresh,
        }
    )


async def oauth_authorize(request: Request) -> Response:
    """`/oauth/authorize/`: the user consents at once; redirect to the app's handler with a 30 s code."""
    portal: Portal = request.app.state.portal
    app = portal.auth.apps.get(request.query_params.get("client_id", ""))
    if app is None or not app.handler:
        return json_response({"error": "invalid_client", "error_description": "Invalid client"}, 400)
    query = {
        "code": portal.auth.code(app),
        "state": request.query_params.get("state", ""),
        "domain": portal.domain,
        "member_id": portal.member_id,
        "scope": ",".join(sorted(app.scopes)),
        "server_domain": "oauth.bitrix.info",
    }
    return RedirectResponse(f"{app.handler}?{urlencode(query)}", status_code=302)


def build_app(portal: Portal) -> Starlette:
    """The ASGI app serving `portal`."""
    routes = [
        Route("/rest/{path:path}", rest, methods=["GET", "POST"]),
        Route("/oauth/token/", oauth_token, methods=["GET", "POST"]),
        Route("/oauth/token", oauth_token, methods=["GET", "POST"]),
        Route("/oauth/authorize/", oauth_authorize, methods=["GET"]),
        *control.routes(),
    ]
    app = Starlette(routes=routes, middleware=[Middleware(ControlBodyLimit)])
    app.state.portal = portal
    return app
