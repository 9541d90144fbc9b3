"""Outbox orders → CommerceML documents → read back: what 1C or a site sees (docs/protocols/commerceml.md).

See §2.6-2.7.
"""

from __future__ import annotations

import io
from datetime import datetime
from decimal import Decimal
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from obmen.connectors.commerceml import Document, RunContext, read
from obmen.connectors.mirrored.documents import build_documents, document_number, documents_xml
from obmen.connectors.mirrored.records import Record, document_records
from obmen.model import entities as canon
from obmen.model.base import EntityType, Money, Ref
from obmen.model.fields import to_fields

_TEXT = st.text(st.characters(codec="cp1251", exclude_categories=("Cc", "Cs", "Zs")), min_size=1, max_size=20)
_AMOUNT = st.decimals(min_value=Decimal("0.01"), max_value=Decimal(10**6), places=2)


@st.composite
def orders(draw: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    lines = tuple(
        canon.OrderLine(
            offer=Ref(EntityType.OFFER, draw(st.from_regex(r"[0-9a-f]{8}(#[0-9a-f]{4})?", fullmatch=True))),
            name=draw(_TEXT),
            quantity=Decimal(draw(st.integers(1, 50))),
            price=Money(draw(_AMOUNT)),
        )
        for _ in range(draw(st.integers(1, 4)))
    )
    delivery = draw(
        st.none() | st.builds(lambda p: canon.Delivery(service="Курьер", price=Money(p)), _AMOUNT)
    )
    order = canon.Order(
        number=draw(st.from_regex(r"[0-9]{1,6}", fullmatch=True)),
        date=datetime(2024, 5, draw(st.integers(1, 28)), draw(st.integers(0, 23)), 30),
        status=draw(st.sampled_from(["N", "P", "F"])),
        customer=Ref(EntityType.COUNTERPARTY, "cp-1"),
        lines=lines,
        delivery=delivery,
        total=Money(sum((line.price.amount * line.quantity for line in lines), Decimal(0))),
    )
    person = canon.Counterparty(kind="person", name=draw(_TEXT), emails=("a@example.ru",))
    return dict(to_fields(order)), dict(to_fields(person))


def read_back(body: bytes) -> list[Record]:
    context = RunContext()
    found = [i for i in read(io.BytesIO(body), context) if isinstance(i, Document)]
    return [r for document in found for r in document_records(document)]


@settings(max_examples=40, deadline=None)
@given(orders())
def test_what_1c_collects_reads_back_as_the_same_order(drawn: tuple[dict[str, Any], dict[str, Any]]) -> None:
    order, person = drawn
    built = build_documents([Record("order", "cid-1", order)], {"cp-1": person}, to="onec")
    body = documents_xml(built.documents, to="onec")
    assert body.startswith(b'<?xml version="1.0" encoding="windows-1251"?>')
    [party, back] = read_back(body)
    assert (back.entity, back.external_id) == ("order", "cid-1")
    assert party.fields["name"] == person["name"]
    assert back.fields["customer"] == {"$ref": "counterparty", "id": "cp-1"}
    for key in ("number", "status", "lines", "total", "delivery", "date"):
        assert back.fields.get(key) == order[key], key


def test_documents_for_a_site_carry_the_status_id_and_1c_numbers() -> None:
    order = canon.Order(
        number="132",
        date=datetime(2024, 5, 1, 9, 0),
        status="P",
        payments=(canon.Payment(system="Карта", amount=Money(Decimal(10)), paid=True),),
        total=Money(Decimal(10)),
        external_numbers=(("site", "132"), ("onec", "УТ-1"), ("onec_payment", "ПО-1")),
    )
    built = build_documents([Record("order", "132", dict(to_fields(order)))], {}, to="site")
    body = documents_xml(built.documents, to="site", encoding="utf-8")
    [document] = [i for i in read(io.BytesIO(body), RunContext()) if isinstance(i, Document)]
    assert (document.id, document.number) == ("132", "132")
    assert document.requisite("Статуса заказа ИД") == "P"
    assert document.requisite("Номер по 1С") == "УТ-1"
    assert document.requisite("Номер оплаты по 1С") == "ПО-1"
    assert document_number(to_fields(order)) == "132"


def test_an_order_that_cannot_be_written_is_refused_alone() -> None:
    good = canon.Order(number="1", date=datetime(2024, 5, 1), status="N", total=Money(Decimal(1)))
    bad = {**to_fields(good), "date": "the day after tomorrow"}
    built = build_documents(
        [Record("order", "a", bad), Record("order", "b", dict(to_fields(good)))], {}, to="onec"
    )
    assert [d.id for d in built.documents] == ["b"]
    assert list(built.refused) == ["a"]
    assert "cannot be written" in built.refused["a"]
