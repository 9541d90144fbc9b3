"""`POST /hooks/onec`: the ObmenPing extension's ping (docs/protocols/onec.md §A2).

A ping names what changed (`{"node", "changes": [item…]}`, the items of the extension's exchange-plan
service) and nothing else: obmen turns the items into keys, enqueues them and answers at once; the worker
re-reads every object through OData (level-triggered, docs/architecture.md §2.1). A lost ping costs only
the time until the feed's next read, which finds the same change in the exchange plan.
"""

from __future__ import annotations

import hmac
import json
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from obmen.errors import ObmenError

__all__ = ["MAX_BODY", "routes"]

log = logging.getLogger(__name__)

#: Largest ping accepted; a ping names a few objects, a burst a few thousand.
MAX_BODY = 512 * 1024

Enqueue = Callable[[Sequence[Mapping[str, Any]]], Awaitable[int]]


def _items(raw: bytes) -> list[Mapping[str, Any]]:
    body = json.loads(raw or b"{}")
    changes = body.get("changes") if isinstance(body, dict) else None
    if not isinstance(changes, list) or not all(isinstance(c, dict) for c in changes):
        raise ValueError("a JSON object with a `changes` list of objects is expected")
    return changes


def routes(token: str, enqueue: Enqueue) -> list[Route]:
    """The ping route, guarded by the shared secret (`Authorization: Bearer <onec.hook_token>`)."""
    expected = f"Bearer {token}".encode()

    async def ping(request: Request) -> Response:
        given = request.headers.get("authorization", "").encode()
        if not hmac.compare_digest(given, expected):
            log.warning("1C ping with a wrong token refused")
            return JSONResponse({"error": "forbidden", "detail": "wrong or missing token"}, status_code=403)
        raw = await request.body()
        if len(raw) > MAX_BODY:
            return JSONResponse({"error": "bad_request", "detail": "ping too large"}, status_code=413)
        try:
            items = _items(raw)
        except ValueError as exc:
            return JSONResponse({"error": "bad_request", "detail": str(exc)}, status_code=400)
        try:
            queued = await enqueue(items)
        except ObmenError as exc:
            # 1C cannot be read back right now: the feed's next read finds the same changes.
            log.warning("1C ping not resolved: %s", exc)
            return JSONResponse({"error": "unavailable", "detail": str(exc)}, status_code=503)
        return JSONResponse({"queued": queued})

    return [Route("/hooks/onec", ping, methods=["POST"])]
