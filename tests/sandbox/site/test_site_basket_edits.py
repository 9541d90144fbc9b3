"""Editing a placed order's basket on the site: a manager's edit, and `sale.basketitem.update`.

The REST method follows docs/protocols/site-rest.md §3.5: a line's quantity, and its price when
`customPrice` is `Y`; the order's sum and its payment's follow the basket.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import httpx
from test_site_rest import OFFER, place, rest

REST_WEBHOOK = "1/sandboxcode"


async def _basket(shop: httpx.AsyncClient, oid: int) -> list[dict[str, Any]]:
    flt = {"filter": {"orderId": oid}}
    return list((await rest(shop, "sale.basketitem.list", flt)).json()["result"]["basketItems"])


async def test_a_manager_adds_and_removes_lines_and_the_sum_follows(shop: httpx.AsyncClient) -> None:
    oid = await place(shop)
    [held] = await _basket(shop, oid)
    lines = [{"offer": OFFER, "quantity": 2, "price": 100}, {"offer": OFFER, "quantity": 1, "price": "0.55"}]
    reply = await shop.patch(f"/_sandbox/orders/{oid}", json={"items": lines})
    assert reply.status_code == 200, reply.text
    order = reply.json()
    assert Decimal(order["total"]) == Decimal("550.55")  # 2 × 100 + 0.55 + delivery 350
    basket = await _basket(shop, oid)
    assert basket[0]["id"] == held["id"]  # the kept line keeps its basket item
    assert len({row["id"] for row in basket}) == 2
    reply = await shop.patch(f"/_sandbox/orders/{oid}", json={"items": lines[1:]})
    assert Decimal(reply.json()["total"]) == Decimal("350.55")
    payment = (await rest(shop, "sale.order.get", {"id": oid})).json()["result"]["order"]["payments"][0]
    assert Decimal(str(payment["sum"])) == Decimal("350.55")
    empty = await shop.patch(f"/_sandbox/orders/{oid}", json={"items": []})
    assert empty.status_code == 400
    unknown = await shop.patch(f"/_sandbox/orders/{oid}", json={"items": [{"offer": "nope", "quantity": 1}]})
    assert unknown.status_code == 400


async def test_basketitem_update_changes_quantity_and_a_custom_price(shop: httpx.AsyncClient) -> None:
    oid = await place(shop)
    [row] = await _basket(shop, oid)
    fields = {"quantity": 3, "price": "99.99", "customPrice": "Y"}
    saved = await rest(shop, "sale.basketitem.update", {"id": row["id"], "fields": fields})
    assert saved.status_code == 200, saved.text
    item = saved.json()["result"]["basketItem"]
    assert (item["id"], item["quantity"], item["price"]) == (row["id"], 3, 99.99)
    order = (await shop.get(f"/_sandbox/orders/{oid}")).json()
    assert Decimal(order["total"]) == Decimal("649.97")  # 3 × 99.99 + delivery 350
    # Without a custom price the catalog prices the line: the price given does not hold.
    await rest(shop, "sale.basketitem.update", {"id": row["id"], "fields": {"price": 1, "quantity": 1}})
    [kept] = await _basket(shop, oid)
    assert (kept["quantity"], kept["price"]) == (1, 99.99)
    payment = (await rest(shop, "sale.order.get", {"id": oid})).json()["result"]["order"]["payments"][0]
    wrong_sum = {"paySystemId": payment["paySystemId"], "sum": 1}
    refused = await rest(shop, "sale.payment.update", {"id": payment["id"], "fields": wrong_sum})
    assert (refused.status_code, refused.json()["error"]) == (400, 0)
    right_sum = {"paySystemId": payment["paySystemId"], "sum": "449.99"}
    accepted = await rest(shop, "sale.payment.update", {"id": payment["id"], "fields": right_sum})
    assert accepted.status_code == 200, accepted.text
    for bad in ({"quantity": 0}, {"quantity": "x"}, {"name": "other"}):
        answer = await rest(shop, "sale.basketitem.update", {"id": row["id"], "fields": bad})
        assert answer.status_code == 400, bad
    gone = await rest(shop, "sale.basketitem.update", {"id": 999, "fields": {"quantity": 1}})
    assert (gone.status_code, gone.json()["error"]) == (400, 0)
