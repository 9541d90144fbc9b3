"""Seeded catalog dictionaries: two linked catalogs, price types, units, VAT, a warehouse."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from catalog_fixtures import Api, ApiError, open_api

from obmen_sandbox.bitrix24.catalog import (
    OFFERS_IBLOCK,
    PRODUCT_IBLOCK,
    SKU_PROPERTY,
    seed_defaults,
    seed_row,
)


@pytest.fixture
async def api() -> AsyncIterator[Api]:
    async with open_api() as client:
        yield client


async def test_offers_catalog_points_at_the_product_catalog(api: Api) -> None:
    answer = await api("catalog.catalog.list")
    catalogs = {row["iblockId"]: row for row in answer.result["catalogs"]}
    assert set(catalogs) == {PRODUCT_IBLOCK, OFFERS_IBLOCK}
    assert catalogs[PRODUCT_IBLOCK]["productIblockId"] is None
    assert catalogs[OFFERS_IBLOCK]["productIblockId"] == PRODUCT_IBLOCK
    assert catalogs[OFFERS_IBLOCK]["skuPropertyId"] == SKU_PROPERTY
    assert answer.total == 2
    assert answer.next is None


async def test_catalog_list_filters_orders_and_selects(api: Api) -> None:
    answer = await api(
        "catalog.catalog.list",
        select=["id", "productIblockId"],
        filter={">id": PRODUCT_IBLOCK},
        order={"id": "desc"},
    )
    assert answer.result == {"catalogs": [{"id": OFFERS_IBLOCK, "productIblockId": PRODUCT_IBLOCK}]}


async def test_link_property_of_the_offers_catalog_is_listed(api: Api) -> None:
    answer = await api("catalog.productProperty.list", filter={"iblockId": OFFERS_IBLOCK})
    (link,) = answer.result["productProperties"]
    assert link["id"] == SKU_PROPERTY
    assert (link["propertyType"], link["userType"], link["linkIblockId"]) == ("E", "SKU", PRODUCT_IBLOCK)


async def test_fresh_portal_dictionaries(api: Api) -> None:
    price_types = (await api("catalog.priceType.list")).result["priceTypes"]
    assert [(p["id"], p["name"], p["base"]) for p in price_types] == [(1, "BASE", "Y")]
    measures = (await api("catalog.measure.list", filter={"isDefault": "Y"})).result["measures"]
    assert [(m["code"], m["symbol"]) for m in measures] == [(796, "шт")]
    stores = (await api("catalog.store.list")).result["stores"]
    assert [s["active"] for s in stores] == ["Y"]
    assert (await api("catalog.document.mode.status")).result == "N"
    api.store_control(True)
    assert (await api("catalog.document.mode.status")).result == "Y"


async def test_unknown_filter_field_is_refused(api: Api) -> None:
    with pytest.raises(ApiError) as error:
        await api("catalog.measure.list", filter={"nonsense": 1})
    assert error.value.code == "INVALID_ARG_VALUE"


async def test_seeding_twice_keeps_what_is_there(api: Api) -> None:
    api.portal.table("catalog.catalog").rows[PRODUCT_IBLOCK]["name"] = "renamed"
    seed_defaults(api.portal)
    assert (await api("catalog.catalog.list", filter={"id": PRODUCT_IBLOCK})).result["catalogs"][0][
        "name"
    ] == "renamed"


async def test_seeded_short_rows_answer_like_created_ones(api: Api) -> None:
    parent_id = seed_row(api.portal, "catalog.product", {"iblockId": PRODUCT_IBLOCK, "name": "P", "type": 3})
    offer_id = seed_row(
        api.portal,
        "catalog.product",
        {"iblockId": OFFERS_IBLOCK, "name": "O", "type": 4, "parentId": parent_id},
    )
    seed_row(api.portal, "catalog.storeproduct", {"productId": offer_id, "storeId": 1, "amount": 7})
    assert seed_row(api.portal, "crm.deal", {"TITLE": "x"}) is None
    offer = (await api("catalog.product.offer.get", id=offer_id)).result["offer"]
    assert (offer["parentId"]["value"], offer["quantity"], offer["xmlId"], offer["available"]) == (
        str(parent_id),
        7,
        str(offer_id),
        "Y",
    )
    created = await api("catalog.product.offer.add", fields={"iblockId": OFFERS_IBLOCK, "name": "O2"})
    assert set(created.result["offer"]) == set(offer)


async def test_bare_rows_seeded_through_the_control_api_work(api: Api) -> None:
    seeded = api.sandbox.seed(
        {
            "tables": {
                "catalog.product": [
                    {"id": 500, "iblockId": PRODUCT_IBLOCK, "name": "Родитель", "type": 3},
                    {"iblockId": OFFERS_IBLOCK, "name": "Вариант", "type": 4, "parentId": 500},
                ]
            }
        }
    )
    offer_id = seeded["catalog.product"][1]
    listed = await api(
        "catalog.product.offer.list",
        select=["id", "iblockId", "parentId", "xmlId"],
        filter={"iblockId": OFFERS_IBLOCK, "parentId": 500},
    )
    assert [row["id"] for row in listed.result["offers"]] == [offer_id]
    assert listed.result["offers"][0]["xmlId"] == str(offer_id)
    await api("catalog.product.offer.update", id=offer_id, fields={"name": "Вариант 2"})
    await api("catalog.product.sku.delete", id=500)
    assert (
        await api("catalog.product.list", select=["id", "iblockId"], filter={"iblockId": OFFERS_IBLOCK})
    ).total == 0
