"""catalog.price.*: one price per type, `modify` replaces the whole collection, price events."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from catalog_fixtures import Api, ApiError, add_product, open_api
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st


@pytest.fixture
async def api() -> AsyncIterator[Api]:
    async with open_api() as client:
        yield client


async def add_price_type(api: Api, name: str) -> int:
    answer = await api("catalog.priceType.add", fields={"name": name, "xmlId": name, "sort": 200})
    price_type_id: int = answer.result["priceType"]["id"]
    return price_type_id


async def prices_of(api: Api, product_id: int) -> list[dict[str, Any]]:
    answer = await api(
        "catalog.price.list", filter={"productId": product_id}, order={"catalogGroupId": "asc"}
    )
    prices: list[dict[str, Any]] = answer.result["prices"]
    return prices


async def test_add_get_update_delete(api: Api) -> None:
    product = await add_product(api, "x")
    added = await api(
        "catalog.price.add",
        fields={"productId": product["id"], "catalogGroupId": "1", "price": "100.50", "currency": "RUB"},
    )
    price = added.result["price"]
    assert {k: price[k] for k in ("productId", "catalogGroupId", "price", "currency")} == {
        "productId": product["id"],
        "catalogGroupId": 1,
        "price": 100.5,
        "currency": "RUB",
    }
    assert (price["quantityFrom"], price["extraId"]) == (None, None)
    assert (await api("catalog.price.get", id=price["id"])).result == {"price": price}
    updated = await api("catalog.price.update", id=price["id"], fields={"price": 120, "currency": "USD"})
    assert (updated.result["price"]["price"], updated.result["price"]["currency"]) == (120, "USD")
    assert (await api("catalog.price.delete", id=price["id"])).result is True
    with pytest.raises(ApiError) as error:
        await api("catalog.price.get", id=price["id"])
    assert error.value.description == "Price does not exist"
    events = [(e, i) for e, i, _ in api.events if e.startswith("CATALOG.PRICE")]
    assert events == [
        ("CATALOG.PRICE.ON.ADD", price["id"]),
        ("CATALOG.PRICE.ON.UPDATE", price["id"]),
        ("CATALOG.PRICE.ON.DELETE", price["id"]),
    ]


async def test_one_price_per_type_and_validation(api: Api) -> None:
    product = await add_product(api, "x")
    base = {"productId": product["id"], "catalogGroupId": 1, "price": 1, "currency": "RUB"}
    await api("catalog.price.add", fields=base)
    for fields, text in [
        (base, "single price"),
        ({**base, "catalogGroupId": 99}, "price group is wrong"),
        ({"productId": product["id"], "catalogGroupId": 1}, "Required fields: price, currency"),
    ]:
        with pytest.raises(ApiError) as error:
            await api("catalog.price.add", fields=fields)
        assert error.value.code == "0"
        assert text in error.value.description
    with pytest.raises(ApiError) as error:
        await api("catalog.price.add")
    assert (error.value.code, error.value.description) == (
        "100",
        "Could not find value for parameter {fields}",
    )


async def test_modify_updates_listed_creates_new_and_deletes_the_rest(api: Api) -> None:
    product = await add_product(api, "x")
    other = await add_product(api, "other")
    wholesale, retail = await add_price_type(api, "OPT"), await add_price_type(api, "RETAIL")
    keep = await api(
        "catalog.price.add",
        fields={"productId": product["id"], "catalogGroupId": 1, "price": 1, "currency": "RUB"},
    )
    drop = await api(
        "catalog.price.add",
        fields={"productId": product["id"], "catalogGroupId": wholesale, "price": 2, "currency": "RUB"},
    )
    untouched = await api(
        "catalog.price.add",
        fields={"productId": other["id"], "catalogGroupId": 1, "price": 3, "currency": "RUB"},
    )
    keep_id = keep.result["price"]["id"]
    answer = await api(
        "catalog.price.modify",
        fields={
            "product": {
                "id": product["id"],
                "prices": [
                    {"id": keep_id, "catalogGroupId": 1, "price": 10, "currency": "RUB"},
                    {"catalogGroupId": retail, "price": 30, "currency": "RUB"},
                ],
            }
        },
    )
    assert [p["catalogGroupId"] for p in answer.result["prices"]] == [1, retail]
    rows = await prices_of(api, product["id"])
    assert [(p["catalogGroupId"], p["price"]) for p in rows] == [(1, 10), (retail, 30)]
    assert rows[0]["id"] == keep_id
    assert drop.result["price"]["id"] not in [p["id"] for p in rows]
    assert (await prices_of(api, other["id"]))[0]["id"] == untouched.result["price"]["id"]


async def test_modify_with_a_bad_entry_changes_nothing(api: Api) -> None:
    product = await add_product(api, "x")
    await api(
        "catalog.price.add",
        fields={"productId": product["id"], "catalogGroupId": 1, "price": 1, "currency": "RUB"},
    )
    before = await prices_of(api, product["id"])
    for prices in (
        [
            {"catalogGroupId": 1, "price": 5, "currency": "RUB"},
            {"catalogGroupId": 1, "price": 6, "currency": "RUB"},
        ],
        [{"catalogGroupId": 1, "price": 5}],
        [{"id": 999, "catalogGroupId": 1, "price": 5, "currency": "RUB"}],
    ):
        with pytest.raises(ApiError) as error:
            await api("catalog.price.modify", fields={"product": {"id": product["id"], "prices": prices}})
        assert error.value.code == "0"
        assert await prices_of(api, product["id"]) == before


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    rounds=st.lists(
        st.dictionaries(st.sampled_from([1, 2, 3]), st.integers(min_value=0, max_value=1000), max_size=3),
        min_size=1,
        max_size=5,
    ),
    reuse=st.booleans(),
)
async def test_modify_leaves_exactly_the_requested_collection(
    rounds: list[dict[int, int]], reuse: bool
) -> None:
    async with open_api() as api:
        await add_price_type(api, "T2")
        await add_price_type(api, "T3")
        product = await add_product(api, "x")
        for wanted in rounds:
            current = {p["catalogGroupId"]: p["id"] for p in await prices_of(api, product["id"])}
            entries = [
                {"catalogGroupId": group, "price": value, "currency": "RUB"}
                | ({"id": current[group]} if reuse and group in current else {})
                for group, value in wanted.items()
            ]
            await api("catalog.price.modify", fields={"product": {"id": product["id"], "prices": entries}})
            rows = await prices_of(api, product["id"])
            assert {p["catalogGroupId"]: p["price"] for p in rows} == wanted
            if reuse:
                assert all(
                    p["id"] == current[p["catalogGroupId"]] for p in rows if p["catalogGroupId"] in current
                )


async def test_price_types_have_one_base(api: Api) -> None:
    wholesale = await api("catalog.priceType.add", fields={"name": "OPT", "xmlId": "1c-opt"})
    assert (wholesale.result["priceType"]["base"], wholesale.result["priceType"]["sort"]) == ("N", 100)
    retail = await add_price_type(api, "RETAIL")
    await api("catalog.priceType.add", fields={"name": "NEWBASE", "base": "Y"})
    types = (await api("catalog.priceType.list", order={"id": "asc"})).result["priceTypes"]
    assert [t["name"] for t in types if t["base"] == "Y"] == ["NEWBASE"]
    assert (await api("catalog.priceType.get", id=retail)).result["priceType"]["name"] == "RETAIL"
    with pytest.raises(ApiError) as error:
        await api("catalog.priceType.add", fields={"sort": 1})
    assert error.value.description == "Required fields: name"
