"""The operator's view (ARCHITECTURE §2.8): live status page, status and propagation JSON, one object's
timeline, and a one-click retry of parked items.

With a token set, every route here wants `Authorization: Bearer <token>`; a browser may send it as the
password of HTTP Basic (any user name), which it prompts for on the 401, so the page and its retry
buttons work without JavaScript. Retries refuse cross-site requests, so a page elsewhere cannot make a
logged-in browser press the button.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import html
import time
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import quote, urlsplit

from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from obmen.store import queue
from obmen.store.database import Database
from obmen.store.status import Status
from obmen.store.timeline import read_propagations, timeline, timeline_json

__all__ = ["render_page", "routes", "status_json"]

_MAX_LIMIT = 500
_PROPAGATION_HEADS = [
    "время / time",
    "объект / object",
    "действие / action",
    "поля / fields",
    "откуда → куда / from → to",
    "причина / trigger",
    "задержка / latency",
]


def status_json(status: Status) -> dict[str, Any]:
    """The status as JSON-safe data (the API, and `obmen status --json`)."""
    return {
        "queue": [{"entity": e, "state": s, "count": c} for (e, s), c in sorted(status.queue.items())],
        "depth": status.depth,
        "parked": {"total": status.parked_total, "items": status.parked},
        "conflicts": {"total": status.conflicts_total, "items": status.conflicts},
        "checkpoints": status.checkpoints,
        "linked": [{"entity": e, "system": s, "count": c} for (e, s), c in sorted(status.linked.items())],
        "recent": status.recent,
        "propagations": status.propagations,
    }


# --- the page -----------------------------------------------------------------------------------


class _Html(str):
    """Markup built by this module from escaped parts."""


def _cell(value: Any) -> str:
    """A table cell: plain values are escaped; `_Html` values are trusted markup built here."""
    return f"<td>{value if isinstance(value, _Html) else html.escape(str(value))}</td>"


def _table(title: str, heads: list[str], rows: list[list[Any]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in heads)
    body = "".join("<tr>" + "".join(_cell(v) for v in row) + "</tr>" for row in rows)
    return f"<h2>{html.escape(title)}</h2><table><tr>{head}</tr>{body or '<tr><td>—</td></tr>'}</table>"


def _object_link(entity: str, canonical_id: str, ids: dict[str, str]) -> _Html:
    label = " · ".join(f"{s}:{x}" for s, x in sorted(ids.items())) or canonical_id[:8]
    href = f"api/timeline/{quote(entity, safe='')}/{quote(canonical_id, safe='')}"
    return _Html(f"<a href='{html.escape(href)}'>{html.escape(label)}</a>")


def _latency(seconds: float | None) -> str:
    return "—" if seconds is None else f"{seconds * 1000:.0f} ms"


def _retry_button(key: str) -> _Html:
    action = html.escape(f"api/parked/{quote(key, safe='')}/retry")
    return _Html(
        f"<form method='post' action='{action}' style='margin:0'>"
        "<button type='submit'>Повторить / Retry</button></form>"
    )


def render_page(status: Status) -> str:
    """The home page: queue, recent propagations, parked items with retry buttons, open conflicts."""
    parts = [
        _table(
            f"Очередь / Queue ({status.depth})",
            ["entity", "state", "items"],
            [[e, s, c] for (e, s), c in sorted(status.queue.items())],
        ),
        _table(
            "Последние изменения / Recent propagations",
            _PROPAGATION_HEADS,
            [
                [
                    time.strftime("%H:%M:%S", time.localtime(p["at"])),
                    _object_link(p["entity"], p["canonical_id"], p["links"]),
                    f"{p['entity']} {p['action']}",
                    ", ".join(p["changed"]),
                    f"{p['source_system'] or 'obmen'} → {p['target_system']}",
                    p["trigger"],
                    _latency(p["latency"]),
                ]
                for p in status.propagations
            ],
        ),
        _table(
            f"Отложено / Parked ({status.parked_total})",
            ["key", "attempts", "reason", ""],
            [[p["key"], p["attempts"], p["reason"], _retry_button(p["key"])] for p in status.parked],
        ),
        _table(
            f"Конфликты / Conflicts ({status.conflicts_total})",
            ["entity", "object", "field", "candidates"],
            [
                [c["entity"], _object_link(c["entity"], c["canonical_id"], {}), c["field"], c["candidates"]]
                for c in status.conflicts
            ],
        ),
    ]
    style = (
        "body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}"
        "td,th{border:1px solid #ccc;padding:4px 8px}"
    )
    return (
        "<!doctype html><html lang='ru'><head><meta charset='utf-8'><meta http-equiv='refresh' content='2'>"
        f"<title>obmen</title><style>{style}</style></head><body><h1>obmen</h1>{''.join(parts)}</body></html>"
    )


# --- access -------------------------------------------------------------------------------------


def _presented(request: Request) -> str | None:
    """The token in `Authorization`: Bearer, or the password of Basic (what a browser prompts for)."""
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer":
        return value.strip()
    if scheme.lower() == "basic":
        try:
            decoded = base64.b64decode(value.strip(), validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            return None
        return decoded.partition(":")[2]
    return None


def _denied(request: Request, token: str | None) -> Response | None:
    """None when the request may pass; otherwise the 401 that asks for the token."""
    if token is None:
        return None
    given = _presented(request)
    if given is not None and hmac.compare_digest(given.encode(), token.encode()):
        return None
    response = JSONResponse(
        {"error": "нужен токен администратора / admin token required (Authorization: Bearer <token>)"},
        status_code=401,
    )
    response.headers.append("WWW-Authenticate", 'Basic realm="obmen", charset="UTF-8"')
    response.headers.append("WWW-Authenticate", 'Bearer realm="obmen"')
    return response


def _cross_site(request: Request) -> bool:
    """A browser says where a POST comes from; one from another site is refused."""
    if request.headers.get("sec-fetch-site") == "cross-site":
        return True
    origin = request.headers.get("origin")
    return origin is not None and origin != "null" and urlsplit(origin).netloc != request.headers.get("host")


# --- routes -------------------------------------------------------------------------------------

Handler = Callable[[Request], Awaitable[Response]]


def routes(
    db: Database,
    *,
    tenant: str,
    clock: Callable[[], float],
    status_now: Callable[[], Awaitable[Status]],
    token: str | None = None,
) -> list[Route]:
    """The operator's routes: `/`, `/api/status`, `/api/propagations`, `/api/timeline/…`, retries."""

    def guarded(handler: Handler) -> Handler:
        async def wrapped(request: Request) -> Response:
            return _denied(request, token) or await handler(request)

        return wrapped

    async def home(_: Request) -> Response:
        return HTMLResponse(render_page(await status_now()))

    async def api_status(_: Request) -> Response:
        return JSONResponse(status_json(await status_now()))

    async def api_propagations(request: Request) -> Response:
        raw = request.query_params.get("limit", "20")
        if not raw.isdigit() or not 1 <= int(raw) <= _MAX_LIMIT:
            return _error(
                f"limit must be an integer from 1 to {_MAX_LIMIT} / limit: число от 1 до {_MAX_LIMIT}"
            )
        return JSONResponse({"items": await read_propagations(db, tenant, limit=int(raw))})

    async def api_timeline(request: Request) -> Response:
        entity, key = request.path_params["entity"], request.path_params["key"]
        try:
            found = await timeline(db, tenant, entity, key)
        except ValueError as exc:
            return _error(str(exc))
        if not found.found:
            return _error(f"{entity} {key}: nothing known / ничего не известно", status=404)
        return JSONResponse(timeline_json(found))

    async def retry(request: Request) -> Response:
        if _cross_site(request):
            return _error("cross-site request refused / запрос с другого сайта отклонён", status=403)
        key = request.path_params["key"]
        if await queue.unpark(db, tenant, [key], now=clock()) == 0:
            return _error(f"{key} is not parked / не отложен", status=404)
        if request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
            # The page's button: back to the page, which now shows the item in the queue.
            return RedirectResponse(request.scope.get("root_path", "") + "/", status_code=303)
        return JSONResponse({"retried": key})

    return [
        Route("/", guarded(home)),
        Route("/api/status", guarded(api_status)),
        Route("/api/propagations", guarded(api_propagations)),
        Route("/api/timeline/{entity}/{key:path}", guarded(api_timeline)),
        Route("/api/parked/{key:path}/retry", guarded(retry), methods=["POST"]),
    ]


def _error(message: str, *, status: int = 400) -> Response:
    return JSONResponse({"error": message}, status_code=status)
