"""The site's `rest` module: incoming webhooks serving the `sale` methods (docs/protocols/site-rest.md §2).

A webhook is `/rest/<user id>/<code>/<method>` (a trailing `.json` is allowed); parameters come as JSON or as
a form in PHP bracket notation, and the query string. The answer is the REST envelope: `result`, `time`,
and `total`/`next` on lists. System errors as the REST reference lists them: an unknown webhook is 401
`INVALID_CREDENTIALS`, a method outside the webhook's scopes 401 `insufficient_scope`, an unknown method 404
`ERROR_METHOD_NOT_FOUND`; `scope` answers any webhook with its scopes. A method's own errors are HTTP 400
with a numeric or named `error`.
"""

from __future__ import annotations

import json
import time
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from obmen_sandbox.bitrix24.wire import dumps, parse_query, time_block
from obmen_sandbox.site.rest_add import METHODS
from obmen_sandbox.site.rest_shapes import RestError
from obmen_sandbox.site.rest_state import Webhook
from obmen_sandbox.site.state import SiteState

__all__ = ["REST_PATH", "rest_endpoint"]

REST_PATH = "/rest/{user_id}/{code}/{method}"
MAX_BODY = 1024 * 1024


def _error(code: int | str, description: str, status: int) -> Response:
    body = {"error": code, "error_description": description}
    return Response(dumps(body), status_code=status, media_type="application/json; charset=utf-8")


async def _params(request: Request) -> dict[str, Any]:
    body = await request.body()
    if len(body) > MAX_BODY:
        raise RestError(0, "request body too large")
    params = parse_query(request.url.query) if request.url.query else {}
    if not body:
        return params
    if request.headers.get("content-type", "").startswith("application/json"):
        try:
            data = json.loads(body)
        except ValueError:
            raise RestError("INVALID_REQUEST", "request body is not valid JSON") from None
        if not isinstance(data, dict):
            raise RestError("INVALID_REQUEST", "request body must be a JSON object")
        return params | data
    return params | parse_query(body.decode("utf-8", errors="replace"))


def _webhook(state: SiteState, request: Request) -> Webhook | None:
    raw_user = str(request.path_params["user_id"])
    if not raw_user.isdigit():
        return None
    return state.rest.webhooks.get((int(raw_user), str(request.path_params["code"])))


async def _call(state: SiteState, request: Request, started: float) -> Response:
    hook = _webhook(state, request)
    if hook is None:
        return _error("INVALID_CREDENTIALS", "Invalid request credentials", 401)
    name = str(request.path_params["method"]).lower().removesuffix(".json")
    if name == "scope":
        # Open to every webhook: the scopes it was given (`full=true`: every scope the site has).
        params = await _params(request)
        full = str(params.get("full", "")).lower() in ("true", "1", "y")
        scopes = sorted({"sale", "catalog"} | {s for s, _ in METHODS.values()} if full else hook.scopes)
        body = {"result": scopes, "time": time_block(started, time.time())}
        return Response(dumps(body), media_type="application/json; charset=utf-8")
    if name not in METHODS:
        return _error("ERROR_METHOD_NOT_FOUND", "Method not found!", 404)
    scope, handler = METHODS[name]
    if scope not in hook.scopes:
        return _error(
            "insufficient_scope",
            "The request requires higher privileges than provided by the webhook token",
            401,
        )
    state.rest.calls[name] = state.rest.calls.get(name, 0) + 1
    fault = state.rest.take_fault(name)
    if fault is not None:
        return _error(fault.error, fault.description, fault.status)
    try:
        params = await _params(request)
        async with state.lock:
            body = handler(state, params)
    except RestError as exc:
        return _error(exc.code, exc.description, exc.status)
    body["time"] = time_block(started, time.time())
    return Response(dumps(body), media_type="application/json; charset=utf-8")


def rest_endpoint(state: SiteState) -> Any:
    """The Starlette endpoint of `REST_PATH`."""

    async def endpoint(request: Request) -> Response:
        return await _call(state, request, time.time())

    return endpoint
