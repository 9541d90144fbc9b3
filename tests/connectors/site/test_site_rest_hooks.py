"""`POST /hooks/site` (docs/protocols/site-rest.md §4, §5): tokens, signatures, entity events → orders."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Sequence

import httpx
from rest_support import client_for, control, place, stocked_site
from starlette.applications import Starlette

from obmen.connectors.base import Change
from obmen.connectors.site.rest.events import SiteHooks, routes

TOKEN, SECRET = "outgoing-token", "ping-secret"


def hooks_app(queued: list[Change]) -> tuple[Starlette, object]:
    site = stocked_site()

    async def enqueue(changes: Sequence[Change]) -> int:
        queued.extend(changes)
        return len(changes)

    hooks = SiteHooks(outgoing_token=TOKEN, ping_secret=SECRET, client=client_for(site), enqueue=enqueue)
    return Starlette(routes=routes(hooks)), site


def http_to(app: Starlette) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://obmen.test")


async def test_rest_events_need_the_token_and_an_entity_event_names_its_order() -> None:
    queued: list[Change] = []
    app, site = hooks_app(queued)
    async with control(site) as shop, http_to(app) as http:  # type: ignore[arg-type]
        oid = await place(shop)
        # The first order's payment is payment 1 (ids as Bitrix gives them on the first save).
        form = {"event": "ONPAYMENTENTITYSAVED", "data[FIELDS][ID]": "1", "auth[application_token]": "nope"}
        assert (await http.post("/hooks/site", data=form)).status_code == 403
        form["auth[application_token]"] = TOKEN
        reply = await http.post("/hooks/site", data=form)
        assert reply.json() == {"queued": 2}
        assert queued == [Change("counterparty", "1"), Change("order", str(oid))]  # the buyer goes first
        gone = {**form, "data[FIELDS][ID]": "999"}
        assert (await http.post("/hooks/site", data=gone)).json() == {"queued": 0}  # the poll will tell
        order = {**form, "event": "ONSALEORDERSAVED", "data[FIELDS][ID]": str(oid)}
        assert (await http.post("/hooks/site", data=order)).json() == {"queued": 2}


async def test_pings_need_their_signature_and_carry_the_order() -> None:
    queued: list[Change] = []
    app, _ = hooks_app(queued)
    body = json.dumps({"event": "OnSaleShipmentEntitySaved", "id": 5, "order": 42}).encode()
    signed = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    async with http_to(app) as http:
        headers = {"Content-Type": "application/json", "X-Obmen-Signature": signed}
        assert (await http.post("/hooks/site", content=body, headers=headers)).json() == {"queued": 1}
        assert queued == [Change("order", "42")]
        forged = {**headers, "X-Obmen-Signature": "sha256=" + "0" * 64}
        assert (await http.post("/hooks/site", content=body, headers=forged)).status_code == 403
        junk = b"not json"
        signed_junk = "sha256=" + hmac.new(SECRET.encode(), junk, hashlib.sha256).hexdigest()
        bad = await http.post(
            "/hooks/site", content=junk, headers={**headers, "X-Obmen-Signature": signed_junk}
        )
        assert bad.status_code == 400
