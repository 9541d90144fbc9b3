"""The canonical model: field-map round trips for every entity, stable encoding, money rules."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from obmen.model import (
    Category,
    Counterparty,
    Delivery,
    EntityType,
    Invoice,
    Lead,
    Money,
    Offer,
    Order,
    OrderLine,
    Payment,
    Price,
    PriceType,
    Product,
    Ref,
    Requisites,
    StockLevel,
    User,
    Warehouse,
    fingerprint,
    from_fields,
    to_fields,
)

text = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=12)
opt = st.none() | text
ids = st.text(alphabet="0123456789abcdef", min_size=1, max_size=8)
decimals = st.decimals(min_value=-(10**6), max_value=10**6, places=3, allow_nan=False, allow_infinity=False)
money = st.builds(Money, decimals, st.sampled_from(["RUB", "USD", "JPY"]))
refs = st.builds(Ref, st.sampled_from(list(EntityType)), ids)
pairs = st.lists(st.tuples(text, text), max_size=3).map(tuple)
moments = st.datetimes(timezones=st.just(UTC))
lines = st.builds(
    OrderLine,
    offer=st.none() | refs,
    name=text,
    quantity=decimals,
    price=money,
    discount=st.none() | money,
    vat_rate=st.none() | decimals,
)
tup = lambda s: st.lists(s, max_size=3).map(tuple)  # noqa: E731

ENTITIES = st.one_of(
    st.builds(Category, name=text, xml_id=opt, parent=st.none() | refs),
    st.builds(PriceType, name=text, xml_id=opt),
    st.builds(Warehouse, name=text, xml_id=opt),
    st.builds(
        Product,
        name=text,
        xml_id=opt,
        article=opt,
        categories=tup(refs),
        vat_rate=st.none() | decimals,
        properties=pairs,
        images=tup(text),
    ),
    st.builds(
        Offer,
        product=refs,
        name=text,
        characteristics=pairs,
        prices=tup(st.builds(Price, price_type=refs, value=money)),
        stock=tup(st.builds(StockLevel, warehouse=refs, quantity=decimals)),
    ),
    st.builds(
        Counterparty,
        kind=st.sampled_from(["person", "organization"]),
        name=text,
        phones=tup(text),
        emails=tup(text),
        requisites=st.none() | st.builds(Requisites, inn=opt, kpp=opt),
    ),
    st.builds(
        Order,
        number=text,
        date=moments,
        status=text,
        customer=st.none() | refs,
        lines=tup(lines),
        delivery=st.none() | st.builds(Delivery, service=text, price=money, address=opt),
        payments=tup(
            st.builds(Payment, system=text, amount=money, paid=st.booleans(), paid_at=st.none() | moments)
        ),
        total=st.none() | money,
        external_numbers=pairs,
        cancelled=st.booleans(),
    ),
    st.builds(Invoice, order=refs, stage=text, lines=tup(lines), due=st.none() | st.dates()),
    st.builds(User, name=text, email=opt),
    st.builds(Lead, title=text, phones=tup(text)),
)


@given(ENTITIES)
def test_every_entity_round_trips_through_its_json_field_map(entity: Any) -> None:
    fields = to_fields(entity)
    wire = json.loads(json.dumps(fields))  # what the store keeps
    assert from_fields(entity.ENTITY, wire) == entity
    assert fingerprint(wire) == fingerprint(to_fields(from_fields(entity.ENTITY, wire)))


def test_equal_values_encode_equally() -> None:
    a = Offer(
        product=Ref(EntityType.PRODUCT, "p1"),
        name="Чай",
        prices=(Price(price_type=Ref(EntityType.PRICE_TYPE, "t"), value=Money(Decimal("10.50"))),),
    )
    b = Offer(
        product=Ref(EntityType.PRODUCT, "p1"),
        name="Чай",
        prices=(Price(price_type=Ref(EntityType.PRICE_TYPE, "t"), value=Money(Decimal("10.5"))),),
    )
    assert to_fields(a) == to_fields(b)
    assert to_fields(a)["prices"] == [
        {"price_type": {"$ref": "price_type", "id": "t"}, "value": {"amount": "10.5", "currency": "RUB"}}
    ]
    assert (
        to_fields(Invoice(order=Ref(EntityType.ORDER, "o"), stage="N", due=date(2026, 1, 2)))["due"]
        == "2026-01-02"
    )
    order = Order(number="1", date=datetime(2026, 11, 22, 10, 0, tzinfo=UTC), status="N")
    assert to_fields(order)["date"] == "2026-11-22T10:00:00+00:00"


def test_money_is_quantised_and_refuses_mixed_currencies() -> None:
    assert Money(Decimal("1.005")).amount == Decimal("1.01")
    assert Money(Decimal("3"), "RUB").times(Decimal("2.5")) == Money(Decimal("7.5"))
    with pytest.raises(ValueError, match="cannot combine RUB with USD"):
        Money(Decimal(1)) + Money(Decimal(1), "USD")
    with pytest.raises(ValueError, match="ISO 4217"):
        Money(Decimal(1), "rubles")
