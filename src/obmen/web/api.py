"""The operator's JSON API (docs/operations.md §7.2): status, propagations, timelines, overview, search,
objects, conflicts and their resolution, parked and waiting items and their retry.

POSTs take JSON; the dashboard's forms post the same fields urlencoded when the script is off, and get
a redirect back to the page (`next`) instead of JSON.
"""

from __future__ import annotations

import json
import time
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response

from obmen.store import setbacks, state
from obmen.store.objects import search
from obmen.store.outages import Outage
from obmen.store.overview import counts, overview, parked_items, parked_keys, waiting_items
from obmen.store.status import Status
from obmen.store.timeline import read_propagations, timeline, timeline_json
from obmen.web.auth import cross_site, safe_next
from obmen.web.context import Site
from obmen.web.i18n import Words, refusal
from obmen.web.objects import read_object

__all__ = ["api_handlers", "refusal_text", "status_json"]

_MAX_LIMIT = 500
Handler = Callable[[Request], Awaitable[Response]]


def status_json(status: Status) -> dict[str, Any]:
    """The status as JSON-safe data (the API, and `obmen status --json`)."""
    return {
        "outages": [
            {
                "system": o.system,
                "reason": o.reason,
                "since": o.since,
                "next_probe": o.next_probe,
                "probes": o.probes,
                "text": refusal_text(o),
            }
            for o in status.outages
        ],
        "queue": [{"entity": e, "state": s, "count": c} for (e, s), c in sorted(status.queue.items())],
        "depth": status.depth,
        "parked": {"total": status.parked_total, "items": status.parked},
        "conflicts": {"total": status.conflicts_total, "items": status.conflicts},
        "checkpoints": status.checkpoints,
        "linked": [{"entity": e, "system": s, "count": c} for (e, s), c in sorted(status.linked.items())],
        "recent": status.recent,
        "propagations": status.propagations,
        "waiting": {
            "total": status.waiting_total,
            "oldest_seconds": status.oldest_wait,
            "items": status.waiting,
        },
        "leases": status.leases,
        "stalled": [lease["name"] for lease in status.stalled],
    }


def refusal_text(outage: Outage) -> str:
    """One line for an open breaker, the page's sentence in English and Russian (times in UTC)."""
    since, probe = _utc(outage.since), _utc(outage.next_probe)
    return " / ".join(
        refusal(Words(lang), outage.system, outage.reason, since, probe) for lang in ("en", "ru")
    )


def _utc(at: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(at))


def error(message: str, *, status: int = 400) -> Response:
    """A JSON error."""
    return JSONResponse({"error": message}, status_code=status)


def _limit(request: Request, default: int = 20) -> int | None:
    raw = request.query_params.get("limit", str(default))
    return int(raw) if raw.isdigit() and 1 <= int(raw) <= _MAX_LIMIT else None


def _offset(request: Request) -> int:
    raw = request.query_params.get("offset", "0")
    return int(raw) if raw.isdigit() else 0


_LIMIT_ERROR = f"limit must be an integer from 1 to {_MAX_LIMIT} / limit: число от 1 до {_MAX_LIMIT}"


async def _body(request: Request) -> tuple[dict[str, Any], bool]:
    """The POST's fields and whether they came from a form (then the answer is a redirect)."""
    kind = request.headers.get("content-type", "")
    if kind.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
        form = await request.form()
        return {k: v for k, v in form.items() if isinstance(v, str)}, True
    raw = await request.body()
    if not raw.strip():
        return {}, False
    try:
        data = json.loads(raw)
    except ValueError as exc:
        raise ValueError(f"the body is not JSON / тело запроса не JSON: {exc}") from None
    if not isinstance(data, dict):
        raise ValueError("the body must be a JSON object / тело запроса: JSON-объект")
    return data, False


def _done(
    request: Request, site: Site, fields: dict[str, Any], form: bool, answer: dict[str, Any]
) -> Response:
    if form:
        # The page's button without the script: back to the page, which shows the new state.
        return RedirectResponse(safe_next(fields.get("next"), site.root(request)), status_code=303)
    return JSONResponse(answer)


def api_handlers(site: Site) -> dict[str, tuple[Handler, list[str]]]:
    """Path → (handler, methods) of every API route."""

    async def api_status(_: Request) -> Response:
        return JSONResponse(status_json(await site.status_now()))

    async def api_propagations(request: Request) -> Response:
        limit = _limit(request)
        if limit is None:
            return error(_LIMIT_ERROR)
        return JSONResponse({"items": await read_propagations(site.db, site.tenant, limit=limit)})

    async def api_timeline(request: Request) -> Response:
        entity, key = request.path_params["entity"], request.path_params["key"]
        try:
            found = await timeline(site.db, site.tenant, entity, key)
        except ValueError as exc:
            return error(str(exc))
        if not found.found:
            return error(f"{entity} {key}: nothing known / ничего не известно", status=404)
        return JSONResponse(timeline_json(found))

    async def api_overview(request: Request) -> Response:
        hours = request.query_params.get("hours", "24")
        if not hours.isdigit() or not 1 <= int(hours) <= 24 * 14:
            return error("hours must be an integer from 1 to 336 / hours: число от 1 до 336")
        return JSONResponse(await overview(site.db, site.tenant, now=site.clock(), hours=int(hours)))

    async def api_counts(_: Request) -> Response:
        return JSONResponse(await counts(site.db, site.tenant, now=site.clock()))

    async def api_search(request: Request) -> Response:
        limit = _limit(request)
        if limit is None:
            return error(_LIMIT_ERROR)
        q, entity = request.query_params.get("q", ""), request.query_params.get("entity") or None
        found = await search(site.db, site.tenant, q, entity=entity, limit=limit, offset=_offset(request))
        return JSONResponse({"items": found})

    async def api_object(request: Request) -> Response:
        entity, key = request.path_params["entity"], request.path_params["key"]
        try:
            data = await read_object(site, entity, key)
        except ValueError as exc:
            return error(str(exc))
        if data is None:
            return error(f"{entity} {key}: nothing known / ничего не известно", status=404)
        story = data["timeline"]
        cid = story.canonical_id
        return JSONResponse(
            {
                "entity": entity,
                "canonical_id": cid,
                "summary": data["summaries"].get((entity, cid)),
                "links": story.links,
                "base": story.base,
                "sides": data["sides"],
                "read_error": data["read_error"],
                "conflicts": data["conflicts"],
            }
        )

    async def api_conflicts(_: Request) -> Response:
        async with site.db.begin() as conn:
            return JSONResponse({"items": await state.open_conflicts(conn, site.tenant)})

    async def resolve(request: Request) -> Response:
        if cross_site(request):
            return error("cross-site request refused / запрос с другого сайта отклонён", status=403)
        raw = request.path_params["id"]
        if not raw.isdigit():
            return error(f"{raw!r} is not a conflict id / не номер конфликта", status=404)
        try:
            fields, form = await _body(request)
        except ValueError as exc:
            return error(str(exc))
        side, given = fields.get("side"), "value" in fields
        if (side is None) == (not given):
            return error("give either side or value / укажите side или value")
        by = str(fields.get("by") or ("web" if form else "api"))
        try:
            decided = await state.decide_conflict(
                site.db, site.tenant, int(raw), side=side, value=fields.get("value"), by=by, now=site.clock()
            )
        except state.ConflictNotOpen as exc:
            return error(str(exc), status=409 if "side" in str(exc) else 404)
        return _done(request, site, fields, form, {"resolved": decided})

    async def retry(request: Request) -> Response:
        if cross_site(request):
            return error("cross-site request refused / запрос с другого сайта отклонён", status=403)
        key = request.path_params["key"]
        form = _is_form(request)
        fields: dict[str, Any] = (await _body(request))[0] if form else {}
        if await setbacks.unpark(site.db, site.tenant, [key], now=site.clock()) == 0:
            return error(f"{key} is not parked / не отложен", status=404)
        return _done(request, site, fields, form, {"retried": key})

    async def retry_reason(request: Request) -> Response:
        if cross_site(request):
            return error("cross-site request refused / запрос с другого сайта отклонён", status=403)
        try:
            fields, form = await _body(request)
        except ValueError as exc:
            return error(str(exc))
        reason = fields.get("reason")
        if not isinstance(reason, str) or not reason:
            return error("give the reason of the items to retry / укажите reason")
        keys = await parked_keys(site.db, site.tenant, reason)
        retried = await setbacks.unpark(site.db, site.tenant, keys, now=site.clock()) if keys else 0
        return _done(request, site, fields, form, {"retried": retried})

    async def api_parked(request: Request) -> Response:
        limit = _limit(request, 50)
        if limit is None:
            return error(_LIMIT_ERROR)
        reason = request.query_params.get("reason")
        data = await parked_items(site.db, site.tenant, limit=limit, offset=_offset(request), reason=reason)
        return JSONResponse(data)

    async def api_waiting(request: Request) -> Response:
        limit = _limit(request, 50)
        if limit is None:
            return error(_LIMIT_ERROR)
        return JSONResponse(await waiting_items(site.db, site.tenant, limit=limit, offset=_offset(request)))

    async def refresh_facts(_: Request) -> Response:
        # Reads each system now (a few calls each): only on an operator's click, never on a page load.
        if site.options.refresh_facts is None:
            return error("this process reads no system / этот процесс не читает системы", status=409)
        return JSONResponse({"read": await site.options.refresh_facts()})

    return {
        "/api/status": (api_status, ["GET"]),
        "/api/propagations": (api_propagations, ["GET"]),
        "/api/timeline/{entity}/{key:path}": (api_timeline, ["GET"]),
        "/api/overview": (api_overview, ["GET"]),
        "/api/counts": (api_counts, ["GET"]),
        "/api/search": (api_search, ["GET"]),
        "/api/objects/{entity}/{key:path}": (api_object, ["GET"]),
        "/api/conflicts": (api_conflicts, ["GET"]),
        "/api/conflicts/{id}/resolve": (resolve, ["POST"]),
        "/api/parked": (api_parked, ["GET"]),
        "/api/parked/retry": (retry_reason, ["POST"]),
        "/api/parked/{key:path}/retry": (retry, ["POST"]),
        "/api/waiting": (api_waiting, ["GET"]),
        "/api/facts/refresh": (refresh_facts, ["POST"]),
    }


def _is_form(request: Request) -> bool:
    return request.headers.get("content-type", "").startswith(
        ("application/x-www-form-urlencoded", "multipart/")
    )
