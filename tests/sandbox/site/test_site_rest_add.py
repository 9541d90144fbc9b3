"""Making an order by REST on the site sandbox: `sale.order.add`, `sale.basketitem.add`, `sale.payment.add`,
`sale.shipment.add` with the reference's required fields, answers and error codes (docs/protocols/site-rest.md
§6.5), and the sale events such an order raises like any other save."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import httpx
from test_site_events import Receiver, drained, receiver
from test_site_rest import OFFER, rest

__all__ = ["receiver"]


REST_WEBHOOK = "1/sandboxcode"


async def _user(shop: httpx.AsyncClient) -> int:
    reply = await shop.post("/_sandbox/users", json={"name": "Покупатель из CRM", "email": "crm@shop.ru"})
    assert reply.status_code == 201, reply.text
    return int(reply.json()["id"])


def _order(user: int, **extra: Any) -> dict[str, Any]:
    return {"fields": {"lid": "s1", "personTypeId": 1, "currency": "RUB", "userId": user, **extra}}


def _line(order_id: int, **extra: Any) -> dict[str, Any]:
    line = {
        "orderId": order_id,
        "productId": 0,
        "productXmlId": OFFER,
        "name": "Товар",
        "currency": "RUB",
        "quantity": 2,
        "price": "95",
        "discountPrice": "5",
        "basePrice": "100",
        "customPrice": "Y",
        "vatRate": "0.2",
    }
    return {"fields": {**line, **extra}}


async def test_an_order_made_piece_by_piece_reads_as_any_order(shop: httpx.AsyncClient) -> None:
    user = await _user(shop)
    made = await rest(shop, "sale.order.add", _order(user, xmlId="obmen-draft:x1", comments="из CRM"))
    assert made.status_code == 200, made.text
    order = made.json()["result"]["order"]
    # The site numbers the order itself; nothing is in it yet.
    assert (order["accountNumber"], order["userId"], order["xmlId"]) == (
        str(order["id"]),
        user,
        "obmen-draft:x1",
    )
    assert (order["price"], order["statusId"], order["comments"]) == (0, "N", "из CRM")
    oid = order["id"]
    whole = (await rest(shop, "sale.order.get", {"id": oid})).json()["result"]["order"]
    assert (whole["basketItems"], whole["payments"], whole["shipments"]) == ([], [], [])
    item = (await rest(shop, "sale.basketitem.add", _line(oid))).json()["result"]["basketItem"]
    assert (item["orderId"], item["productXmlId"], item["quantity"], item["price"]) == (oid, OFFER, 2, 95)
    assert (item["discountPrice"], item["vatRate"]) == (5, 0.2)
    ship = {"orderId": oid, "deliveryId": 2, "allowDelivery": "N", "deducted": "N", "basePriceDelivery": 300}
    shipment = (await rest(shop, "sale.shipment.add", {"fields": ship})).json()["result"]["shipment"]
    assert (shipment["deliveryName"], shipment["priceDelivery"], shipment["system"]) == (
        "Доставка курьером",
        300,
        "N",
    )
    pay = {"orderId": oid, "paySystemId": 3, "sum": "490", "paid": "N"}
    payment = (await rest(shop, "sale.payment.add", {"fields": pay})).json()["result"]["payment"]
    assert (payment["paySystemName"], payment["sum"], payment["paid"]) == ("Счет", 490, "N")
    done = await rest(shop, "sale.order.update", {"id": oid, "fields": {"xmlId": "obmen:x1"}})
    assert done.json()["result"]["order"]["xmlId"] == "obmen:x1"
    listed = await rest(shop, "sale.order.list", {"filter": {"@xmlId": ["obmen:x1"]}})
    assert [o["id"] for o in listed.json()["result"]["orders"]] == [oid]
    seen = (await shop.get(f"/_sandbox/orders/{oid}")).json()
    assert (seen["number"], Decimal(seen["total"])) == (str(oid), Decimal(490))
    assert seen["payment"] == {"system": "Счет", "paid": False}
    assert seen["delivery"] == {"service": "Доставка курьером", "price": "300"}


async def test_required_fields_and_the_documented_error_codes(shop: httpx.AsyncClient) -> None:
    user = await _user(shop)
    assert (await rest(shop, "sale.order.add", {})).json()["error"] == 100
    for missing in ("lid", "personTypeId", "currency"):
        fields = _order(user)["fields"]
        del fields[missing]
        answer = await rest(shop, "sale.order.add", {"fields": fields})
        assert (answer.status_code, answer.json()["error"]) == (400, 0), missing
        assert missing in answer.json()["error_description"]
    assert (await rest(shop, "sale.order.add", _order(9999))).json()["error"] == 0
    assert (await rest(shop, "sale.order.add", _order(user, statusId="ZZ"))).json()[
        "error"
    ] == "BX_INVALID_VALUE"
    assert (await rest(shop, "sale.order.add", _order(user, accountNumber="7"))).json()["error"] == 0
    oid = (await rest(shop, "sale.order.add", _order(user))).json()["result"]["order"]["id"]
    no_order = _line(oid)
    del no_order["fields"]["orderId"]
    codes = [
        (no_order, 200140400008),
        (_line(oid + 100), 200140400009),
        (_line(oid, currency="USD"), 200140400011),
        (_line(oid, productId=6544), 200140400007),
        (_line(oid, basePrice="99"), "BX_INVALID_VALUE"),
        (_line(oid, customPrice="N"), 0),
    ]
    for params, code in codes:
        answer = await rest(shop, "sale.basketitem.add", params)
        assert (answer.status_code, answer.json()["error"]) == (400, code), params
    assert (await rest(shop, "sale.basketitem.add", _line(oid))).status_code == 200
    bad_service = {"orderId": oid, "deliveryId": 77, "allowDelivery": "N", "deducted": "N"}
    answer = await rest(shop, "sale.shipment.add", {"fields": bad_service})
    assert answer.json()["error"] == "SALE_SHIPMENT_WRONG_DELIVERY_SERVICE"
    answer = await rest(shop, "sale.shipment.add", {"fields": {"orderId": oid, "deliveryId": 1}})
    assert answer.json()["error"] == 0
    assert "allowDelivery" in answer.json()["error_description"]
    assert (await rest(shop, "sale.payment.add", {"fields": {"orderId": oid}})).json()["error"] == 0
    # An order may hold several payments: a part, then the rest of the order (no `sum`), but one rest only.
    part = {"orderId": oid, "paySystemId": 3, "sum": 40}
    assert (await rest(shop, "sale.payment.add", {"fields": part})).status_code == 200
    rest_of = {"orderId": oid, "paySystemId": 3}
    assert (await rest(shop, "sale.payment.add", {"fields": rest_of})).status_code == 200
    assert (await rest(shop, "sale.payment.add", {"fields": rest_of})).json()["error"] == 0
    listed = await rest(shop, "sale.payment.list", {"filter": {"orderId": oid}})
    payments = listed.json()["result"]["payments"]
    assert sorted(float(p["sum"]) for p in payments) == [40.0, 150.0], payments


async def test_an_order_made_by_rest_raises_the_sale_events(
    shop: httpx.AsyncClient, receiver: tuple[Receiver, str]
) -> None:
    found, url = receiver
    events = ["OnSaleOrderSaved", "OnPaymentEntitySaved", "OnShipmentEntitySaved"]
    bound = await shop.post(
        "/_sandbox/rest/handlers", json={"handler": url, "events": events, "application_token": "t"}
    )
    assert bound.status_code == 201
    user = await _user(shop)
    oid = (await rest(shop, "sale.order.add", _order(user))).json()["result"]["order"]["id"]
    await drained(shop)
    # No payment or shipment yet: only the order's own event.
    assert [(f["event"], f["data[FIELDS][ID]"]) for f in found.forms()] == [("ONSALEORDERSAVED", str(oid))]
    ship = {"orderId": oid, "deliveryId": 1, "allowDelivery": "N", "deducted": "N"}
    shipment = (await rest(shop, "sale.shipment.add", {"fields": ship})).json()["result"]["shipment"]
    await drained(shop)
    assert ("ONSHIPMENTENTITYSAVED", str(shipment["id"])) in {
        (f["event"], f["data[FIELDS][ID]"]) for f in found.forms()
    }
