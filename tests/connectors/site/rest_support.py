"""A site sandbox with a small catalog and a REST client bound to it over in-process ASGI."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import httpx

from obmen.connectors.site.rest.client import SiteRest
from obmen_sandbox.site import SiteSandbox, webhook_url
from obmen_sandbox.site.catalog import Offer

OFFER = "prod-1#char-1"
WEBHOOK = "1/restcode"
BASE = "http://site.test"


def stocked_site(**options: Any) -> SiteSandbox:
    """A site whose catalog holds one offer (as if 1C's exchange had delivered it)."""
    sandbox = SiteSandbox("obmen", "pw", webhook=WEBHOOK, **options)
    sandbox.state.catalog.offers[OFFER] = Offer(OFFER, "prod-1", "Чайник, белый", prices={"p": Decimal(1500)})
    return sandbox


def client_for(sandbox: SiteSandbox, **kw: Any) -> SiteRest:
    """obmen's REST client of this site."""
    return SiteRest(webhook_url(BASE, WEBHOOK), transport=httpx.ASGITransport(app=sandbox.app), **kw)


def control(sandbox: SiteSandbox) -> httpx.AsyncClient:
    """The sandbox's control API (a customer, a manager)."""
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=sandbox.app), base_url=BASE)


async def place(http: httpx.AsyncClient, *, email: str = "irina@example.ru", delivery: int = 300) -> int:
    """A customer checks out; returns the order id."""
    body = {
        "customer": {"name": "Ирина Смирнова", "email": email, "phone": "+7 912 345-67-89"},
        "items": [{"offer": OFFER, "quantity": 2, "price": 1500, "discount": 100}],
        "delivery": {"service": "Доставка курьером", "price": delivery},
        "payment": {"system": "Банковской картой онлайн"},
        "comment": "после 18",
    }
    reply = await http.post("/_sandbox/orders", json=body)
    assert reply.status_code == 201, reply.text
    return int(reply.json()["id"])
