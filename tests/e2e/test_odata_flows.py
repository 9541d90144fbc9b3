"""1C reached through OData (`onec.mode = "odata"`) end to end: the three sandboxes and obmen on loopback.

No 1C exchange runs here: the catalog arrives by obmen's first full read of 1C, a price, stock or name
typed in 1C reaches Bitrix24 and the site through a ping (or the poll that stands in for a lost one),
and a site order is written into 1C as a posted customer order.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from obmen.demo.activity import Activity
from obmen.demo.stack import Tuning
from obmen.testing.odata_stack import OdataTuning, odata_stack

pytestmark = pytest.mark.slow


def _same(a: Any, b: Any) -> bool:
    return f"{float(a):g}" == f"{float(b):g}"


async def _loaded(day: Activity) -> list[dict[str, Any]]:
    cards = await day.onec("GET", "/products")
    started = time.monotonic()

    async def everywhere() -> bool:
        b24 = len(await day.b24_products()) >= len(cards)
        return b24 and (await day.site_catalog())["total"] >= len(cards)

    await day.until("1 catalog", "1C's catalog read over OData, everywhere", everywhere, started)
    return list(cards)


async def _site_offer(day: Activity, offer: str) -> dict[str, Any] | None:
    """The storefront's offer, or None while the site has not received it yet (404)."""
    reply = await day.http.get(f"{day.stack.site}/_sandbox/offers/{offer.replace('#', '%23')}")
    return None if reply.status_code == 404 else dict(reply.raise_for_status().json())


async def _price(day: Activity, offer: str, price: str, flow: str = "1 price") -> None:
    started = time.monotonic()
    await day.onec("PATCH", f"/products/{offer.replace('#', '%23')}", {"prices": {"Розничная": price}})

    async def b24() -> bool:
        return any(_same(r["price"], price) for r in await day.portal("catalog.price"))

    async def site() -> bool:
        shown = await _site_offer(day, offer)
        return shown is not None and _same(shown["retail_price"], price)

    await day.until(flow, f"price {price} in Bitrix24", b24, started)
    await day.until(flow, f"price {price} on the site", site, started)


async def test_price_stock_and_name_typed_in_1c_reach_the_crm_and_the_site(tmp_path: Path) -> None:
    async with (
        odata_stack(tmp_path / "state", tuning=Tuning(), odata=OdataTuning(poll_interval=3.0)) as stack,
        httpx.AsyncClient(timeout=60) as http,
    ):
        day = Activity(stack, http, timeout=60)
        cards = await _loaded(day)
        card = next(c for c in cards if len(c["offers"]) > 1)
        offer = card["offers"][0]["id"]
        await day.settled()

        await _price(day, offer, "4321")
        started = time.monotonic()
        await day.onec("PATCH", f"/products/{offer.replace('#', '%23')}", {"stock": {"Основной склад": 77}})

        async def site_stock() -> bool:
            shown = await _site_offer(day, offer)
            return shown is not None and shown["stocks"].get("Основной склад") == "77"

        async def b24_stock() -> bool:
            rows = await day.portal("catalog.product")
            return any(
                r.get("xmlId") == offer and _same(r.get("quantity") or 0, 77 + 0) for r in rows
            ) or any(r.get("xmlId") == offer and float(r.get("quantity") or 0) >= 77 for r in rows)

        await day.until("1 stock", "stock 77 on the site", site_stock, started)
        await day.until("1 stock", "stock in Bitrix24", b24_stock, started)

        started = time.monotonic()
        await day.onec("PATCH", f"/products/{card['id']}", {"name": "Куртка «Полюс»"})

        async def renamed() -> bool:
            rows = await day.b24_products()
            site = await day.site("GET", f"/products?xml_id={card['id']}")
            return any(r.get("xmlId") == card["id"] and r["name"] == "Куртка «Полюс»" for r in rows) and (
                site["name"] == "Куртка «Полюс»"
            )

        await day.until("1 name", "the new name in Bitrix24 and on the site", renamed, started)
        # Nothing of it went through an exchange: 1C's exchange endpoint is not even served.
        assert (await http.get(f"{stack.obmen}/exchange/1c?type=catalog&mode=checkauth")).status_code == 404
        triggers = {r["trigger"] for r in await day.journal()}
        assert "onec:ping" in triggers, triggers

        # A ping that is lost: the next short poll of the exchange plan finds the change.
        await day.settled()
        mark = max(r["id"] for r in await day.journal())
        await day.onec("PUT", "/odata", {"drop_pings": 1})
        await _price(day, offer, "5555", flow="lost ping")
        [lost] = [p for p in await day.onec("GET", "/odata/pings") if not p["sent"]]
        assert "dropped" in lost["reason"]
        caught = {r["trigger"] for r in await day.journal(mark) if r["status"] == "applied"}
        assert caught == {"onec:poll"}, caught

        # A customer orders on the site: the order is written into 1C over OData and posted.
        await day.on_sale(offer)
        body = {
            "customer": {"name": "Ирина Смирнова", "email": "irina@example.ru", "phone": "+7 912 345-67-89"},
            "items": [{"offer": offer, "quantity": 2}],
            "delivery": {"service": "Курьер", "price": 300},
            "payment": {"system": "Банковская карта", "paid": False},
        }
        placed = await day.site("POST", "/orders", body)
        number, started = str(placed["number"]), time.monotonic()

        async def in_1c() -> dict[str, Any] | None:
            # A document is created, then posted (two calls, docs/protocols/onec.md §A1.6): wait for both.
            orders = await day.onec("GET", "/orders")
            return next((o for o in orders if o["number"] == number and o["posted"]), None)

        order = await day.until("2 order", f"order №{number} in 1C over OData, posted", in_1c, started)
        assert order["lines"][0]["offer"] == offer, order
        assert order["counterparty"], order
        await day.settled()
        status = await day.obmen_status()
        assert status["parked"]["total"] == 0, status["parked"]
        endpoints = (tmp_path / "state" / "endpoints.json").read_text(encoding="utf-8")
        assert "/trade/odata/standard.odata" in endpoints


async def test_without_the_extension_1c_is_polled_and_a_price_still_arrives(tmp_path: Path) -> None:
    polled = OdataTuning(extension=False, poll_interval=1.0)
    async with (
        odata_stack(tmp_path / "state", odata=polled) as stack,
        httpx.AsyncClient(timeout=60) as http,
    ):
        day = Activity(stack, http, timeout=60)
        cards = await _loaded(day)
        await day.settled()
        offer = next(c for c in cards if c["offers"])["offers"][0]["id"]
        await _price(day, offer, "1234")
        assert "onec:poll" in {r["trigger"] for r in await day.journal()}
