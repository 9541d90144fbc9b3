"""catalog.product.* (simple), .sku.* (parents) and .offer.* (variations): typing, links, lists, events."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from catalog_fixtures import Api, ApiError, add_product, open_api

from obmen_sandbox.bitrix24.catalog import OFFERS_IBLOCK, PRODUCT_IBLOCK


@pytest.fixture
async def api() -> AsyncIterator[Api]:
    async with open_api() as client:
        yield client


async def add_parent(api: Api, name: str, **fields: Any) -> dict[str, Any]:
    answer = await api("catalog.product.sku.add", fields={"iblockId": PRODUCT_IBLOCK, "name": name, **fields})
    row: dict[str, Any] = answer.result["sku"]
    return row


async def add_offer(api: Api, name: str, parent: int | None, **fields: Any) -> dict[str, Any]:
    fields = {"iblockId": OFFERS_IBLOCK, "name": name, "parentId": parent, **fields}
    row: dict[str, Any] = (await api("catalog.product.offer.add", fields=fields)).result["offer"]
    return row


async def test_simple_product_is_answered_typed_with_portal_defaults(api: Api) -> None:
    row = await add_product(
        api, "Чайник", xmlId="1c-guid", quantity="5", vatIncluded="Y", vatId="4", purchasingPrice="99.5"
    )
    assert isinstance(row["id"], int)
    assert row["type"] == 1
    assert row["iblockId"] == PRODUCT_IBLOCK
    assert row["quantity"] == 5
    assert (row["vatIncluded"], row["vatId"], row["active"], row["measure"]) == ("Y", 4, "Y", 5)
    assert row["purchasingPrice"] == "99.500000"
    assert row["xmlId"] == "1c-guid"
    assert row["available"] == "Y"
    assert row["dateCreate"].endswith("+03:00")
    got = (await api("catalog.product.get", id=row["id"])).result
    assert got == {"product": row}


async def test_empty_external_code_becomes_the_id(api: Api) -> None:
    row = await add_product(api, "без кода")
    assert row["xmlId"] == str(row["id"])


async def test_update_changes_fields_and_emits(api: Api) -> None:
    row = await add_product(api, "old")
    api.portal.clock.advance(60)
    answer = await api("catalog.product.update", id=row["id"], fields={"name": "new", "active": "N"})
    updated = answer.result["element"]
    assert (updated["name"], updated["active"]) == ("new", "N")
    assert updated["timestampX"] > row["timestampX"]
    assert (await api("catalog.product.get", id=row["id"])).result["product"]["name"] == "new"
    assert [(e, i) for e, i, _ in api.events] == [
        ("CATALOG.PRODUCT.ON.ADD", row["id"]),
        ("CATALOG.PRODUCT.ON.UPDATE", row["id"]),
    ]
    assert api.events[0][2] == {"TYPE": 1}


async def test_delete_removes_the_product_and_its_prices(api: Api) -> None:
    row = await add_product(api, "x")
    await api(
        "catalog.price.add",
        fields={"productId": row["id"], "catalogGroupId": 1, "price": 10, "currency": "RUB"},
    )
    assert (await api("catalog.product.delete", id=row["id"])).result is True
    assert (await api("catalog.price.list", filter={"productId": row["id"]})).total == 0
    assert api.events[-1][:2] == ("CATALOG.PRODUCT.ON.DELETE", row["id"])
    with pytest.raises(ApiError) as error:
        await api("catalog.product.delete", id=row["id"])
    assert error.value.code == "0"


@pytest.mark.parametrize(
    ("fields", "code"),
    [
        ({"iblockId": PRODUCT_IBLOCK}, "0"),
        ({"iblockId": 777, "name": "x"}, "200040300000"),
        ({"iblockId": OFFERS_IBLOCK, "name": "x"}, "0"),
        ({"iblockId": PRODUCT_IBLOCK, "name": "x", "iblockSectionId": 999}, "0"),
        ({"iblockId": PRODUCT_IBLOCK, "name": "x", "vatId": 999}, "0"),
        ({"iblockId": PRODUCT_IBLOCK, "name": "x", "purchasingCurrency": "XXX"}, "0"),
        ({"iblockId": PRODUCT_IBLOCK, "name": "x", "property4242": "v"}, "0"),
        ({"iblockId": PRODUCT_IBLOCK, "name": "x", "quantity": "lots"}, "0"),
    ],
)
async def test_add_refuses_bad_fields_and_keeps_nothing(api: Api, fields: dict[str, Any], code: str) -> None:
    with pytest.raises(ApiError) as error:
        await api("catalog.product.add", fields=fields)
    assert error.value.code == code
    assert api.portal.table("catalog.product").rows == {}
    assert api.events == []


async def test_missing_fields_is_code_100(api: Api) -> None:
    with pytest.raises(ApiError) as error:
        await api("catalog.product.add")
    assert error.value.code == "100"
    with pytest.raises(ApiError) as error:
        await api("catalog.product.get")
    assert error.value.code == "100"


async def test_symbolic_codes_are_unique(api: Api) -> None:
    await add_product(api, "a", code="kettle")
    with pytest.raises(ApiError):
        await add_product(api, "b", code="kettle")


async def test_list_requires_id_and_iblock_in_select_and_iblock_in_filter(api: Api) -> None:
    await add_product(api, "x")
    for params in (
        {"select": ["id", "name"], "filter": {"iblockId": PRODUCT_IBLOCK}},
        {"filter": {"iblockId": PRODUCT_IBLOCK}},
        {"select": ["id", "iblockId"], "filter": {"name": "x"}},
    ):
        with pytest.raises(ApiError) as error:
            await api("catalog.product.list", **params)
        assert error.value.code == "0"


async def test_list_pages_past_fifty_with_filter_order_and_keyset(api: Api) -> None:
    for n in range(120):
        await add_product(api, f"item {n:03}", sort=n % 7)
    select = ["id", "iblockId", "name"]
    where = {"iblockId": PRODUCT_IBLOCK, "%name": "item"}
    first = await api("catalog.product.list", select=select, filter=where, order={"id": "asc"})
    assert (len(first.result["products"]), first.total, first.next) == (50, 120, 50)
    last = await api("catalog.product.list", select=select, filter=where, start=100)
    assert (len(last.result["products"]), last.next) == (20, None)
    assert last.result["products"][0] == {"id": 101, "iblockId": PRODUCT_IBLOCK, "name": "item 100"}
    seen: list[int] = []
    cursor = 0
    while True:
        chunk = await api(
            "catalog.product.list",
            select=select,
            filter={**where, ">id": cursor},
            order={"id": "asc"},
            start=-1,
        )
        assert (chunk.total, chunk.next) == (0, None)
        rows = chunk.result["products"]
        seen += [row["id"] for row in rows]
        if len(rows) < 50:
            break
        cursor = rows[-1]["id"]
    assert seen == list(range(1, 121))
    ordered = await api(
        "catalog.product.list",
        select=["id", "iblockId", "sort"],
        filter={"iblockId": PRODUCT_IBLOCK, "@sort": [5, 6]},
        order={"sort": "desc", "id": "asc"},
    )
    sorts = [row["sort"] for row in ordered.result["products"]]
    assert sorts == sorted(sorts, reverse=True)
    assert set(sorts) == {5, 6}


async def test_properties_are_answered_as_value_and_value_id(api: Api) -> None:
    single = await api(
        "catalog.productProperty.add",
        fields={"iblockId": PRODUCT_IBLOCK, "name": "Бренд", "propertyType": "S"},
    )
    many = await api(
        "catalog.productProperty.add",
        fields={"iblockId": PRODUCT_IBLOCK, "name": "Теги", "propertyType": "S", "multiple": "Y"},
    )
    brand, tags = (
        f"property{single.result['productProperty']['id']}",
        f"property{many.result['productProperty']['id']}",
    )
    row = await add_product(api, "x", **{brand: {"value": "Acme"}, tags: ["a", {"value": "b"}]})
    assert row[brand]["value"] == "Acme"
    assert row[brand]["valueId"].isdigit()
    assert [item["value"] for item in row[tags]] == ["a", "b"]
    found = await api(
        "catalog.product.list",
        select=["id", "iblockId", brand],
        filter={"iblockId": PRODUCT_IBLOCK, brand: "Acme"},
    )
    assert found.result["products"] == [{"id": row["id"], "iblockId": PRODUCT_IBLOCK, brand: row[brand]}]
    cleared = await api("catalog.product.update", id=row["id"], fields={brand: ""})
    assert cleared.result["element"][brand] is None


async def test_parent_with_variations_links_both_ways(api: Api) -> None:
    parent = await add_parent(api, "Футболка")
    assert (parent["type"], parent["quantity"], parent["measure"]) == (6, None, None)
    red = await add_offer(api, "Футболка красная", parent["id"], quantity=3)
    blue = await add_offer(api, "Футболка синяя", parent["id"])
    assert red["type"] == 4
    assert red["parentId"]["value"] == str(parent["id"])
    assert (await api("catalog.product.sku.get", id=parent["id"])).result["sku"]["type"] == 3
    listed = await api(
        "catalog.product.offer.list",
        select=["id", "iblockId", "parentId", "name"],
        filter={"iblockId": OFFERS_IBLOCK, "parentId": parent["id"]},
    )
    assert [row["id"] for row in listed.result["offers"]] == [red["id"], blue["id"]]
    units = await api(
        "catalog.product.sku.list", select=["id", "iblockId", "type"], filter={"iblockId": PRODUCT_IBLOCK}
    )
    assert units.result["units"] == [{"id": parent["id"], "iblockId": PRODUCT_IBLOCK, "type": 3}]
    await api("catalog.product.offer.delete", id=red["id"])
    await api("catalog.product.offer.delete", id=blue["id"])
    assert (await api("catalog.product.sku.get", id=parent["id"])).result["sku"]["type"] == 6


async def test_families_see_only_their_types(api: Api) -> None:
    simple = await add_product(api, "simple")
    parent = await add_parent(api, "parent")
    offer = await add_offer(api, "offer", parent["id"])
    with pytest.raises(ApiError):
        await api("catalog.product.sku.get", id=simple["id"])
    with pytest.raises(ApiError):
        await api("catalog.product.offer.get", id=parent["id"])
    product_view = (await api("catalog.product.get", id=offer["id"])).result["product"]
    assert "parentId" not in product_view
    assert "quantityTrace" not in (await api("catalog.product.sku.get", id=parent["id"])).result["sku"]
    with pytest.raises(ApiError):
        await api("catalog.product.sku.add", fields={"iblockId": OFFERS_IBLOCK, "name": "wrong iblock"})


async def test_deleting_a_parent_deletes_its_variations(api: Api) -> None:
    parent = await add_parent(api, "parent")
    offer = await add_offer(api, "offer", parent["id"])
    await api("catalog.product.sku.delete", id=parent["id"])
    with pytest.raises(ApiError):
        await api("catalog.product.offer.get", id=offer["id"])
    deleted = [i for e, i, _ in api.events if e == "CATALOG.PRODUCT.ON.DELETE"]
    assert sorted(deleted) == sorted([parent["id"], offer["id"]])


async def test_variation_can_move_between_parents_and_bad_parent_is_refused(api: Api) -> None:
    first, second = await add_parent(api, "first"), await add_parent(api, "second")
    offer = await add_offer(api, "offer", first["id"])
    moved = await api("catalog.product.offer.update", id=offer["id"], fields={"parentId": second["id"]})
    assert moved.result["offer"]["parentId"]["value"] == str(second["id"])
    assert (await api("catalog.product.sku.get", id=first["id"])).result["sku"]["type"] == 6
    assert (await api("catalog.product.sku.get", id=second["id"])).result["sku"]["type"] == 3
    with pytest.raises(ApiError):
        await add_offer(api, "orphan", 99999)
    loose = await add_offer(api, "no parent", None)
    assert (loose["type"], loose["parentId"]) == (5, None)


async def test_offer_of_a_simple_product_turns_it_into_a_parent(api: Api) -> None:
    simple = await add_product(api, "простой")
    await add_offer(api, "вариант", simple["id"])
    assert (await api("catalog.product.get", id=simple["id"])).result["product"]["type"] == 3


async def test_stock_fields_are_not_editable_under_inventory_management(api: Api) -> None:
    api.store_control(True)
    row = await add_product(api, "x", quantity=50, purchasingPrice=10)
    assert (row["quantity"], row["purchasingPrice"]) == (0, None)
    updated = await api("catalog.product.update", id=row["id"], fields={"quantity": 7})
    assert updated.result["element"]["quantity"] == 0


async def test_fields_by_filter_describe_the_iblock_and_its_properties(api: Api) -> None:
    size = await api(
        "catalog.productProperty.add",
        fields={"iblockId": OFFERS_IBLOCK, "name": "Размер", "propertyType": "L", "multiple": "N"},
    )
    size_key = f"property{size.result['productProperty']['id']}"
    offer = (await api("catalog.product.offer.getFieldsByFilter", filter={"iblockId": OFFERS_IBLOCK})).result[
        "offer"
    ]
    assert offer["iblockId"] == {
        "isImmutable": True,
        "isReadOnly": False,
        "isRequired": True,
        "name": "Information Block Identifier",
        "type": "integer",
    }
    assert (offer["parentId"]["type"], offer["parentId"]["propertyType"], offer["parentId"]["userType"]) == (
        "productproperty",
        "E",
        "SKU",
    )
    assert offer[size_key]["name"] == "Размер"
    assert offer["type"]["isReadOnly"] is True
    sku = (await api("catalog.product.sku.getFieldsByFilter", filter={"iblockId": PRODUCT_IBLOCK})).result[
        "sku"
    ]
    assert "quantityTrace" not in sku
    assert size_key not in sku
    with pytest.raises(ApiError) as error:
        await api("catalog.product.getFieldsByFilter")
    assert error.value.code == "100"


async def test_a_refused_parent_change_changes_nothing(api: Api) -> None:
    parent = await add_parent(api, "parent")
    offer = await add_offer(api, "offer", parent["id"])
    with pytest.raises(ApiError):
        await api(
            "catalog.product.offer.update", id=offer["id"], fields={"name": "renamed", "parentId": 99999}
        )
    kept = (await api("catalog.product.offer.get", id=offer["id"])).result["offer"]
    assert (kept["name"], kept["parentId"]["value"]) == ("offer", str(parent["id"]))
