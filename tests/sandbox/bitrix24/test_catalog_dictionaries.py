"""Seeded catalog dictionaries: two linked catalogs, price types, units, VAT, a warehouse."""

from __future__ import annotations

from catalog_fixtures import invoke, new_portal

from obmen_sandbox.bitrix24.catalog import OFFERS_IBLOCK, PRODUCT_IBLOCK, SKU_PROPERTY, seed_defaults


def test_offers_catalog_points_at_the_product_catalog() -> None:
    answer = invoke(new_portal(), "catalog.catalog.list")
    catalogs = {row["iblockId"]: row for row in answer.result["catalogs"]}
    assert set(catalogs) == {PRODUCT_IBLOCK, OFFERS_IBLOCK}
    assert catalogs[PRODUCT_IBLOCK]["productIblockId"] is None
    assert catalogs[OFFERS_IBLOCK]["productIblockId"] == PRODUCT_IBLOCK
    assert catalogs[OFFERS_IBLOCK]["skuPropertyId"] == SKU_PROPERTY
    assert answer.total == 2
    assert answer.next is None


def test_catalog_list_filters_and_selects() -> None:
    answer = invoke(
        new_portal(),
        "catalog.catalog.list",
        select=["id", "productIblockId"],
        filter={">id": PRODUCT_IBLOCK},
        order={"id": "desc"},
    )
    assert answer.result == {"catalogs": [{"id": OFFERS_IBLOCK, "productIblockId": PRODUCT_IBLOCK}]}


def test_seeding_twice_keeps_what_is_there() -> None:
    portal = new_portal()
    portal.table("catalog.catalog").rows[PRODUCT_IBLOCK]["name"] = "renamed"
    seed_defaults(portal)
    assert portal.table("catalog.catalog").rows[PRODUCT_IBLOCK]["name"] == "renamed"
