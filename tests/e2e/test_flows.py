"""The flows of issue 5 end to end: the three sandboxes and obmen on loopback, over real sockets.

One stack plays a shop's day (obmen.demo.activity, the same script `obmen demo` prints); each step
waits until the change is visible in the other systems through their own APIs, or fails the test.
"""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from obmen.demo.activity import Activity
from obmen.demo.stack import running_stack

pytestmark = pytest.mark.slow


async def test_a_shops_day_reaches_every_system(tmp_path: Path) -> None:
    async with running_stack(tmp_path / "state") as stack, httpx.AsyncClient(timeout=60) as http:
        day = Activity(stack, http, timeout=60)
        await day.play()
        flows = {seen.flow for seen in day.log}
        assert flows >= {"1 catalog", "2 order", "3 1C", "4 stage", "5 CRM deal", "7 payment"}
        # No duplicates anywhere: one deal and one invoice for the site's order, one product per 1C card.
        deals = await day.portal("crm.deal")
        onec_products = await day.onec("GET", "/products")
        assert len(await day.b24_products()) == len(onec_products)
        site_order_deals = [d for d in deals if "Заказ №" in str(d["TITLE"])]
        # The day's two site orders (the first, and flow 7's paid in two parts), one deal each.
        assert len(site_order_deals) == 2, site_order_deals
        invoices = await day.portal("crm.smart_invoice")
        assert sorted(str(i["PARENT_ID_2"]) for i in invoices) == sorted(str(d["ID"]) for d in deals)
        status = (await http.get(f"{stack.obmen}/api/status")).json()
        assert status["parked"]["total"] == 0, status["parked"]
        endpoints = (tmp_path / "state" / "endpoints.json").read_text(encoding="utf-8")
        assert stack.obmen in endpoints
