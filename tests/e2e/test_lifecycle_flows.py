"""Issue 12's numbered bugs end to end: a payment undone by a stale 1C document, an unmapped stage.

Each test has its own stack (three sandboxes and obmen on loopback, over real sockets) and drives it only
through the sandboxes' control APIs and the protocols, the way a shop works.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from placed import taken_by_1c

from obmen.demo.activity import Activity, _first_offer
from obmen.demo.stack import Tuning, running_stack

pytestmark = pytest.mark.slow

#: The portal's changes reach obmen by its events, and a scan now and then.
PUSHED = Tuning(b24_poll_every=5)


async def _placed_paid_order(day: Activity) -> tuple[str, Any, Any]:
    """A site order, taken by 1C, then paid on the site: (number, site id, deal id)."""
    await day.catalog()
    offer = _first_offer(await day.onec("GET", "/products"))
    number, site_id, deal_id = await taken_by_1c(day, offer)
    await day.site_payment(deal_id, number, site_id)
    await day.settled()
    return number, site_id, deal_id


async def _invoice_stage(day: Activity, deal_id: Any) -> str:
    invoice = await day.invoice_of(deal_id)
    assert invoice is not None
    return str(invoice["STAGE_ID"])


async def _still(day: Activity, probe: Any, seconds: float = 3.0) -> None:
    """`probe` holds now and keeps holding while late exchanges and events land."""
    for _ in range(int(seconds / 0.5)):
        await day.settled()
        assert await probe()
        await asyncio.sleep(0.5)


async def test_a_stale_1c_document_does_not_undo_a_payment(tmp_path: Path) -> None:
    async with (
        running_stack(tmp_path / "state", tuning=PUSHED) as stack,
        httpx.AsyncClient(timeout=60) as http,
    ):
        day = Activity(stack, http, timeout=60)
        number, site_id, deal_id = await _placed_paid_order(day)
        assert (await _invoice_stage(day, deal_id)).endswith(":P")

        # 1C posts and ships the order it took before the payment, then runs its sale exchange.
        await day.onec("PATCH", f"/orders/{number}", {"posted": True, "shipped": True, "status": "F"})
        await day.onec("POST", "/exchange/sale")
        await day.settled()
        await day.onec("POST", "/exchange/sale")

        async def paid_everywhere() -> bool:
            site = await day.site("GET", f"/orders/{site_id}")
            stage = await _invoice_stage(day, deal_id)
            base = (await day.timeline("order", f"bitrix24:{deal_id}"))["base"]
            base_paid = bool(base["payments"]) and all(p["paid"] for p in base["payments"])
            return bool(site["payment"]["paid"]) and stage.endswith(":P") and base_paid

        await _still(day, paid_everywhere)
        # The shipment did arrive: the status moved on everywhere.
        site = await day.site("GET", f"/orders/{site_id}")
        assert site["status"] == "F", site
        deal = next(d for d in await day.portal("crm.deal") if str(d["ID"]) == str(deal_id))
        assert deal["STAGE_ID"] == "WON", deal
        status = await day.obmen_status()
        assert status["parked"]["total"] == 0, status["parked"]


async def test_an_unmapped_stage_leaves_a_paid_orders_status_alone(tmp_path: Path) -> None:
    async with (
        running_stack(tmp_path / "state", tuning=PUSHED) as stack,
        httpx.AsyncClient(timeout=60) as http,
    ):
        day = Activity(stack, http, timeout=60)
        number, site_id, deal_id = await _placed_paid_order(day)
        await day.stage_move(deal_id, number, site_id, "PREPARATION", "P")
        await day.settled()

        # A stock stage of a fresh portal that no status maps to.
        moved = time.monotonic()
        await day.b24("crm.deal.update", {"id": deal_id, "fields": {"STAGE_ID": "FINAL_INVOICE"}})

        async def shown() -> dict[str, Any] | None:
            timeline = await day.timeline("order", f"bitrix24:{deal_id}")
            return timeline if "FINAL_INVOICE" in str(timeline.get("unknown")) else None

        async def status_kept() -> bool:
            site = await day.site("GET", f"/orders/{site_id}")
            deal = next(d for d in await day.portal("crm.deal") if str(d["ID"]) == str(deal_id))
            return bool(site["status"] == "P" and deal["STAGE_ID"] == "FINAL_INVOICE")

        try:
            timeline = await day.until("4 stage", "the unmapped stage on the timeline", shown, moved)
        finally:
            assert await status_kept(), await day.site("GET", f"/orders/{site_id}")
        await _still(day, status_kept)
        assert timeline["base"]["status"] == "P", timeline["base"]
        # 1C collects the order's status on its next exchange: still the paid order's.
        await day.onec("POST", "/exchange/sale")
        await _still(day, status_kept)
        onec = await day.onec("GET", "/orders")
        items = onec["orders"] if isinstance(onec, dict) else onec
        assert [o["status"] for o in items if str(o.get("number")) == number] == ["P"], items
