"""The demo's flow 7, second part: an order with VAT on top, paid a part online and the rest to the courier.

Until its last payment the order is not paid, anywhere: the CRM's invoice stays unpaid while its comment
says how much is in (docs/protocols/bitrix24.md §5.5); paid in full, the invoice is paid. The sums agree to
the kopeck with the VAT added on top of the net price (docs/architecture.md §4).
"""

from __future__ import annotations

import time
from decimal import Decimal
from typing import Any

from obmen.demo.watch import Watcher

__all__ = ["split_payment"]

FLOW = "7 payment"
#: Another customer of the day's: her order is paid in two parts.
CUSTOMER = {"name": "Олег Петров", "email": "oleg@example.ru", "phone": "+7 903 555-44-33"}


async def _deal(day: Watcher, number: str) -> dict[str, Any] | None:
    title = f"Заказ №{number}"
    return next((d for d in await day.portal("crm.deal") if str(d.get("TITLE")) == title), None)


def _kopecks(value: Any) -> Decimal:
    return Decimal(str(value)).quantize(Decimal("0.01"))


async def split_payment(day: Watcher, offer: str) -> None:
    """Place the order, pay a part online, then the rest on delivery; watch the CRM follow each step."""
    started = time.monotonic()
    body = {
        "customer": CUSTOMER,
        "items": [{"offer": offer, "quantity": 1, "vat_rate": 20, "vat_included": False}],
        "delivery": {"service": "Курьер", "price": 300},
        "payments": [
            {"system": "Банковская карта", "sum": "500", "paid": True},
            {"system": "Наличные курьеру", "paid": False},
        ],
    }
    placed = await day.site("POST", "/orders", body)
    site_id, number = placed["id"], str(placed["number"])
    total = _kopecks((await day.site("GET", f"/orders/{site_id}"))["total"])

    async def part_paid() -> dict[str, Any] | None:
        deal = await _deal(day, number)
        invoice = await day.invoice_of(deal["ID"]) if deal else None
        if not (deal and invoice and _kopecks(deal["OPPORTUNITY"]) == total):
            return None
        return deal if not str(invoice["STAGE_ID"]).endswith(":P") and invoice.get("COMMENTS") else None

    path = f"{day.site_path} → Bitrix24"
    what = f"order №{number}, VAT on top, {total} ₽, 500 ₽ paid online: its invoice not paid yet"
    deal = await day.until(FLOW, what, part_paid, started, path=path)

    started = time.monotonic()
    payments = (await day.site("GET", f"/orders/{site_id}"))["payments"]
    await day.site("PATCH", f"/orders/{site_id}", {"payments": [{"id": payments[1]["id"], "paid": True}]})

    async def paid_in_full() -> bool:
        invoice = await day.invoice_of(deal["ID"])
        return bool(invoice and str(invoice["STAGE_ID"]).endswith(":P"))

    what = f"order №{number}: the rest paid to the courier, its invoice paid in full"
    await day.until(FLOW, what, paid_in_full, started, path=path)
