"""The site sandbox's REST (docs/protocols/site-rest.md §2, §3): webhook auth, shapes, paging, errors."""

from __future__ import annotations

from typing import Any

import httpx

from obmen_sandbox.site import webhook_url

OFFER = "bd8c4e15-18f9-11e7-80c2-0cc47ab29cd1"
HOOK = "/rest/1/sandboxcode"


def order_body(email: str = "ivan@example.ru", company: str = "") -> dict[str, Any]:
    return {
        "customer": {"name": "Иван Петров", "email": email, "phone": "+79990000000", "company": company},
        "items": [{"offer": OFFER, "quantity": 2, "price": 100, "discount": 5}],
        "delivery": {"service": "Доставка курьером", "price": 350},
        "payment": {"system": "Банковской картой онлайн", "paid": False},
        "comment": "позвоните",
    }


REST_WEBHOOK = "1/sandboxcode"


async def place(client: httpx.AsyncClient, **kw: Any) -> int:
    reply = await client.post("/_sandbox/orders", json=order_body(**kw))
    assert reply.status_code == 201, reply.text
    return int(reply.json()["id"])


async def rest(
    client: httpx.AsyncClient, method: str, params: dict[str, Any] | None = None
) -> httpx.Response:
    return await client.post(f"{HOOK}/{method}", json=params or {})


def test_webhook_url_shape() -> None:
    assert webhook_url("http://site.test/", "1/abc") == "http://site.test/rest/1/abc/"


async def test_a_wrong_code_a_missing_scope_and_an_unknown_method_answer_system_errors(
    shop: httpx.AsyncClient,
) -> None:
    wrong = await shop.post("/rest/1/nope/sale.order.list", json={})
    assert (wrong.status_code, wrong.json()["error"]) == (401, "INVALID_CREDENTIALS")
    made = await shop.post("/_sandbox/rest/webhooks", json={"user_id": 2, "scopes": ["catalog"]})
    assert made.status_code == 201
    assert made.json()["url"].endswith(f"/rest/2/{made.json()['code']}/")
    narrow = await shop.post(f"/rest/2/{made.json()['code']}/sale.order.list.json", json={})
    assert (narrow.status_code, narrow.json()["error"]) == (401, "insufficient_scope")
    unknown = await rest(shop, "sale.order.explode")
    assert (unknown.status_code, unknown.json()["error"]) == (404, "ERROR_METHOD_NOT_FOUND")


async def test_an_order_reads_whole_with_its_basket_payment_shipment_and_properties(
    shop: httpx.AsyncClient,
) -> None:
    oid = await place(shop, company="ООО Ромашка")
    reply = await rest(shop, "sale.order.get", {"id": oid})
    assert reply.status_code == 200
    body = reply.json()
    assert set(body) == {"result", "time"}
    order = body["result"]["order"]
    assert order["id"] == oid
    assert order["accountNumber"] == str(oid)
    assert (order["statusId"], order["payed"], order["canceled"], order["currency"]) == ("N", "N", "N", "RUB")
    assert order["price"] == 550
    assert order["personTypeId"] == 2
    assert order["userDescription"] == "позвоните"
    assert order["dateUpdate"][19] in "+-"  # ISO 8601 with the server's offset
    [item] = order["basketItems"]
    assert (item["productXmlId"], item["quantity"], item["price"], item["discountPrice"]) == (
        OFFER,
        2,
        100,
        5,
    )
    [payment] = order["payments"]
    assert (payment["orderId"], payment["paid"], payment["sum"]) == (oid, "N", 550)
    assert payment["paySystemName"] == "Банковской картой онлайн"
    [shipment] = order["shipments"]
    assert (shipment["deliveryName"], shipment["priceDelivery"], shipment["system"]) == (
        "Доставка курьером",
        350,
        "N",
    )
    codes = {p["code"]: p["value"] for p in order["propertyValues"]}
    assert codes == {
        "FIO": "Иван Петров",
        "EMAIL": "ivan@example.ru",
        "PHONE": "+79990000000",
        "COMPANY": "ООО Ромашка",
        "INN": "",
    }
    missing = await rest(shop, "sale.order.get", {"id": 999})
    assert (missing.status_code, missing.json()["error"]) == (400, 200540400001)
    no_id = await rest(shop, "sale.order.get")
    assert (no_id.status_code, no_id.json()["error"]) == (400, 100)


async def test_lists_page_by_fifty_with_next_and_total_and_filter_by_prefix(shop: httpx.AsyncClient) -> None:
    ids = [await place(shop, email=f"b{i}@example.ru") for i in range(53)]
    first = (
        await rest(shop, "sale.order.list", {"order": {"id": "asc"}, "select": ["id", "dateUpdate"]})
    ).json()
    assert len(first["result"]["orders"]) == 50
    assert first["total"] == 53
    assert first["next"] == 50
    assert set(first["result"]["orders"][0]) == {"id", "dateUpdate"}
    rest_page = (await rest(shop, "sale.order.list", {"order": {"id": "asc"}, "start": 50})).json()
    assert [o["id"] for o in rest_page["result"]["orders"]] == ids[50:]
    assert "next" not in rest_page
    some = (await rest(shop, "sale.order.list", {"filter": {"@id": ids[:3], ">id": ids[0]}})).json()
    assert [o["id"] for o in some["result"]["orders"]] == ids[1:3]
    stamp = first["result"]["orders"][0]["dateUpdate"]
    since = (await rest(shop, "sale.order.list", {"filter": {">=dateUpdate": stamp}})).json()
    assert since["total"] == 53
    items = (await rest(shop, "sale.basketitem.list", {"filter": {"@orderId": ids[:2]}})).json()
    assert [i["orderId"] for i in items["result"]["basketItems"]] == ids[:2]
    props = (await rest(shop, "sale.propertyvalue.list", {"filter": {"orderId": ids[0]}})).json()
    assert {p["code"] for p in props["result"]["propertyValues"]} == {"FIO", "EMAIL", "PHONE"}
    bad = await rest(shop, "sale.order.list", {"filter": {"noSuchField": 1}})
    assert (bad.status_code, bad.json()["error"]) == (400, 0)


async def test_updates_change_status_payment_and_shipment_as_the_storefront_shows(
    shop: httpx.AsyncClient,
) -> None:
    oid = await place(shop)
    order = (await rest(shop, "sale.order.get", {"id": oid})).json()["result"]["order"]
    updated = await rest(
        shop, "sale.order.update", {"id": oid, "fields": {"statusId": "P", "comments": "ok"}}
    )
    assert updated.json()["result"]["order"]["statusId"] == "P"
    payment = order["payments"][0]
    no_system = await rest(shop, "sale.payment.update", {"id": payment["id"], "fields": {"paid": "Y"}})
    assert (no_system.status_code, no_system.json()["error"]) == (400, 0)
    paid = await rest(
        shop,
        "sale.payment.update",
        {
            "id": payment["id"],
            "fields": {"paySystemId": payment["paySystemId"], "paid": "Y", "payVoucherNum": "77"},
        },
    )
    assert paid.json()["result"]["payment"]["paid"] == "Y"
    shipment = order["shipments"][0]
    partial = await rest(shop, "sale.shipment.update", {"id": shipment["id"], "fields": {"deducted": "Y"}})
    assert partial.status_code == 400
    assert "allowDelivery" in partial.json()["error_description"]
    fields = {
        "allowDelivery": "Y",
        "deducted": "Y",
        "deliveryId": shipment["deliveryId"],
        "deliveryDocNum": "9",
    }
    shipped = await rest(shop, "sale.shipment.update", {"id": shipment["id"], "fields": fields})
    assert shipped.json()["result"]["shipment"]["deducted"] == "Y"
    seen = (await shop.get(f"/_sandbox/orders/{oid}")).json()
    assert (seen["status"], seen["comment"], seen["payment"]["paid"], seen["shipped"]) == (
        "P",
        "ok",
        True,
        True,
    )
    assert seen["onec"] == {"payment_number": "77", "shipment_number": "9"}
    assert seen["updated_by"] == "site"  # the exchange exports REST changes as the site's own
    gone = await rest(shop, "sale.payment.update", {"id": 999, "fields": {"paySystemId": 1}})
    assert (gone.status_code, gone.json()["error"]) == (400, 200640400001)
    wrong = await rest(shop, "sale.order.update", {"id": oid, "fields": {"statusId": "ZZ"}})
    assert (wrong.status_code, wrong.json()["error"]) == (400, "BX_INVALID_VALUE")


async def test_form_encoded_calls_and_armed_faults(shop: httpx.AsyncClient) -> None:
    oid = await place(shop)
    form = await shop.post(f"{HOOK}/sale.order.list", data={"filter[id]": str(oid), "select[]": "id"})
    assert form.json()["result"]["orders"] == [{"id": oid}]
    await shop.post("/_sandbox/rest/faults", json={"method": "sale.order.list", "times": 1})
    busy = await rest(shop, "sale.order.list")
    assert (busy.status_code, busy.json()["error"]) == (503, "QUERY_LIMIT_EXCEEDED")
    assert (await rest(shop, "sale.order.list")).status_code == 200
    assert (await shop.get("/_sandbox/rest/calls")).json()["sale.order.list"] == 3
