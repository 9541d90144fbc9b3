"""An order with several payments on the site sandbox: control API, REST (`sale.payment.*`, the order's
`payments`, docs/protocols/site-rest.md) and the orders export (commerceml.md §1.11, §2.6, §2.7)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

import httpx
import pytest
from lxml import etree

from obmen_sandbox.site.export import orders_xml
from obmen_sandbox.site.orders import Customer, Item, OrderBook

OFFER = "bd8c4e15-18f9-11e7-80c2-0cc47ab29cd1"
HOOK = "/rest/1/sandboxcode"
NOW = datetime(2026, 11, 23, 9, 30, 0)


def body(**payments: Any) -> dict[str, Any]:
    return {
        "customer": {"name": "Иван Петров", "email": "ivan@example.ru", "phone": "+79990000000"},
        "items": [{"offer": OFFER, "quantity": 2, "price": 500}],
        "delivery": {"service": "Доставка курьером", "price": 200},
        **payments,
    }


TWO = {
    "payments": [
        {"system": "Банковской картой онлайн", "sum": 700, "paid": True},
        {"system": "Наличными курьеру"},
    ]
}


REST_WEBHOOK = "1/sandboxcode"


async def rest(client: httpx.AsyncClient, method: str, params: dict[str, Any]) -> dict[str, Any]:
    reply = await client.post(f"{HOOK}/{method}", json=params)
    assert reply.status_code == 200, reply.text
    result: dict[str, Any] = reply.json()["result"]
    return result


async def test_two_payments_each_paid_on_its_own_and_the_order_paid_only_in_full(
    shop: httpx.AsyncClient,
) -> None:
    made = await shop.post("/_sandbox/orders", json=body(**TWO))
    assert made.status_code == 201, made.text
    oid = made.json()["id"]
    order = (await shop.get(f"/_sandbox/orders/{oid}")).json()
    assert [(p["system"], p["sum"], p["paid"]) for p in order["payments"]] == [
        ("Банковской картой онлайн", "700", True),
        ("Наличными курьеру", "500", False),
    ]
    assert order["payment"] == {"system": "Банковской картой онлайн", "paid": False}
    whole = (await rest(shop, "sale.order.get", {"id": oid}))["order"]
    assert whole["payed"] == "N"
    assert [(p["sum"], p["paid"]) for p in whole["payments"]] == [(700, "Y"), (500, "N")]
    assert len({p["id"] for p in whole["payments"]}) == 2
    listed = (await rest(shop, "sale.payment.list", {}))["payments"]
    assert [p["id"] for p in listed] == [p["id"] for p in whole["payments"]]
    second = whole["payments"][1]
    paid = await rest(
        shop,
        "sale.payment.update",
        {"id": second["id"], "fields": {"paySystemId": second["paySystemId"], "paid": "Y"}},
    )
    assert paid["payment"]["paid"] == "Y"
    assert (await rest(shop, "sale.order.get", {"id": oid}))["order"]["payed"] == "Y"
    first = whole["payments"][0]
    await rest(
        shop,
        "sale.payment.update",
        {"id": first["id"], "fields": {"paySystemId": first["paySystemId"], "paid": "N"}},
    )
    again = (await rest(shop, "sale.order.get", {"id": oid}))["order"]
    assert again["payed"] == "N"
    assert [p["paid"] for p in again["payments"]] == ["N", "Y"]


async def test_patch_pays_one_payment_by_id_and_paid_true_pays_every_one(shop: httpx.AsyncClient) -> None:
    two = {"payments": [{"system": "Банковской картой онлайн", "sum": 700}, {"system": "Наличными курьеру"}]}
    oid = (await shop.post("/_sandbox/orders", json=body(**two))).json()["id"]
    ids = [p["id"] for p in (await shop.get(f"/_sandbox/orders/{oid}")).json()["payments"]]
    one = await shop.patch(f"/_sandbox/orders/{oid}", json={"payments": [{"id": ids[1], "paid": True}]})
    assert [p["paid"] for p in one.json()["payments"]] == [False, True]
    assert one.json()["payment"]["paid"] is False
    every = await shop.patch(f"/_sandbox/orders/{oid}", json={"paid": True})
    assert [p["paid"] for p in every.json()["payments"]] == [True, True]
    assert every.json()["payment"]["paid"] is True


@pytest.mark.parametrize(
    ("payments", "error"),
    [
        ([{"system": "Счет", "sum": 700}, {"system": "Счет", "sum": 400}], "add up"),
        ([{"system": "Счет", "sum": 1200}, {"system": "Счет"}], "add up"),
        ([{"system": "Счет"}, {"system": "Счет"}], "at most one"),
        ([{"system": "Счет", "sum": "x"}], "number"),
        ([], "non-empty"),
    ],
)
async def test_payments_that_do_not_add_up_are_refused_and_place_nothing(
    shop: httpx.AsyncClient, payments: list[dict[str, Any]], error: str
) -> None:
    reply = await shop.post("/_sandbox/orders", json=body(payments=payments))
    assert reply.status_code == 400
    assert error in reply.json()["error"]
    assert (await shop.get("/_sandbox/orders")).json() == []


async def test_patching_an_unknown_payment_is_refused(shop: httpx.AsyncClient) -> None:
    oid = (await shop.post("/_sandbox/orders", json=body(**TWO))).json()["id"]
    reply = await shop.patch(f"/_sandbox/orders/{oid}", json={"payments": [{"id": 999, "paid": True}]})
    assert reply.status_code == 400
    assert "999" in reply.json()["error"]


def test_the_export_follows_an_order_with_several_payments_by_one_document_each() -> None:
    book = OrderBook(lambda: NOW)
    order = book.create(
        Customer("Иван", "ivan@example.ru", "+7"),
        [Item("offer-1", "Коврик", Decimal(2), Decimal(500))],
        ("Доставка курьером", Decimal(200)),
        [("Банковской картой онлайн", Decimal(700)), ("Наличными курьеру", None)],
    )
    book.patch(order, {"pay": {order.payments[0].id: True}})
    root = etree.fromstring(orders_xml([order], book, "cat-1", NOW))
    docs = root.findall("Документ")
    assert [d.findtext("ХозОперация") for d in docs] == [
        "Заказ товара",
        "Выплата безналичных денег",
        "Выплата наличных денег",
    ]
    assert [d.findtext("Основание") for d in docs[1:]] == [order.number, order.number]
    assert [d.findtext("Сумма") for d in docs[1:]] == ["700.0000", "500.0000"]

    def requisite(doc: etree._Element, name: str) -> str | None:
        for pair in doc.iterfind("ЗначенияРеквизитов/ЗначениеРеквизита"):
            if pair.findtext("Наименование") == name:
                return pair.findtext("Значение")
        return None

    assert requisite(docs[0], "Заказ оплачен") == "false"
    assert [requisite(d, "Оплачен") for d in docs[1:]] == ["true", "false"]
    assert requisite(docs[1], "Дата оплаты") == "23.11.2026 09:30:00"


def test_an_order_with_one_payment_exports_no_payment_documents() -> None:
    book = OrderBook(lambda: NOW)
    order = book.create(
        Customer("Иван", "ivan@example.ru", "+7"),
        [Item("offer-1", "Коврик", Decimal(1), Decimal(500))],
        ("Самовывоз", Decimal(0)),
        "Счет",
    )
    root = etree.fromstring(orders_xml([order], book, "cat-1", NOW))
    assert len(root.findall("Документ")) == 1
