"""The site sandbox's events (docs/protocols/site-rest.md §4, §5): outgoing webhooks, module pings, faults."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qsl

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from obmen_sandbox.serving import serve_in_thread

OFFER = "bd8c4e15-18f9-11e7-80c2-0cc47ab29cd1"
ORDER = {
    "customer": {"name": "Иван Петров", "email": "ivan@example.ru", "phone": "+79990000000"},
    "items": [{"offer": OFFER, "quantity": 1, "price": 100}],
    "delivery": {"service": "Самовывоз", "price": 0},
    "payment": {"system": "Счет"},
}


class Receiver:
    """A real HTTP handler recording what reaches it."""

    def __init__(self) -> None:
        self.seen: list[tuple[dict[str, str], bytes]] = []

        async def take(request: Request) -> JSONResponse:
            self.seen.append((dict(request.headers), await request.body()))
            return JSONResponse({"ok": True})

        self.app = Starlette(routes=[Route("/hook", take, methods=["POST"])])

    def forms(self) -> list[dict[str, str]]:
        return [
            dict(parse_qsl(body.decode())) for headers, body in self.seen if "form" in headers["content-type"]
        ]

    def pings(self) -> list[tuple[dict[str, str], bytes]]:
        return [(h, b) for h, b in self.seen if h["content-type"] == "application/json"]


@pytest.fixture
def receiver() -> Iterator[tuple[Receiver, str]]:
    found = Receiver()
    with serve_in_thread(found.app) as url:
        yield found, f"{url}/hook"


async def drained(client: httpx.AsyncClient) -> list[dict[str, Any]]:
    reply = await client.post("/_sandbox/events/drain")
    return list(reply.json())


async def test_a_new_order_posts_each_bound_event_with_the_token_and_only_an_id(
    shop: httpx.AsyncClient, receiver: tuple[Receiver, str]
) -> None:
    found, url = receiver
    bound = await shop.post(
        "/_sandbox/rest/handlers",
        json={
            "handler": url,
            "events": ["OnSaleOrderSaved", "OnPaymentEntitySaved"],
            "application_token": "t0k",
        },
    )
    assert bound.status_code == 201
    oid = (await shop.post("/_sandbox/orders", json=ORDER)).json()["id"]
    await drained(shop)
    events = {(f["event"], f["data[FIELDS][ID]"]) for f in found.forms()}
    order = (await shop.get(f"/_sandbox/orders/{oid}")).json()
    assert ("ONSALEORDERSAVED", str(oid)) in events
    assert len(events) == 2
    assert all(f["auth[application_token]"] == "t0k" for f in found.forms())
    # A payment's event names the payment, not its order.
    assert order["payment"]["paid"] is False
    await shop.patch(f"/_sandbox/orders/{oid}", json={"paid": True})
    await drained(shop)
    # Each delivery is its own request, so they may arrive in either order.
    assert sorted(f["event"] for f in found.forms()[-2:]) == ["ONPAYMENTENTITYSAVED", "ONSALEORDERSAVED"]
    unknown = await shop.post("/_sandbox/rest/handlers", json={"handler": url, "events": ["OnNothing"]})
    assert unknown.status_code == 400


async def test_the_module_pings_signed_json_and_a_dropped_delivery_is_gone(
    shop: httpx.AsyncClient, receiver: tuple[Receiver, str]
) -> None:
    found, url = receiver
    assert (await shop.post("/_sandbox/module", json={"url": url, "secret": "s3cret"})).status_code == 201
    oid = (await shop.post("/_sandbox/orders", json=ORDER)).json()["id"]
    await drained(shop)
    pings = found.pings()
    bodies = [json.loads(body) for _, body in pings]
    assert {b["event"] for b in bodies} == {
        "OnSaleOrderSaved",
        "OnSalePaymentEntitySaved",
        "OnSaleShipmentEntitySaved",
    }
    assert all(b["order"] == oid for b in bodies)
    for headers, body in pings:
        expected = "sha256=" + hmac.new(b"s3cret", body, hashlib.sha256).hexdigest()
        assert headers["x-obmen-signature"] == expected
    await shop.post("/_sandbox/events/faults", json={"drop": 1})
    await shop.patch(f"/_sandbox/orders/{oid}", json={"status": "P"})
    log = await drained(shop)
    assert log[-1]["status"] == "dropped"
    assert len(found.pings()) == len(pings)
