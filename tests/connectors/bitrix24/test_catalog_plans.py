"""Catalog mapping and write plans, and which calls may be repeated (docs/protocols/bitrix24.md §4, §5.7)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from obmen.connectors.base import Change, Create, Update, WriteResult
from obmen.connectors.bitrix24.catalog import writes as cw
from obmen.connectors.bitrix24.catalog.fields import (
    CatalogInfo,
    as_price_and_stock,
    category_from_section,
    offer_from_row,
    origin_of,
    section_payload,
    stock_moves,
)
from obmen.connectors.bitrix24.client.rest import repeatable
from obmen.connectors.bitrix24.events.notices import changes_of

INFO = CatalogInfo(
    product_iblock=23,
    offers_iblock=24,
    price_types={1: "BASE", 2: "Оптовая"},
    stores=(1, 2),
    base_price_type=1,
)
CID = "0123456789abcdef0123456789abcdef"


def _price(group: str, amount: str) -> dict[str, Any]:
    return {"price_type": {"$ref": "price_type", "id": group}, "value": {"amount": amount, "currency": "RUB"}}


def _level(store: str, quantity: str) -> dict[str, Any]:
    return {"warehouse": {"$ref": "warehouse", "id": store}, "quantity": quantity}


def test_a_section_round_trips_and_stamps_the_canonical_id_only_without_an_xml_id() -> None:
    fields = {"name": "Обувь", "xml_id": None, "parent": {"$ref": "category", "id": "5"}, "active": True}
    payload = section_payload(fields, 23, CID)
    assert payload == {"iblockId": 23, "name": "Обувь", "active": "Y", "iblockSectionId": 5, "xmlId": CID}
    assert origin_of(payload["xmlId"]) == CID
    assert category_from_section({"id": 9, **payload}) == fields
    guid = "bd72d90d-55bc-11d9-848a-00112f43529a"
    assert section_payload({**fields, "xml_id": guid}, 23, CID)["xmlId"] == guid
    assert origin_of(guid) is None


def test_a_variation_with_prices_and_stock_documents_goes_out_chained_in_one_plan() -> None:
    info = CatalogInfo(
        product_iblock=23, offers_iblock=24, price_types={1: "BASE"}, stores=(1, 2), inventory=True
    )
    op = Create(
        "offer",
        CID,
        {
            "product": {"$ref": "product", "id": "7"},
            "name": "Кеды 42",
            "prices": [_price("1", "1990")],
            "stock": [_level("1", "5"), _level("2", "0")],
        },
    )
    plan = cw.plan(op, info, True, {})
    assert not isinstance(plan, WriteResult)
    named = plan.named(3)
    methods = [method for method, _ in named.values()]
    assert methods == [
        "catalog.product.offer.add",
        "catalog.price.modify",
        "catalog.document.add",
        "catalog.document.element.add",
        "catalog.document.conduct",
    ]
    assert named["o3s0"][1]["fields"]["parentId"] == 7
    assert named["o3s1"][1]["fields"]["product"]["id"] == "$result[o3s0][offer][id]"
    assert named["o3s3"][1]["fields"] == {
        "docId": "$result[o3s2][document][id]",
        "elementId": "$result[o3s0][offer][id]",
        "storeTo": 1,
        "amount": 5.0,
        "purchasingPrice": 0,
    }
    assert named["o3s4"][1] == {"id": "$result[o3s2][document][id]"}


def test_a_simple_offer_is_its_product_and_stock_is_quantity_without_inventory() -> None:
    op = Create(
        "offer",
        CID,
        {"product": {"$ref": "product", "id": "7"}, "stock": [_level("1", "3"), _level("2", "2")]},
    )
    plan = cw.plan(op, INFO, False, {})
    assert not isinstance(plan, WriteResult)
    assert plan.external_id == "7"
    assert plan.calls == (("catalog.product.update", {"id": 7, "fields": {"quantity": 5.0}}),)


def test_read_only_dictionaries_refuse_writes_with_a_reason() -> None:
    result = cw.plan(Update("price_type", "1", {"name": "x"}), INFO, False, {})
    assert isinstance(result, WriteResult)
    assert result.error is not None


@given(
    st.dictionaries(st.integers(1, 4), st.integers(0, 50), max_size=4),
    st.dictionaries(st.integers(1, 4), st.integers(0, 50), max_size=4),
)
def test_stock_moves_take_have_to_want(want: dict[int, int], have: dict[int, int]) -> None:
    wanted = [_level(str(k), str(v)) for k, v in want.items()]
    moves = stock_moves(wanted, {k: Decimal(v) for k, v in have.items()})
    after = {k: have.get(k, 0) + moves.get(k, 0) for k in {*want, *have}}
    assert {k: v for k, v in after.items() if v} == {k: v for k, v in want.items() if v}
    assert all(moves.values())


def test_offer_rows_read_back_prices_and_quantity() -> None:
    row = {
        "id": 11,
        "name": "Кеды",
        "xmlId": CID,
        "quantity": 4,
        "active": "Y",
        "parentId": {"value": "7", "valueId": "1"},
    }
    prices = [
        {"catalogGroupId": 2, "price": 1500.0, "currency": "RUB"},
        {"catalogGroupId": 1, "price": 1990.0, "currency": "RUB"},
    ]
    fields = offer_from_row(row, prices, None, INFO)
    assert fields["product"] == {"$ref": "product", "id": "7"}
    assert fields["price"] == {"amount": "1990", "currency": "RUB"}  # the base price type's
    assert fields["quantity"] == "4"
    assert fields["xml_id"] is None


@pytest.mark.parametrize(
    ("method", "params", "again"),
    [
        ("crm.deal.list", {}, True),
        ("crm.item.add", {"fields": {}}, False),
        ("crm.item.update", {"fields": {"title": "x"}}, True),
        ("crm.contact.update", {"fields": {"PHONE": [{"VALUE": "1"}]}}, False),  # appends (§5.4)
        ("crm.item.productrow.set", {}, True),
        ("catalog.price.modify", {}, True),
        ("catalog.document.conduct", {"id": 1}, False),
        ("event.offline.get", {"clear": 0}, False),
        ("event.offline.clear", {"process_id": "p"}, True),
    ],
)
def test_only_calls_that_leave_the_same_state_are_repeated_blind(
    method: str, params: dict[str, Any], again: bool
) -> None:
    assert repeatable(method, params) is again


def test_a_simple_product_event_names_the_product_and_its_offer() -> None:
    data = {"FIELDS": {"ID": "31", "TYPE": "1"}}
    assert changes_of("CATALOG.PRODUCT.ON.UPDATE", data) == [Change("product", "31"), Change("offer", "31")]


def test_price_and_quantity_become_the_base_price_and_the_first_store() -> None:
    fields = {"price": {"amount": "10", "currency": "RUB"}, "quantity": "3", "name": "x"}
    rows = as_price_and_stock(fields, INFO)
    assert rows["prices"] == [_price("1", "10")]
    assert rows["stock"] == [_level("1", "3")]
    assert rows["name"] == "x"
    assert as_price_and_stock({"price": None, "quantity": None}, INFO) == {"prices": [], "stock": []}
