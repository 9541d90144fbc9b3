"""An order with two payments handed to 1C as a site would and read back from 1C's documents
(docs/protocols/commerceml.md §1.11, §2.7): each payment is a document of its own both ways."""

from __future__ import annotations

import io
from datetime import datetime
from decimal import Decimal
from typing import Any

import pytest

from obmen.connectors.commerceml import RunContext, read
from obmen.connectors.mirrored.documents import build_documents, documents_xml
from obmen.connectors.mirrored.records import FileReport, Record, records
from obmen.model import entities as canon
from obmen.model.base import EntityType, Money, Ref
from obmen.model.fields import to_fields
from obmen_sandbox.onec.documents import apply_incoming, read_query_answer, write_documents
from obmen_sandbox.onec.edits import EditError, edit_order
from obmen_sandbox.onec.infobase import Infobase

NOW = datetime(2026, 12, 2, 10, 0)


def order(second_paid: bool = False) -> dict[str, Any]:
    line = canon.OrderLine(
        offer=Ref(EntityType.OFFER, "of-1"), name="Коврик", quantity=Decimal(2), price=Money(Decimal(600))
    )
    entity = canon.Order(
        number="41",
        date=NOW,
        status="N",
        lines=(line,),
        total=Money(Decimal(1200)),
        payments=(
            canon.Payment(
                system="Банковской картой онлайн", amount=Money(Decimal(700)), paid=True, paid_at=NOW
            ),
            canon.Payment(system="Наличными курьеру", amount=Money(Decimal(500)), paid=second_paid),
        ),
        external_numbers=(("site", "41"),),
    )
    return dict(to_fields(entity))


def back(body: bytes) -> list[Record]:
    context, report = RunContext(), FileReport()
    out = [r for r in records(read(io.BytesIO(body), context), context, report) if r.entity == "order"]
    assert report.skipped == []
    return out


def summary(fields: dict[str, Any]) -> list[tuple[str, str, bool]]:
    return [(p["system"], p["amount"]["amount"], p["paid"]) for p in fields["payments"]]


def test_each_payment_reaches_1c_and_comes_back_as_a_payment_of_the_order() -> None:
    built = build_documents([Record("order", "cid-1", order())], {}, to="onec")
    assert [d.operation for d in built.documents] == [
        "Заказ товара",
        "Выплата безналичных денег",
        "Выплата наличных денег",
    ]
    body = documents_xml(built.documents, to="onec")
    [read_back] = back(body)  # as a site's answer, it reads back as it went
    assert summary(read_back.fields) == [
        ("Банковской картой онлайн", "700", True),
        ("Наличными курьеру", "500", False),
    ]
    base = Infobase()
    [incoming] = read_query_answer(body)
    assert (incoming.paid, [p.paid for p in incoming.payments]) == (False, [True, False])
    stored, _ = apply_incoming(base, incoming, "2026-12-02")
    [from_1c] = back(write_documents(base, [stored], "2.07", NOW))
    assert summary(from_1c.fields) == summary(read_back.fields)


def test_1c_keeps_a_payment_it_recorded_and_is_paid_only_in_full() -> None:
    base = Infobase()
    first = build_documents([Record("order", "cid-1", order())], {}, to="onec")
    [incoming] = read_query_answer(documents_xml(first.documents, to="onec"))
    apply_incoming(base, incoming, "2026-12-02")
    full = build_documents([Record("order", "cid-1", order(second_paid=True))], {}, to="onec")
    [again] = read_query_answer(documents_xml(full.documents, to="onec"))
    stored, _ = apply_incoming(base, again, "2026-12-02")
    assert stored.paid
    [from_1c] = back(write_documents(base, [stored], "2.07", NOW))
    assert [p["paid"] for p in from_1c.fields["payments"]] == [True, True]


def test_one_payment_goes_to_1c_as_before_without_payment_documents() -> None:
    fields = order()
    fields["payments"] = fields["payments"][:1]
    built = build_documents([Record("order", "cid-1", fields)], {}, to="onec")
    assert [d.operation for d in built.documents] == ["Заказ товара"]


def test_1c_records_one_payment_document_and_the_order_is_paid_with_the_last() -> None:
    base = Infobase()
    built = build_documents([Record("order", "cid-1", order())], {}, to="onec")
    [incoming] = read_query_answer(documents_xml(built.documents, to="onec"))
    stored, _ = apply_incoming(base, incoming, "2026-12-02")
    today = NOW.date()
    for bad, why in (
        ([{"number": 3, "paid": True}], "1 to 2"),
        ([{"number": "2", "paid": True}], "each is"),
        ({}, "a list"),
    ):
        with pytest.raises(EditError, match=why):
            edit_order(base, stored.number, {"payments": bad}, today)
    edit_order(base, stored.number, {"payments": [{"number": 2, "paid": True}]}, today)
    assert stored.paid
    [from_1c] = back(write_documents(base, [stored], "2.07", NOW))
    assert [p["paid"] for p in from_1c.fields["payments"]] == [True, True]
    edit_order(base, stored.number, {"payments": [{"number": 1, "paid": False}]}, today)
    assert not stored.paid  # a payment taken back in 1C: no longer paid in full
