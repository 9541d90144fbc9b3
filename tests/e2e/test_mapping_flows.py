"""`[mapping]` tables end to end: order properties travel between the site, the CRM and 1C.

Each test has its own stack (three sandboxes and obmen on loopback, over real sockets), configured
through the environment as an operator's file would be, and drives it only through the sandboxes'
control APIs and the protocols.
"""

from __future__ import annotations

import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest

from obmen.demo.activity import CUSTOMER, Activity, _first_offer
from obmen.demo.stack import Stack, Tuning, running_stack
from obmen.model.fields import decimal_text
from obmen_sandbox.onec.demo import guid

pytestmark = pytest.mark.slow

#: A courier note the site names «Комментарий курьеру», the CRM keeps in a user field and 1C names
#: «Примечание для курьера»; the buyer's INN (the short form: a deal field; its document name is its
#: code, and the environment lower-cases codes, docs/configuration.md) under the same name everywhere.
PROPERTIES = Tuning(
    b24_poll_every=5,
    extra_env={
        "OBMEN_MAPPING__ORDER_PROPERTIES__COURIER__DEAL": "UF_CRM_COURIER_NOTE",
        "OBMEN_MAPPING__ORDER_PROPERTIES__COURIER__SITE": "Комментарий курьеру",
        "OBMEN_MAPPING__ORDER_PROPERTIES__COURIER__ONEC": "Примечание для курьера",
        "OBMEN_MAPPING__ORDER_PROPERTIES__INN": "UF_CRM_BUYER_INN",
    },
)


async def _deal(day: Activity, deal_id: Any) -> dict[str, Any]:
    return next(d for d in await day.portal("crm.deal") if str(d["ID"]) == str(deal_id))


async def test_order_properties_reach_deal_fields_and_1c_requisites_both_ways(tmp_path: Path) -> None:
    async with (
        running_stack(tmp_path / "state", tuning=PROPERTIES) as stack,
        httpx.AsyncClient(timeout=60) as http,
    ):
        day = Activity(stack, http, timeout=60)
        await day.catalog()
        offer = _first_offer(await day.onec("GET", "/products"))
        await day.on_sale(offer)
        started = time.monotonic()
        body = {
            "customer": CUSTOMER,
            "items": [{"offer": offer, "quantity": 1}],
            "delivery": {"service": "Курьер", "price": 300},
            "payment": {"system": "Банковская карта", "paid": False},
            "properties": {"Комментарий курьеру": "Домофон 12", "inn": "7707083893", "Прочее": "x"},
        }
        placed = await day.site("POST", "/orders", body)
        number = str(placed["number"])
        deal = await day.until("props", f"deal for №{number}", lambda: day.deal_of(number), started)

        async def deal_fields() -> dict[str, Any] | None:
            row = await _deal(day, deal["ID"])
            return row if row.get("UF_CRM_COURIER_NOTE") == "Домофон 12" else None

        row = await day.until("props", "the courier note in the deal", deal_fields, started)
        assert row["UF_CRM_BUYER_INN"] == "7707083893"
        # A property no row maps is nobody's business but the site's.
        assert "x" not in row.values()

        onec = await day.sale_exchange(number, "props")
        assert onec["requisites"]["Примечание для курьера"] == "Домофон 12", onec["requisites"]
        assert onec["requisites"]["inn"] == "7707083893"

        # A manager corrects the note in the CRM: 1C gets it with its next exchange.
        edited = time.monotonic()
        await day.b24("crm.deal.update", {"id": deal["ID"], "fields": {"UF_CRM_COURIER_NOTE": "Код 34"}})

        async def in_1c() -> dict[str, Any] | None:
            await day.onec("POST", "/exchange/sale")
            items = await day.onec("GET", "/orders")
            items = items["orders"] if isinstance(items, dict) else items
            mine = next((o for o in items if str(o.get("number")) == number), None)
            note = (mine or {}).get("requisites", {}).get("Примечание для курьера")
            return mine if note == "Код 34" else None

        await day.until("props", "the corrected note in 1C", in_1c, edited)
        await day.settled()
        # The site's exchange does not take properties back (as Bitrix's): its old note is not a change
        # of its own, and the CRM's value stays.
        assert (await _deal(day, deal["ID"]))["UF_CRM_COURIER_NOTE"] == "Код 34"
        timeline = await day.timeline("order", f"bitrix24:{deal['ID']}")
        assert timeline["base"]["property:courier"] == "Код 34", timeline["base"]


MANAGERS = Tuning(
    b24_poll_every=5,
    extra_env={"OBMEN_MAPPING__MANAGERS__1": "Порталов Админ", "OBMEN_MAPPING__MANAGERS__7": "Петров Пётр"},
)


async def _onec_order(day: Activity, number: str, exchange: bool = True) -> dict[str, Any]:
    if exchange:
        await day.onec("POST", "/exchange/sale")
    items = await day.onec("GET", "/orders")
    items = items["orders"] if isinstance(items, dict) else items
    return next(o for o in items if str(o.get("number")) == number)


async def test_the_deals_responsible_is_1cs_responsible_both_ways(tmp_path: Path) -> None:
    async with (
        running_stack(tmp_path / "state", tuning=MANAGERS) as stack,
        httpx.AsyncClient(timeout=60) as http,
    ):
        day = Activity(stack, http, timeout=60)
        users = [
            {"ID": 7, "NAME": "Пётр", "LAST_NAME": "Петров"},
            {"ID": 8, "NAME": "Нина", "LAST_NAME": "Новая"},
        ]
        await http.post(f"{stack.bitrix24}/_sandbox/seed", json={"users": users})
        await day.catalog()
        placed = await day.order(_first_offer(await day.onec("GET", "/products")))
        number, deal_id = str(placed["site"]["number"]), placed["deal"]["ID"]
        await day.sale_exchange(number)

        async def responsible(name: str) -> Any:
            async def probe() -> dict[str, Any] | None:
                order = await _onec_order(day, number)
                return order if order["responsible"] == name else None

            return probe

        # A manager takes the deal: 1C learns its responsible by name.
        started = time.monotonic()
        await day.b24("crm.deal.update", {"id": deal_id, "fields": {"ASSIGNED_BY_ID": 7}})
        await day.until("managers", "the responsible in 1C", await responsible("Петров Пётр"), started)

        # 1C's accountant gives the order back: the deal follows.
        await day.onec("PATCH", f"/orders/{number}", {"responsible": "Порталов Админ"})

        async def assigned(user: int) -> Any:
            async def probe() -> bool:
                await day.onec("POST", "/exchange/sale")
                deal = next(d for d in await day.portal("crm.deal") if str(d["ID"]) == str(deal_id))
                return int(deal["ASSIGNED_BY_ID"]) == user

            return probe

        await day.until("managers", "the deal assigned back", await assigned(1), time.monotonic())
        # A name no row maps tells nothing: the deal keeps its responsible.
        await day.onec("PATCH", f"/orders/{number}", {"responsible": "Сидоров"})
        await day.onec("POST", "/exchange/sale")
        await day.settled()
        assert await (await assigned(1))()
        # Nor does a user no row maps: 1C keeps its responsible, and the timeline says why.
        await day.onec("PATCH", f"/orders/{number}", {"responsible": "Петров Пётр"})
        await day.until("managers", "1C's responsible in the deal", await assigned(7), time.monotonic())
        await day.b24("crm.deal.update", {"id": deal_id, "fields": {"ASSIGNED_BY_ID": 8}})

        async def shown() -> dict[str, Any] | None:
            timeline = await day.timeline("order", f"bitrix24:{deal_id}")
            return timeline if "user 8" in str(timeline.get("unknown")) else None

        timeline = await day.until("managers", "the unmapped user on the timeline", shown, time.monotonic())
        assert timeline["base"]["manager"] == "Петров Пётр", timeline["base"]
        assert (await _onec_order(day, number))["responsible"] == "Петров Пётр"


MAIN, SHOP = guid("store", "Основной склад"), guid("store", "Склад магазина")
#: The shop's warehouse counts nowhere; the main one is the portal's store 2 (store 1 is no warehouse's).


async def _second_store(http: httpx.AsyncClient, stack: Stack) -> None:
    """The portal keeps stock by store documents and has a second store, before obmen first looks (it reads
    the portal's stores and inventory mode once)."""
    dump = await http.get(f"{stack.bitrix24}/_sandbox/dump", params={"tables": "catalog.store"})
    first = dump.json()["tables"]["catalog.store"][0]
    store = {**first, "id": 2, "title": "Склад 2", "code": "s2"}
    tables = {"catalog.store": [store], "catalog.settings": [{"id": 1, "storeControl": "Y"}]}
    assert (await http.post(f"{stack.bitrix24}/_sandbox/seed", json={"tables": tables})).is_success


STORES = Tuning(
    extra_env={f"OBMEN_MAPPING__WAREHOUSES__{MAIN}": "2", f"OBMEN_MAPPING__WAREHOUSES__{SHOP}": "0"},
    prepare=_second_store,
)


async def test_warehouses_go_to_their_stores_and_an_uncounted_one_nowhere(tmp_path: Path) -> None:
    async with (
        running_stack(tmp_path / "state", tuning=STORES) as stack,
        httpx.AsyncClient(timeout=60) as http,
    ):
        day = Activity(stack, http, timeout=60)
        await day.catalog()
        offers = [o for p in await day.onec("GET", "/products") for o in p["offers"]]
        split = next(o for o in offers if Decimal(o["stock"][SHOP]) and Decimal(o["stock"][MAIN]))
        main = Decimal(split["stock"][MAIN])

        async def b24_store() -> dict[int, Any] | None:
            rows = await day.portal("catalog.product")
            product = next((r for r in rows if r.get("xmlId") == split["id"]), None)
            levels = await day.portal("catalog.storeproduct")
            mine = {r["storeId"]: r["amount"] for r in levels if product and r["productId"] == product["id"]}
            return mine if mine.get(2) == float(main) else None

        amounts = await day.until(
            "stores", "the main warehouse's stock at store 2", b24_store, time.monotonic()
        )
        assert not amounts.get(1), amounts  # the unmapped store is left alone
        await day.on_sale(split["id"])
        path = split["id"].replace("#", "%23")
        site = (await http.get(f"{stack.site}/_sandbox/offers/{path}")).json()
        assert site["stocks"] == {"Основной склад": decimal_text(main)}, site
        assert Decimal(site["quantity"]) == main
