"""Issue 12: an order with two payments (part paid online, the rest on delivery) keeps both everywhere.

One stack (three sandboxes and obmen on loopback, over real sockets), driven through the sandboxes'
control APIs and the protocols: the site's order reaches the CRM and 1C with both payments; it is not paid
until the second is; then it is paid everywhere, and a stale 1C document does not unpay it
(docs/architecture.md §2.11).
"""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from placed import taken_by_1c

from obmen.demo.activity import Activity, Timeout, _first_offer
from obmen.demo.stack import Tuning, running_stack

pytestmark = pytest.mark.slow

PUSHED = Tuning(b24_poll_every=5)
#: The same with the site read and written through its REST and events (docs/protocols/site-rest.md).
REST = Tuning(site_mode="rest", b24_poll_every=5)
#: 300 paid online (the delivery's price: less than any order of two goods), the rest in cash on delivery.
TWO = [{"system": "Банковская карта", "sum": 300, "paid": True}, {"system": "Наличными курьеру"}]


async def _invoice(day: Activity, deal_id: Any) -> dict[str, Any]:
    invoice = await day.invoice_of(deal_id)
    assert invoice is not None
    return dict(invoice)


def _kept(invoice: dict[str, Any]) -> list[bool]:
    """Which payments the invoice's `xmlId` keeps paid (docs/protocols/bitrix24.md, the smart invoice)."""
    raw = str(invoice.get("XML_ID") or invoice.get("xmlId") or "")
    if not raw.startswith("obmen:"):
        return []
    return [bool(row[2]) for row in json.loads(raw.removeprefix("obmen:"))]


async def _onec(day: Activity, number: str) -> dict[str, Any]:
    await day.onec("POST", "/exchange/sale")
    orders = await day.onec("GET", "/orders")
    items = orders["orders"] if isinstance(orders, dict) else orders
    return dict(next(o for o in items if str(o.get("number")) == number))


async def _shown(day: Activity, number: str, site_id: Any, deal_id: Any) -> dict[str, Any]:
    site = await day.site("GET", f"/orders/{site_id}")
    invoice = await _invoice(day, deal_id)
    onec = await _onec(day, number)
    return {
        "site": [p["paid"] for p in site["payments"]],
        "site paid": site["payment"]["paid"],
        "invoice": _kept(invoice),
        "invoice paid": str(invoice["STAGE_ID"]).endswith(":P"),
        "1C": [p["paid"] for p in onec["payments"]],
        "1C paid": onec["paid"],
    }


async def _everywhere(day: Activity, order: tuple[str, Any, Any], wanted: dict[str, Any], what: str) -> None:
    seen: list[dict[str, Any]] = []

    async def agreed() -> bool:
        seen.append(await _shown(day, *order))
        return seen[-1] == wanted

    try:
        await day.until("7 payment", what, agreed, time.monotonic())
    except Timeout:
        parked = (await day.obmen_status())["parked"]
        pytest.fail(f"{what}: shown {seen[-1] if seen else None}, wanted {wanted}; parked: {parked}")


async def _second_paid(day: Activity, by: str, number: str, site_id: Any) -> None:
    """The courier takes the cash: the second payment is paid on the site, or recorded by 1C's accountant."""
    if by == "site":
        site = await day.site("GET", f"/orders/{site_id}")
        second = site["payments"][1]["id"]
        await day.site("PATCH", f"/orders/{site_id}", {"payments": [{"id": second, "paid": True}]})
    else:
        await day.onec("PATCH", f"/orders/{number}", {"payments": [{"number": 2, "paid": True}]})
        await day.onec("POST", "/exchange/sale")


@pytest.mark.parametrize("by", ["site", "1c"])
@pytest.mark.parametrize("tuning", [PUSHED, REST], ids=["exchange", "site-rest"])
async def test_two_payments_reach_the_crm_and_1c_and_the_order_is_paid_only_in_full(
    tmp_path: Path, tuning: Tuning, by: str
) -> None:
    async with (
        running_stack(tmp_path / "state", tuning=tuning) as stack,
        httpx.AsyncClient(timeout=60) as http,
    ):
        day = Activity(stack, http, timeout=60)
        await day.catalog()
        offer = _first_offer(await day.onec("GET", "/products"))
        order = await taken_by_1c(day, offer, payments=TWO)
        number, site_id, _ = order
        part = {
            "site": [True, False],
            "site paid": False,
            "invoice": [True, False],
            "invoice paid": False,
            "1C": [True, False],
            "1C paid": False,
        }
        await _everywhere(day, order, part, "both payments, the first paid, everywhere")

        await _second_paid(day, by, number, site_id)
        full = {**part, "site": [True, True], "site paid": True, "invoice": [True, True]}
        full |= {"invoice paid": True, "1C": [True, True], "1C paid": True}
        await _everywhere(day, order, full, "paid in full everywhere")

        # 1C posts and ships the order from a document it wrote before the payment, then runs its exchange.
        await day.onec("PATCH", f"/orders/{number}", {"posted": True, "shipped": True})
        await day.onec("POST", "/exchange/sale")
        for _ in range(6):
            await day.settled()
            assert await _shown(day, *order) == full
            await asyncio.sleep(0.5)
        status = await day.obmen_status()
        assert status["parked"]["total"] == 0, status["parked"]


#: 1C through OData (docs/protocols/onec.md §A1.9), the site through its REST: the demo's paths.
REST_ODATA = Tuning(site_mode="rest", onec_mode="odata", b24_poll_every=5)


async def _receipts(day: Activity, number: str) -> dict[str, Any]:
    """1C's order over OData: its payment documents (set, posted) in the order made, and its paid flag."""
    order = next(o for o in await day.onec("GET", "/orders") if str(o.get("number")) == number)
    docs = [
        d
        for d in await day.onec("GET", "/odata/payments")
        if any(r["Заказ"] == order["onec_id"] for r in d["РасшифровкаПлатежа"])
    ]
    return {"docs": [(d["set"], d["Posted"]) for d in docs if not d["DeletionMark"]], "paid": order["paid"]}


async def _shown_odata(day: Activity, number: str, site_id: Any, deal_id: Any) -> dict[str, Any]:
    site = await day.site("GET", f"/orders/{site_id}")
    invoice = await _invoice(day, deal_id)
    onec = await _receipts(day, number)
    return {
        "site": [p["paid"] for p in site["payments"]],
        "invoice": _kept(invoice),
        "invoice paid": str(invoice["STAGE_ID"]).endswith(":P"),
        "1C": onec["docs"],
        "1C paid": onec["paid"],
    }


async def _agreed_odata(
    day: Activity, order: tuple[str, Any, Any], wanted: dict[str, Any], what: str
) -> None:
    seen: list[dict[str, Any]] = []

    async def agreed() -> bool:
        seen.append(await _shown_odata(day, *order))
        return seen[-1] == wanted

    try:
        await day.until("7 payment", what, agreed, time.monotonic())
    except Timeout:
        parked = (await day.obmen_status())["parked"]
        pytest.fail(f"{what}: shown {seen[-1] if seen else None}, wanted {wanted}; parked: {parked}")


BANK, CASH = "Document_ПоступлениеБезналичныхДенежныхСредств", "Document_ПриходныйКассовыйОрдер"


@pytest.mark.parametrize("by", ["site", "1c"])
async def test_through_odata_each_payment_is_a_1c_payment_document_both_ways(tmp_path: Path, by: str) -> None:
    """Part paid online, the rest in cash on delivery: 1C gets a bank receipt, posted, and a cash receipt,
    posted only once the courier's cash is paid, on the site or recorded by 1C's accountant."""
    async with (
        running_stack(tmp_path / "state", tuning=REST_ODATA) as stack,
        httpx.AsyncClient(timeout=60) as http,
    ):
        day = Activity(stack, http, timeout=60)
        await day.catalog()
        offer = _first_offer(await day.onec("GET", "/products"))
        placed = await day.order(offer, payments=TWO)
        number, site_id = str(placed["site"]["number"]), placed["site"]["id"]
        order = (number, site_id, placed["deal"]["ID"])
        await day.sale_exchange(number)
        part = {
            "site": [True, False],
            "invoice": [True, False],
            "invoice paid": False,
            "1C": [(BANK, True), (CASH, False)],
            "1C paid": False,
        }
        await _agreed_odata(day, order, part, "two payment documents in 1C, the bank receipt posted")

        if by == "site":
            site = await day.site("GET", f"/orders/{site_id}")
            second = site["payments"][1]["id"]
            await day.site("PATCH", f"/orders/{site_id}", {"payments": [{"id": second, "paid": True}]})
        else:
            # The accountant posts the cash receipt obmen entered: 1C's extension pings obmen.
            row = await day.onec("POST", "/odata/payments", {"order": number})
            assert (row["set"], row["Posted"]) == (CASH, True), row
        full = {**part, "site": [True, True], "invoice": [True, True], "invoice paid": True}
        full |= {"1C": [(BANK, True), (CASH, True)], "1C paid": True}
        await _agreed_odata(day, order, full, "paid in full everywhere, both receipts posted in 1C")
        for _ in range(4):
            await day.settled()
            assert await _shown_odata(day, *order) == full
            await asyncio.sleep(0.5)
        status = await day.obmen_status()
        assert status["parked"]["total"] == 0, status["parked"]
