"""`POST /hooks/site`: the site's sale events, from an outgoing webhook or the obmen.ping module.

Two senders (docs/protocols/site-rest.md §4, §5), told apart by the body:

- an outgoing webhook posts a form (`event`, `data[FIELDS][ID]`, `auth[application_token]`); the token is
  compared in constant time with `site.rest_outgoing_token`;
- the obmen.ping module posts JSON `{"event", "id", "order"}` signed with `X-Obmen-Signature:
  sha256=<HMAC-SHA256 of the body under site.ping_secret>`.

Either way only keys come out (docs/architecture.md §2.1): the order's and its buyer's. A REST event about a
payment, a shipment or a property value names only that entity, so one list call finds its order (the
module sends the order's id itself), and one more the order's buyer. The handler answers at once; a key it
could not resolve is caught by the modification-date poll.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from obmen.connectors.base import Change
from obmen.connectors.site.rest.client import SiteRest
from obmen.errors import ObmenError, ProtocolError

__all__ = ["HOOK_PATH", "SiteHooks", "routes"]

log = logging.getLogger(__name__)

HOOK_PATH = "/hooks/site"
#: Largest body accepted: an event is a few hundred bytes.
MAX_BODY = 64 * 1024
#: Event → which entity its id names (REST names upper-cased, §4; the module's kernel names, §5).
ORDER_EVENTS = frozenset(
    {
        "ONSALEORDERSAVED",
        "ONORDERENTITYSAVED",
        "ONSALEBEFOREORDERDELETE",
        "ONORDERDELETED",
        "ONSALEORDERDELETED",
    }
)
#: Entity events: the list method that finds the entity's order.
ENTITY_EVENTS = {
    "ONPAYMENTENTITYSAVED": ("sale.payment.list", "payments"),
    "ONSALEPAYMENTENTITYSAVED": ("sale.payment.list", "payments"),
    "ONSHIPMENTENTITYSAVED": ("sale.shipment.list", "shipments"),
    "ONSALESHIPMENTENTITYSAVED": ("sale.shipment.list", "shipments"),
    "ONPROPERTYVALUEENTITYSAVED": ("sale.propertyvalue.list", "propertyValues"),
}


@dataclass(frozen=True, slots=True)
class SiteHooks:
    """What the endpoint needs: the secrets, where to resolve entity ids, and where keys go."""

    outgoing_token: str
    ping_secret: str
    client: SiteRest
    enqueue: Callable[[Sequence[Change]], Awaitable[int]]


def _signed(secret: str, body: bytes, header: str) -> bool:
    expected = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return bool(secret) and hmac.compare_digest(expected.encode(), header.encode())


def _ping(body: bytes) -> tuple[str, str, str | None]:
    try:
        data = json.loads(body)
    except ValueError as exc:
        raise ProtocolError("a ping must be JSON") from exc
    if not isinstance(data, dict) or not str(data.get("event") or "") or not str(data.get("id") or ""):
        raise ProtocolError('a ping is {"event", "id", "order"}')
    order = data.get("order")
    return str(data["event"]), str(data["id"]), str(order) if order not in (None, "") else None


async def _order_of(hooks: SiteHooks, event: str, ident: str) -> str | None:
    """The order an entity event is about, or None when its entity is gone (the poll will tell)."""
    if event in ORDER_EVENTS:
        return ident
    method, key = ENTITY_EVENTS[event]
    rows = await hooks.client.rows(method, {"filter": {"id": ident}, "select": ["id", "orderId"]}, key)
    return str(rows[0]["orderId"]) if rows and rows[0].get("orderId") else None


def routes(hooks: SiteHooks) -> list[Route]:
    """The `/hooks/site` route."""

    async def event(request: Request) -> Response:
        body = await request.body()
        if len(body) > MAX_BODY:
            return JSONResponse({"error": "bad_request", "detail": "payload too large"}, status_code=400)
        try:
            if request.headers.get("content-type", "").startswith("application/json"):
                if not _signed(hooks.ping_secret, body, request.headers.get("x-obmen-signature", "")):
                    log.warning("site ping with a wrong or missing signature refused")
                    return JSONResponse({"error": "forbidden", "detail": "bad signature"}, status_code=403)
                name, ident, order = _ping(body)
            else:
                form = await request.form()
                token = str(form.get("auth[application_token]") or "")
                ok = bool(hooks.outgoing_token) and hmac.compare_digest(
                    token.encode(), hooks.outgoing_token.encode()
                )
                if not ok:
                    log.warning("site event with a wrong application_token refused")
                    return JSONResponse(
                        {"error": "forbidden", "detail": "application_token mismatch"}, status_code=403
                    )
                name, ident, order = (
                    str(form.get("event") or ""),
                    str(form.get("data[FIELDS][ID]") or ""),
                    None,
                )
        except ProtocolError as exc:
            return JSONResponse({"error": "bad_request", "detail": str(exc)}, status_code=400)
        return JSONResponse({"queued": await _enqueue(hooks, name.upper(), ident, order)})

    return [Route(HOOK_PATH, event, methods=["POST"])]


async def _enqueue(hooks: SiteHooks, name: str, ident: str, order: str | None) -> int:
    try:
        if order is None and (name in ORDER_EVENTS or name in ENTITY_EVENTS) and ident.isdigit():
            order = await _order_of(hooks, name, ident)
        if order is None or not order.isdigit():
            return 0
        # The buyer's key goes with the order's: a new buyer is then linked by the time the order is
        # reconciled, instead of the order waiting a round for it (docs/protocols/site-rest.md §4).
        flt = {"filter": {"id": order}, "select": ["id", "userId"]}
        rows = await hooks.client.rows("sale.order.list", flt, "orders")
    except ObmenError as exc:
        log.warning("site event %s %s: not resolved (%s); the poll will find it", name, ident, exc)
        return 0 if order is None or not order.isdigit() else await hooks.enqueue([Change("order", order)])
    buyer = [Change("counterparty", str(rows[0]["userId"]))] if rows and rows[0].get("userId") else []
    return await hooks.enqueue([*buyer, Change("order", order)])
