"""Flow 1 beyond the first load: change-only exchanges, deletion marks, products the portal already had.

Its own stack (three sandboxes and obmen on loopback): the portal is seeded before 1C's first exchange.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx
import pytest

from obmen.demo.activity import Activity
from obmen.demo.stack import Tuning, running_stack

pytestmark = pytest.mark.slow


def _stamps(rows: list[dict[str, Any]]) -> dict[str, Any]:
    return {str(r["xmlId"]): (r["timestampX"], r["active"], r["name"]) for r in rows if r.get("xmlId")}


async def test_the_catalog_is_matched_then_changed_only_where_1c_changed_it(tmp_path: Path) -> None:
    async with running_stack(tmp_path / "state") as stack, httpx.AsyncClient(timeout=60) as http:
        day = Activity(stack, http, timeout=60)
        cards = await day.onec("GET", "/products")
        known, priced, doomed = cards[0], cards[1], cards[2]
        seeded = await day.existing_product(known["id"], "Куртка (заведена вручную)")

        await day.catalog()
        await day.settled()
        # Matched by xmlId: the portal's own row now carries 1C's card, and no second one was made.
        rows = await day.portal("catalog.product")
        same = [r for r in rows if r.get("xmlId") == known["id"]]
        assert [r["id"] for r in same] == [seeded]
        assert same[0]["name"] == known["name"]
        assert len(await day.b24_products()) == len(cards)
        assert (await day.site_catalog())["total"] == len(cards)

        # A change-only exchange with one new price: only that offer (and its card) is written anywhere.
        before = _stamps(rows)
        mark = max((r["id"] for r in await day.journal()), default=0)
        await asyncio.sleep(1.1)  # the portal stamps timestampX to the second
        offer = priced["offers"][0]["id"] if priced["offers"] else priced["id"]
        await day.price_change(offer, "4321")
        await day.settled()
        written = [r for r in await day.journal(mark) if r["status"] == "applied" and r["changed"]]
        assert written, "the new price was not journaled"
        touched = {str(r["links"].get("onec", "")).split("#")[0] for r in written}
        assert touched == {priced["id"]}, written
        after = _stamps(await day.portal("catalog.product"))
        moved = {key for key, stamp in after.items() if before.get(key) != stamp}
        assert {key.split("#")[0] for key in moved} <= {priced["id"]}, moved

        # A deletion mark deactivates the product in the CRM and on the site; it is not deleted.
        await day.deletion_mark(doomed["id"])
        await day.settled()
        assert len(await day.b24_products()) == len(cards)
        status = await day.obmen_status()
        assert status["parked"]["total"] == 0, status["parked"]


async def test_a_product_made_by_hand_is_matched_by_its_article(tmp_path: Path) -> None:
    properties = {"OBMEN_MAPPING__CATALOG_PROPERTIES__ARTICLE": "CML2_ARTICLE"}
    async with (
        running_stack(tmp_path / "state", tuning=Tuning(extra_env=properties)) as stack,
        httpx.AsyncClient(timeout=60) as http,
    ):
        day = Activity(stack, http, timeout=60)
        cards = await day.onec("GET", "/products")
        card = next(c for c in cards if c.get("article"))
        # The shop entered this product by hand, with 1C's article in its article property, no `Ид`.
        catalogs = (await day.b24("catalog.catalog.list"))["catalogs"]
        iblock = next(c["iblockId"] for c in catalogs if not c.get("productIblockId"))
        prop = {"iblockId": iblock, "name": "Артикул", "code": "CML2_ARTICLE", "propertyType": "S"}
        code = (await day.b24("catalog.productProperty.add", {"fields": prop}))["productProperty"]["id"]
        fields = {"iblockId": iblock, "name": "Заведён вручную", f"property{code}": card["article"]}
        seeded = (await day.b24("catalog.product.add", {"fields": fields}))["element"]["id"]

        await day.catalog()
        await day.settled()
        products = await day.b24_products()
        [mine] = [p for p in products if p["id"] == seeded]
        assert (mine["name"], mine["xmlId"]) == (card["name"], card["id"])  # 1C's card, on the shop's row
        assert len(products) == len(cards)  # and no second product for it
