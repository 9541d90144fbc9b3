"""Over real sockets: the sandbox 1C runs a full catalog exchange, a change-only run and sale runs against
the site sandbox (`obmen_sandbox.site`, written independently from the same reference)."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from obmen_sandbox.onec import OnecSandbox
from obmen_sandbox.serving import serve_in_thread

site_module = pytest.importorskip("obmen_sandbox.site")

LOGIN, PASSWORD = "exchange", "пароль-обмена"


@pytest.fixture
def urls() -> Iterator[tuple[str, str]]:
    # A small file_limit so the zip travels in several appended chunks (§1.4).
    site = site_module.SiteSandbox(LOGIN, PASSWORD, file_limit=2048)
    with serve_in_thread(site.app) as site_url:
        onec = OnecSandbox(site_url + site_module.EXCHANGE_PATH, LOGIN, PASSWORD)
        with serve_in_thread(onec.app) as onec_url:
            yield onec_url, site_url


async def test_catalog_then_sale_round_trip_over_sockets(urls: tuple[str, str]) -> None:
    onec_url, site_url = urls
    async with (
        httpx.AsyncClient(base_url=onec_url, timeout=60) as onec,
        httpx.AsyncClient(base_url=site_url, timeout=60) as site,
    ):
        full = await onec.post("/_sandbox/exchange/catalog", json={"changes_only": False})
        assert full.status_code == 200, full.text
        summary = full.json()
        assert summary["zip"] is True
        assert summary["uploads"][0]["chunks"] > 1
        assert [step["query"].split("&")[1] for step in summary["transcript"]][-2:] == [
            "mode=deactivate",
            "mode=complete",
        ]
        products = (await onec.get("/_sandbox/products")).json()
        jacket = next(p for p in products if len(p["offers"]) == 3)
        on_site = (await site.get("/_sandbox/products", params={"xml_id": jacket["id"]})).json()
        assert on_site["name"] == jacket["name"]
        assert sorted(o["xml_id"] for o in on_site["offers"]) == sorted(o["id"] for o in jacket["offers"])

        offer = jacket["offers"][0]["id"]
        patched = await onec.patch(
            "/_sandbox/products/" + offer.replace("#", "%23"), json={"prices": {"Розничная": 7777}}
        )
        assert patched.status_code == 200, patched.text
        delta = (await onec.post("/_sandbox/exchange/catalog", json={"changes_only": True})).json()
        assert (delta["ok"], delta["products"], delta["offers"]) == (True, 0, 1)
        on_site = (await site.get("/_sandbox/products", params={"xml_id": jacket["id"]})).json()
        assert next(o for o in on_site["offers"] if o["xml_id"] == offer)["prices"]["Розничная"] == "7777"

        created = await site.post(
            "/_sandbox/orders",
            json={
                "customer": {"name": "Иван Петров", "email": "ivan@example.ru", "phone": "+79000000000"},
                "items": [{"offer": offer, "quantity": 2}],
                "delivery": {"service": "Курьер", "price": 300},
                "payment": {"system": "Карта", "paid": False},
            },
        )
        assert created.status_code in (200, 201), created.text
        site_order = created.json()
        sale = (await onec.post("/_sandbox/exchange/sale")).json()
        assert (sale["ok"], sale["created"]) == (True, 1), sale
        (order,) = (await onec.get("/_sandbox/orders")).json()
        assert order["number"] == str(site_order["number"])
        assert order["lines"][0]["offer"] == offer
        shown = (await site.get(f"/_sandbox/orders/{site_order['id']}")).text
        assert order["onec_number"] in shown  # the site learnt 1C's number from the uploaded document

        edit = {"posted": True, "paid": True, "shipped": True, "status": "F"}
        assert (await onec.patch(f"/_sandbox/orders/{order['id']}", json=edit)).status_code == 200
        again = (await onec.post("/_sandbox/exchange/sale")).json()
        assert again["ok"] is True, again
        assert again["created"] == 0
        assert again["uploaded"]["orders"] == [order["id"]]
        final = (await site.get(f"/_sandbox/orders/{site_order['id']}")).json()
        assert final["status"] == "F"
        quiet = (await onec.post("/_sandbox/exchange/sale")).json()
        assert (quiet["received"], quiet["uploaded"]) == (
            0,
            None,
        )  # orders last changed by 1C are not re-sent
