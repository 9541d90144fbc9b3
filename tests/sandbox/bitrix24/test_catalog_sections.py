"""catalog.section.*: the category tree by `iblockSectionId`, unique codes, documented error codes."""

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


async def add_section(api: Api, name: str, **fields: Any) -> dict[str, Any]:
    answer = await api("catalog.section.add", fields={"iblockId": PRODUCT_IBLOCK, "name": name, **fields})
    section: dict[str, Any] = answer.result["section"]
    return section


async def test_add_answers_the_typed_section_with_defaults(api: Api) -> None:
    root = await add_section(api, "Обувь", xmlId="guid-1", code="shoes")
    assert root == {
        "id": root["id"],
        "iblockId": PRODUCT_IBLOCK,
        "iblockSectionId": None,
        "name": "Обувь",
        "xmlId": "guid-1",
        "code": "shoes",
        "sort": 500,
        "active": "Y",
        "description": None,
        "descriptionType": "text",
    }
    assert (await api("catalog.section.get", id=root["id"])).result == {"section": root}


async def test_tree_is_listed_by_parent(api: Api) -> None:
    root = await add_section(api, "Одежда")
    child = await add_section(api, "Куртки", iblockSectionId=str(root["id"]), active="N")
    await add_section(api, "Шапки", iblockSectionId=root["id"])
    answer = await api(
        "catalog.section.list",
        filter={"iblockId": PRODUCT_IBLOCK, "iblockSectionId": root["id"]},
        select=["id", "name", "active"],
        order={"name": "asc"},
    )
    assert [s["name"] for s in answer.result["sections"]] == ["Куртки", "Шапки"]
    assert answer.result["sections"][0] == {"id": child["id"], "name": "Куртки", "active": "N"}
    assert answer.total == 2


async def test_list_needs_the_iblock_in_the_filter(api: Api) -> None:
    with pytest.raises(ApiError) as error:
        await api("catalog.section.list", filter={"name": "x"})
    assert error.value.code == "0"


async def test_codes_are_unique_within_an_iblock(api: Api) -> None:
    await add_section(api, "A", code="same")
    with pytest.raises(ApiError) as error:
        await add_section(api, "B", code="same")
    assert error.value.code == "200700300040"
    other = await api("catalog.section.add", fields={"iblockId": OFFERS_IBLOCK, "name": "C", "code": "same"})
    assert other.result["section"]["code"] == "same"


@pytest.mark.parametrize(
    ("fields", "code"),
    [
        ({"iblockId": 999, "name": "x"}, "200700300050"),
        ({"iblockId": PRODUCT_IBLOCK}, "0"),
        ({"iblockId": PRODUCT_IBLOCK, "name": "x", "iblockSectionId": 999}, "200700300000"),
    ],
)
async def test_add_errors(api: Api, fields: dict[str, Any], code: str) -> None:
    with pytest.raises(ApiError) as error:
        await api("catalog.section.add", fields=fields)
    assert error.value.code == code
    assert error.value.status == 400
    assert (await api("catalog.section.list", filter={"iblockId": PRODUCT_IBLOCK})).total == 0


async def test_missing_parameters_are_code_100(api: Api) -> None:
    for name, params in [
        ("catalog.section.add", {}),
        ("catalog.section.get", {}),
        ("catalog.section.delete", {}),
    ]:
        with pytest.raises(ApiError) as error:
            await api(name, **params)
        assert error.value.code == "100"


async def test_update_moves_a_section_but_never_into_itself(api: Api) -> None:
    root = await add_section(api, "Root")
    child = await add_section(api, "Child", iblockSectionId=root["id"])
    other = await add_section(api, "Other")
    moved = await api(
        "catalog.section.update",
        id=child["id"],
        fields={"iblockId": PRODUCT_IBLOCK, "name": "Child", "iblockSectionId": other["id"]},
    )
    assert moved.result["section"]["iblockSectionId"] == other["id"]
    with pytest.raises(ApiError) as error:
        await api(
            "catalog.section.update",
            id=other["id"],
            fields={"iblockId": PRODUCT_IBLOCK, "name": "Other", "iblockSectionId": child["id"]},
        )
    assert error.value.code == "200700300010"
    with pytest.raises(ApiError) as missing:
        await api("catalog.section.update", id=999, fields={"iblockId": PRODUCT_IBLOCK, "name": "x"})
    assert missing.value.code == "200700300030"


async def test_delete_takes_the_subtree_and_its_products(api: Api) -> None:
    root = await add_section(api, "Root")
    child = await add_section(api, "Child", iblockSectionId=root["id"])
    keep = await add_section(api, "Keep")
    doomed = await add_product(api, "in child", iblockSectionId=child["id"])
    kept = await add_product(api, "elsewhere", iblockSectionId=keep["id"])
    assert (await api("catalog.section.delete", id=root["id"])).result is True
    left = await api("catalog.section.list", filter={"iblockId": PRODUCT_IBLOCK})
    assert [s["id"] for s in left.result["sections"]] == [keep["id"]]
    with pytest.raises(ApiError):
        await api("catalog.product.get", id=doomed["id"])
    assert (await api("catalog.product.get", id=kept["id"])).result["product"]["name"] == "elsewhere"
    with pytest.raises(ApiError) as error:
        await api("catalog.section.get", id=child["id"])
    assert error.value.code == "200700300030"
