"""A simple product made by hand in the portal, then matched to a 1C card with variations (§5.7)."""

from __future__ import annotations

from b24_support import build_client, make_sandbox, rows

from obmen.connectors.base import Create, Update
from obmen.connectors.bitrix24.connector import Bitrix24Connector

GUID = "0178c4e5-512a-5a00-b047-974fdb315480"


async def test_a_hand_made_simple_product_is_updated_as_simple_and_then_takes_variations() -> None:
    sandbox = make_sandbox()
    async with build_client(sandbox) as client:
        b24 = Bitrix24Connector(client, variations=True)
        info = await b24.catalog.info()
        fields = {"iblockId": info.product_iblock, "name": "Куртка (вручную)", "xmlId": GUID}
        made = await client.call("catalog.product.add", {"fields": fields})
        product_id = str(made.result["element"]["id"])
        assert await b24.match("product", [("xml_id", GUID)]) == {("xml_id", GUID): product_id}

        # The parent family (catalog.product.sku.*) does not see a simple product: update it as one.
        card = {
            "name": "Куртка зимняя",
            "xml_id": GUID,
            "description": None,
            "categories": [],
            "active": True,
        }
        [renamed] = await b24.write([Update("product", product_id, card)])
        assert renamed.ok, renamed.error
        [row] = [r for r in rows(sandbox, "catalog.product") if str(r["id"]) == product_id]
        assert row["name"] == "Куртка зимняя"

        # A variation hung under it makes it a parent; later updates go through the parent family.
        offer = {
            "product": {"$ref": "product", "id": product_id},
            "name": "Куртка зимняя 48",
            "xml_id": f"{GUID}#48",
            "price": {"amount": "8900", "currency": "RUB"},
            "quantity": "3",
            "active": True,
        }
        [variation] = await b24.write([Create("offer", "0" * 31 + "1", offer)])
        assert variation.ok, variation.error
        [again] = await b24.write([Update("product", product_id, {**card, "active": False})])
        assert again.ok, again.error
        products = [r for r in rows(sandbox, "catalog.product") if r.get("xmlId") == GUID]
        assert [(str(r["id"]), r["active"]) for r in products] == [(product_id, "N")]


async def test_hand_made_products_are_found_by_their_article_and_barcode_properties() -> None:
    sandbox = make_sandbox()
    async with build_client(sandbox) as client:
        b24 = Bitrix24Connector(
            client, catalog_properties={"article": "CML2_ARTICLE", "barcode": "CML2_BAR_CODE"}
        )
        info = await b24.catalog.info()
        ids = {}
        for code in ("CML2_ARTICLE", "CML2_BAR_CODE"):
            prop = {"iblockId": info.product_iblock, "name": code, "code": code, "propertyType": "S"}
            made = await client.call("catalog.productProperty.add", {"fields": prop})
            ids[code] = made.result["productProperty"]["id"]
        by_hand = {
            "iblockId": info.product_iblock,
            "name": "Коврик (вручную)",
            f"property{ids['CML2_ARTICLE']}": "OB-1",
        }
        first = (await client.call("catalog.product.add", {"fields": by_hand})).result["element"]["id"]
        scanned = {
            "iblockId": info.product_iblock,
            "name": "Плед",
            f"property{ids['CML2_BAR_CODE']}": "4600000000017",
        }
        second = (await client.call("catalog.product.add", {"fields": scanned})).result["element"]["id"]
        keys = [("xml_id", GUID), ("article", "OB-1"), ("barcode", "4600000000017"), ("article", "NONE")]
        found = await b24.match("product", keys)
    # 1C's card has an `Ид` the portal never saw; its article and its barcode find the products.
    assert found == {("article", "OB-1"): str(first), ("barcode", "4600000000017"): str(second)}


async def test_a_property_the_portal_lacks_matches_nothing_and_fails_nothing() -> None:
    sandbox = make_sandbox()
    async with build_client(sandbox) as client:
        b24 = Bitrix24Connector(client, catalog_properties={"article": "NO_SUCH_CODE"})
        assert await b24.match("product", [("article", "OB-1")]) == {}
