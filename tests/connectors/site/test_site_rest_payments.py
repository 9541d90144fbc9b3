"""Several payments of a site order read by both site paths and paid one by one over REST
(docs/protocols/site-rest.md §6.3, docs/protocols/commerceml.md §1.11)."""

from __future__ import annotations

import io
from typing import Any

from rest_support import OFFER, client_for, control, stocked_site

from obmen.connectors.base import Update
from obmen.connectors.commerceml import RunContext, read
from obmen.connectors.mirrored.records import FileReport, records
from obmen.connectors.site.rest.connector import SiteRestConnector
from obmen.model.payments import paid_in_full
from obmen_sandbox.site.export import orders_xml

# 2 × 1500 + 300 delivery = 3300: 1000 paid online, the rest in cash on delivery.
BODY = {
    "customer": {"name": "Ирина Смирнова", "email": "irina@example.ru", "phone": "+7 912 345-67-89"},
    "items": [{"offer": OFFER, "quantity": 2, "price": 1500}],
    "delivery": {"service": "Доставка курьером", "price": 300},
    "payments": [
        {"system": "Банковской картой онлайн", "sum": 1000, "paid": True},
        {"system": "Наличными курьеру"},
    ],
}


def summary(payments: list[dict[str, Any]]) -> list[tuple[str, str, bool]]:
    return [(p["system"], p["amount"]["amount"], p["paid"]) for p in payments]


async def test_rest_reads_both_payments_and_pays_each_by_its_own_id() -> None:
    site = stocked_site()
    async with control(site) as http:
        oid = (await http.post("/_sandbox/orders", json=BODY)).json()["id"]
        connector = SiteRestConnector(client_for(site))
        before = (await connector.fetch("order", [str(oid)]))[str(oid)].fields
        assert summary(before["payments"]) == [
            ("Банковской картой онлайн", "1000", True),
            ("Наличными курьеру", "2300", False),
        ]
        assert not paid_in_full(before["payments"])
        # Listed the other way round: matched by system and amount, not by position.
        wanted = [{**before["payments"][1], "paid": True}, before["payments"][0]]
        [result] = await connector.write([Update("order", str(oid), {"payments": wanted})])
        assert result.ok, result.error
        seen = (await http.get(f"/_sandbox/orders/{oid}")).json()
        assert [p["paid"] for p in seen["payments"]] == [True, True]
        assert seen["payment"]["paid"] is True
        after = (await connector.fetch("order", [str(oid)]))[str(oid)].fields
        assert paid_in_full(after["payments"])


async def test_rest_refuses_a_payment_the_site_does_not_hold_and_changes_nothing() -> None:
    site = stocked_site()
    async with control(site) as http:
        oid = (await http.post("/_sandbox/orders", json=BODY)).json()["id"]
        connector = SiteRestConnector(client_for(site))
        before = (await connector.fetch("order", [str(oid)]))[str(oid)].fields
        third = {**before["payments"][1], "system": "Счет"}
        [result] = await connector.write(
            [Update("order", str(oid), {"payments": [before["payments"][0], third]})]
        )
        assert "payments (how many, or a payment's system)" in str(result.error)
        seen = (await http.get(f"/_sandbox/orders/{oid}")).json()
        assert [p["paid"] for p in seen["payments"]] == [True, False]


async def test_a_payment_paid_on_the_site_after_obmen_read_it_is_not_unpaid_by_the_write() -> None:
    """The merge read the order with its cash unpaid; the courier's cash is recorded before the write
    goes out. The write re-reads the order and leaves the payments, a fact the site moved meanwhile, to
    the next round; what else it carries is written (docs/architecture.md §2.11)."""
    site = stocked_site()
    async with control(site) as http:
        oid = (await http.post("/_sandbox/orders", json=BODY)).json()["id"]
        connector = SiteRestConnector(client_for(site))
        read = (await connector.fetch("order", [str(oid)]))[str(oid)].fields
        second = (await http.get(f"/_sandbox/orders/{oid}")).json()["payments"][1]["id"]
        await http.patch(f"/_sandbox/orders/{oid}", json={"payments": [{"id": second, "paid": True}]})
        # What the merge decided from its reading: the payments as they were (another side's shape of
        # them, dated otherwise), and a comment.
        stale = [{**p, "paid_at": None} for p in read["payments"]]
        wanted = {"payments": stale, "comment": "Позвонить за час"}
        taken = {"payments": read["payments"], "comment": read.get("comment")}
        [result] = await connector.write([Update("order", str(oid), wanted, taken)])
        assert result.ok, result.error
        seen = (await http.get(f"/_sandbox/orders/{oid}")).json()
        assert [p["paid"] for p in seen["payments"]] == [True, True]
        after = (await connector.fetch("order", [str(oid)]))[str(oid)].fields
        assert after["comment"] == "Позвонить за час"
        # Without what it read, the same write would take the cash back: the race this guards.
        [blind] = await connector.write([Update("order", str(oid), {"payments": stale})])
        assert blind.ok, blind.error
        seen = (await http.get(f"/_sandbox/orders/{oid}")).json()
        assert [p["paid"] for p in seen["payments"]] == [True, False]


async def test_the_exchange_reads_each_payment_document_as_a_payment_of_its_order() -> None:
    site = stocked_site()
    async with control(site) as http:
        await http.post("/_sandbox/orders", json=BODY)
        await http.post("/_sandbox/orders", json={**BODY, "payments": [{"system": "Счет"}]})
        book = site.state.book
        answer = orders_xml(book.orders.values(), book, "cat", book.clock())
    context, report = RunContext(), FileReport()
    got = [r for r in records(read(io.BytesIO(answer), context), context, report) if r.entity == "order"]
    assert report.skipped == []  # the payment documents went to their order, none was skipped
    assert [summary(r.fields["payments"]) for r in got] == [
        [("Банковской картой онлайн", "1000", True), ("Наличными курьеру", "2300", False)],
        [("Счет", "3300", False)],
    ]
    assert got[0].fields["payments"][0]["paid_at"]  # the online payment's own date
