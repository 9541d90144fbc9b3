"""Issue 12: an order whose VAT is charged on top of its prices agrees to the kopeck in every system.

A customer orders two lines at net prices, VAT at 20 % added on top (the site's `VAT_INCLUDED = N`), and one
line whose price includes its 10 %. The site's total, the deal's sum, its invoice and 1C's document must
show the same sum, and each system must keep the lines net, with their VAT on top.
"""

from __future__ import annotations

import time
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from placed import catalog_offers

from obmen.demo.activity import Activity, Timeout
from obmen.demo.stack import Tuning, running_stack

pytestmark = pytest.mark.slow

#: The demo's paths (the site's REST, 1C's OData) and the exchanges.
REST_ODATA = Tuning(site_mode="rest", onec_mode="odata", b24_poll_every=5)
EXCHANGE = REST_ODATA.exchange_only()
KOPECK = Decimal("0.01")


def _money(value: Any) -> Decimal:
    return Decimal(str(value)).quantize(KOPECK)


async def _offers(day: Activity) -> list[str]:
    offers = await catalog_offers(day)
    for offer in offers[:2]:
        await day.on_sale(offer)
    return offers[:2]


@pytest.mark.parametrize("tuning", [REST_ODATA, EXCHANGE], ids=["rest-odata", "exchange"])
async def test_vat_on_top_agrees_to_the_kopeck_on_the_site_in_the_crm_and_in_1c(
    tuning: Tuning, tmp_path: Path
) -> None:
    async with (
        running_stack(tmp_path / "state", tuning=tuning) as stack,
        httpx.AsyncClient(timeout=60) as http,
    ):
        day = Activity(stack, http, timeout=40)
        first, second = await _offers(day)
        # 1C's order holds one `ЦенаВключаетНДС` for all its lines: through OData both lines are on top.
        mixed = not day.odata
        items = [
            {"offer": first, "quantity": 3, "price": "99.99", "vat_rate": 20, "vat_included": False},
            {"offer": second, "quantity": 1, "price": "1234.57", "vat_rate": 10, "vat_included": mixed},
        ]
        body = {
            "customer": {"name": "Анна Смирнова", "email": "anna@example.ru", "phone": "+79005554433"},
            "items": items,
            "delivery": {"service": "Курьер", "price": 300},
            "payment": {"system": "Банковская карта", "paid": False},
        }
        placed = await day.site("POST", "/orders", body)
        placed = await day.site("GET", f"/orders/{placed['id']}")
        # 3 × 99.99 = 299.97 net, its VAT 59.994 → 59.99 on top; the second line includes its VAT, or
        # adds 123.457 → 123.46.
        total = (
            Decimal("299.97")
            + Decimal("59.99")
            + Decimal("1234.57")
            + 300
            + (0 if mixed else Decimal("123.46"))
        )
        assert _money(placed["total"]) == total, placed
        number, site_id = str(placed["number"]), placed["id"]
        started = time.monotonic()
        deal = await day.until("vat", "the deal", lambda: day.deal_of(number), started)
        await day.sale_exchange(number)
        await day.settled()

        async def agreed() -> bool:
            invoice = await day.invoice_of(deal["ID"]) or {}
            onec = next(o for o in await day.onec("GET", "/orders") if str(o.get("number")) == number)
            the_deal = next(d for d in await day.portal("crm.deal") if str(d["ID"]) == str(deal["ID"]))
            shown.append((the_deal["OPPORTUNITY"], invoice.get("OPPORTUNITY"), onec["total"]))
            sums = {
                _money(the_deal["OPPORTUNITY"]),
                _money(invoice.get("OPPORTUNITY", 0)),
                _money(onec["total"]),
            }
            return sums == {total}

        shown: list[Any] = []
        try:
            await day.until("vat", "the same sum everywhere", agreed, started)
        except Timeout:
            pytest.fail(f"sums: {shown[-1:]}, wanted {total}; parked: {(await day.obmen_status())['parked']}")
        if not day.odata:
            await day.onec("POST", "/exchange/sale")
        await day.settled()

        # Each system keeps the lines as the site placed them: net, VAT on top.
        rows = await day.b24("crm.deal.productrows.get", {"id": deal["ID"]})
        goods = sorted((r for r in rows if "оставк" not in str(r["PRODUCT_NAME"])), key=lambda r: r["PRICE"])
        second_tax = "Y" if mixed else "N"
        assert [(r["TAX_INCLUDED"], float(r["TAX_RATE"])) for r in goods] == [("N", 20.0), (second_tax, 10.0)]
        assert _money(goods[0]["PRICE"]) == (Decimal("99.99") * Decimal("1.2")).quantize(
            KOPECK, ROUND_HALF_UP
        )
        site = await day.site("GET", f"/orders/{site_id}")
        assert _money(site["total"]) == total, site
        assert [(i["price"], i["vat_included"]) for i in site["items"]] == [
            ("99.99", False),
            ("1234.57", mixed),
        ]
        base = (await day.timeline("order", f"site:{site_id}"))["base"]
        assert [(line["price"]["amount"], line["vat_included"]) for line in base["lines"]] == [
            ("99.99", False),
            ("1234.57", mixed),
        ], base["lines"]
        assert _money(base["total"]["amount"]) == total
        status = await day.obmen_status()
        assert status["parked"]["total"] == 0, status["parked"]
