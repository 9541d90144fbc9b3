"""An order placed on the site and taken by 1C, as several e2e flows start from."""

from __future__ import annotations

import time
from typing import Any

from obmen.demo.activity import Activity


async def taken_by_1c(day: Activity, offer: str, **order: Any) -> tuple[str, Any, Any]:
    """A site order of `offer` that 1C took, its number back on the site: (number, site id, deal id);
    `order` is passed on to `Activity.order` (e.g. `payments`)."""
    placed = await day.order(offer, **order)
    number, site_id, deal_id = str(placed["site"]["number"]), placed["site"]["id"], placed["deal"]["ID"]
    await day.sale_exchange(number)
    await day.settled()

    async def on_site_as_1c_took_it() -> bool:
        # Until 1C's number is on the site, a round that imports the order may hide a change made meanwhile:
        # the site does not export it (docs/protocols/commerceml.md §1.7).
        return bool(((await day.site("GET", f"/orders/{site_id}")).get("onec") or {}).get("number"))

    await day.until("2 order", f"order №{number} shows 1C's number", on_site_as_1c_took_it, time.monotonic())
    return number, site_id, deal_id


async def catalog_offers(day: Activity) -> list[str]:
    """The catalog loaded on both sides; the first offer of each product, in 1C's order."""
    await day.catalog()
    cards = await day.onec("GET", "/products")
    return [
        str(o.get("id") or o.get("xml_id"))
        for p in (cards["products"] if isinstance(cards, dict) else cards)
        for o in (p.get("offers") or [{"id": p.get("id")}])[:1]
    ]
