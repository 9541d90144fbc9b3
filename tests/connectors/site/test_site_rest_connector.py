"""The site's REST connector against the site sandbox: reads, the modification poll, writes, errors."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
from rest_support import OFFER, client_for, control, place, stocked_site

from obmen.connectors.base import Create, Update
from obmen.connectors.site.rest.connector import SiteRestConnector
from obmen.errors import AuthError, PermanentError, RateLimited


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


async def test_an_order_reads_as_the_canonical_order_with_its_buyer() -> None:
    site = stocked_site()
    async with control(site) as http:
        oid = await place(http, email="Irina@Example.ru")
    connector = SiteRestConnector(client_for(site))
    found = await connector.fetch("order", [str(oid), "999"])
    assert list(found) == [str(oid)]
    order = found[str(oid)]
    f = order.fields
    assert (f["number"], f["status"], f["site"], f["cancelled"], f["comment"]) == (
        str(oid),
        "N",
        "s1",
        False,
        "после 18",
    )
    assert f["customer"] == {"$ref": "counterparty", "id": "1"}
    assert f["lines"] == [
        {
            "offer": {"$ref": "offer", "id": OFFER},
            "name": "Чайник, белый",
            "quantity": "2",
            "price": {"amount": "1500", "currency": "RUB"},
            "discount": {"amount": "200", "currency": "RUB"},
            "vat_rate": None,
            "vat_included": True,
        }
    ]
    assert f["delivery"] == {
        "service": "Доставка курьером",
        "price": {"amount": "300", "currency": "RUB"},
        "address": None,
    }
    assert f["total"] == {"amount": "3300", "currency": "RUB"}
    assert f["payments"] == [
        {
            "system": "Банковской картой онлайн",
            "amount": {"amount": "3300", "currency": "RUB"},
            "paid": False,
            "paid_at": None,
        }
    ]
    assert f["external_numbers"] == [["site", str(oid)]]
    assert order.modified_at is not None
    buyer = (await connector.fetch("counterparty", ["1"]))["1"].fields
    assert buyer == {
        "kind": "person",
        "name": "Ирина Смирнова",
        "phones": ["+79123456789"],
        "emails": ["irina@example.ru"],
        "requisites": None,
        "address": None,
    }
    assert (await connector.match("order", [("number", str(oid)), ("number", "nope")])) == {
        ("number", str(oid)): str(oid)
    }
    scanned = await connector.scan("order", None, 500)
    assert scanned.external_ids == [str(oid)]
    assert scanned.cursor is None


async def test_the_poll_finds_what_changed_since_its_cursor_once() -> None:
    site = stocked_site()
    clock = Clock()
    connector = SiteRestConnector(client_for(site), poll_every=5.0, clock=clock)
    async with control(site) as http:
        first = await place(http)
        page = await connector.changes(None, 500)
        assert page.changes == []  # a first cursor starts at the newest change: the resync covers the past
        second = await place(http, email="b@example.ru")
        assert (await connector.changes(page.cursor, 500)).changes == []  # not due yet
        clock.now = 5.0
        page = await connector.changes(page.cursor, 500)
        assert [(c.entity, c.external_id) for c in page.changes] == [
            ("order", str(second)),
            ("counterparty", "2"),
        ]
        clock.now = 10.0
        again = await connector.changes(page.cursor, 500)
        assert again.changes == []
        # Saved again within the same second: its VERSION moved, so it counts again.
        await http.patch(f"/_sandbox/orders/{first}", json={"status": "P"})
        connector.wake()
        later = await connector.changes(again.cursor, 500)
        assert ("order", str(first)) in [(c.entity, c.external_id) for c in later.changes]
        assert json.loads(later.cursor or "{}")["at"]


async def test_writes_change_status_payment_numbers_and_quantities_and_refuse_new_lines() -> None:
    site = stocked_site()
    async with control(site) as http:
        oid = await place(http)
        connector = SiteRestConnector(client_for(site))
        before = (await connector.fetch("order", [str(oid)]))[str(oid)].fields
        paid = [{**before["payments"][0], "paid": True}]
        numbers = [
            ["site", str(oid)],
            ["onec", "УТ-000123"],
            ["onec_payment", "ПКО-7"],
            ["onec_shipment", "РТУ-9"],
        ]
        [result] = await connector.write(
            [
                Update(
                    "order",
                    str(oid),
                    {"status": "P", "payments": paid, "external_numbers": numbers, "comment": "ok"},
                )
            ]
        )
        assert result.ok, result.error
        seen = (await http.get(f"/_sandbox/orders/{oid}")).json()
        assert (seen["status"], seen["payment"]["paid"], seen["shipped"], seen["customer_comment"]) == (
            "P",
            True,
            True,
            "ok",
        )
        assert seen["onec"] == {"number": "УТ-000123", "payment_number": "ПКО-7", "shipment_number": "РТУ-9"}
        after = (await connector.fetch("order", [str(oid)]))[str(oid)].fields
        assert after["external_numbers"] == numbers
        assert after["payments"][0]["paid"] is True
        # A quantity changed: the line's discount, per unit on the site, grows with it.
        line = before["lines"][0]
        unit = Decimal(line["discount"]["amount"]) / Decimal(line["quantity"])
        recounted = [{**line, "quantity": "3", "discount": {"amount": str(unit * 3), "currency": "RUB"}}]
        [count] = await connector.write([Update("order", str(oid), {"lines": recounted})])
        assert count.ok, count.error
        assert (await http.get(f"/_sandbox/orders/{oid}")).json()["items"][0]["quantity"] == "3"
        same_discount = [{**line, "quantity": "4"}]
        [kept] = await connector.write([Update("order", str(oid), {"lines": same_discount})])
        assert "discount per unit" in str(kept.error)
        lines = [*recounted, recounted[0]]
        [basket] = await connector.write([Update("order", str(oid), {"lines": lines, "status": "F"})])
        assert isinstance(basket.error, PermanentError)
        assert "a line added" in str(basket.error)
        assert (await http.get(f"/_sandbox/orders/{oid}")).json()[
            "status"
        ] == "F"  # what it can write, it did
        [create] = await connector.write([Create("order", "cid-1", before)])
        assert isinstance(create.error, PermanentError)
        [gone] = await connector.write([Update("order", "999", {"status": "P"})])
        assert isinstance(gone.error, PermanentError)


async def test_errors_are_classified_and_a_busy_site_is_retried() -> None:
    site = stocked_site()
    wrong = SiteRestConnector(client_for(site))
    wrong.client.webhook = "http://site.test/rest/1/wrong/"
    with pytest.raises(AuthError):
        await wrong.fetch("order", ["1"])
    client = client_for(site, backoff=0.01)
    async with control(site) as http:
        await http.post("/_sandbox/rest/faults", json={"times": 2})
        assert await client.call("sale.order.list") is not None  # two 503s, then the answer
        await http.post("/_sandbox/rest/faults", json={"times": 3})
        with pytest.raises(RateLimited):
            await client.call("sale.order.list")
