"""Product rows: replace-all, derived prices, the owner's amount, catalog names (docs/protocols/bitrix24.md).

See §5.2.
"""

from __future__ import annotations

from b24sandbox_support import Rest

from obmen_sandbox.bitrix24 import Bitrix24Sandbox


async def test_deal_productrows_set_replaces_all_rows(rest: Rest) -> None:
    deal = await rest.result("crm.deal.add", {"fields": {"TITLE": "d"}})
    first = [{"PRODUCT_NAME": "A", "PRICE": 100, "QUANTITY": 2}, {"PRODUCT_NAME": "B", "PRICE": 50}]
    assert await rest.result("crm.deal.productrows.set", {"id": deal, "rows": first}) is True
    rows = await rest.result("crm.deal.productrows.get", {"id": deal})
    assert [(r["PRODUCT_NAME"], r["QUANTITY"]) for r in rows] == [("A", 2), ("B", 1)]
    assert rows[0]["OWNER_TYPE"] == "D"
    assert rows[0]["ID"] == "1"
    assert (await rest.result("crm.deal.get", {"id": deal}))["OPPORTUNITY"] == "250.00"
    await rest.call("crm.deal.productrows.set", {"id": deal, "rows": [{"PRODUCT_NAME": "C", "PRICE": 7}]})
    rows = await rest.result("crm.deal.productrows.get", {"id": deal})
    assert [r["PRODUCT_NAME"] for r in rows] == ["C"]
    assert (await rest.result("crm.deal.get", {"id": deal}))["OPPORTUNITY"] == "7.00"
    await rest.call("crm.deal.productrows.set", {"id": deal, "rows": []})
    assert await rest.call("crm.deal.productrows.get", {"id": deal}) | {"time": None} == {
        "result": [],
        "time": None,
    }


async def test_discount_and_tax_are_derived_from_the_final_price(rest: Rest) -> None:
    deal = await rest.result("crm.deal.add", {"fields": {}})
    row = {
        "PRODUCT_NAME": "X",
        "PRICE": 899.1,
        "DISCOUNT_TYPE_ID": 2,
        "DISCOUNT_RATE": 10,
        "TAX_INCLUDED": "Y",
    }
    await rest.call("crm.deal.productrows.set", {"id": deal, "rows": [row]})
    got = (await rest.result("crm.deal.productrows.get", {"id": deal}))[0]
    # The docs' own example row (D:…/crm-deal-productrows-get.md).
    assert (got["PRICE"], got["PRICE_EXCLUSIVE"], got["PRICE_NETTO"], got["PRICE_BRUTTO"]) == (
        899.1,
        899.1,
        999,
        999,
    )
    assert (got["DISCOUNT_SUM"], got["PRICE_ACCOUNT"]) == (99.9, "899.10")
    vat = {"productName": "Y", "price": 120, "taxRate": 20, "taxIncluded": "Y"}
    rows = await rest.result(
        "crm.item.productrow.set", {"ownerType": "D", "ownerId": deal, "productRows": [vat]}
    )
    assert (rows["productRows"][0]["priceExclusive"], rows["productRows"][0]["priceBrutto"]) == (100, 120)


async def test_manual_opportunity_is_kept(rest: Rest) -> None:
    deal = await rest.result("crm.deal.add", {"fields": {"OPPORTUNITY": 999, "IS_MANUAL_OPPORTUNITY": "Y"}})
    await rest.call("crm.deal.productrows.set", {"id": deal, "rows": [{"PRODUCT_NAME": "A", "PRICE": 1}]})
    assert (await rest.result("crm.deal.get", {"id": deal}))["OPPORTUNITY"] == "999.00"


async def test_catalog_product_gives_the_row_its_name(rest: Rest, sandbox: Bitrix24Sandbox) -> None:
    product = sandbox.portal.table("catalog.product").add({"iblockId": 23, "name": "Чайник", "type": 1})
    sandbox.portal.table("catalog.product").rows[product]["id"] = product
    deal = await rest.result("crm.deal.add", {"fields": {}})
    await rest.call("crm.deal.productrows.set", {"id": deal, "rows": [{"PRODUCT_ID": product, "PRICE": 10}]})
    row = (await rest.result("crm.deal.productrows.get", {"id": deal}))[0]
    assert (row["PRODUCT_ID"], row["PRODUCT_NAME"]) == (product, "Чайник")


async def test_item_productrow_family(rest: Rest) -> None:
    deal = await rest.result("crm.deal.add", {"fields": {}})
    rows = [
        {"productName": "A", "price": 10, "quantity": 1, "sort": 10},
        {"productName": "B", "price": 5, "sort": 20},
    ]
    answer = await rest.result(
        "crm.item.productrow.set", {"ownerType": "D", "ownerId": deal, "productRows": rows}
    )
    ids = [r["id"] for r in answer["productRows"]]
    kept = {"id": ids[0], "productName": "A2", "price": 11}
    await rest.call("crm.item.productrow.set", {"ownerType": "D", "ownerId": deal, "productRows": [kept]})
    listed = await rest.call("crm.item.productrow.list", {"filter": {"=ownerType": "D", "=ownerId": deal}})
    assert [(r["id"], r["productName"]) for r in listed["result"]["productRows"]] == [(ids[0], "A2")]
    assert listed["total"] == 1
    added = await rest.result(
        "crm.item.productrow.add",
        {"fields": {"ownerType": "D", "ownerId": deal, "productName": "C", "price": 4}},
    )
    row_id = added["productRow"]["id"]
    updated = await rest.result("crm.item.productrow.update", {"id": row_id, "fields": {"quantity": 3}})
    assert (updated["productRow"]["quantity"], updated["productRow"]["price"]) == (3, 4)
    assert (await rest.result("crm.item.get", {"entityTypeId": 2, "id": deal}))["item"]["opportunity"] == 23
    await rest.call("crm.item.productrow.delete", {"id": row_id})
    assert (await rest.raw("crm.item.productrow.get", {"id": row_id})).json()["error"] == "NOT_FOUND"
    invalid = await rest.raw(
        "crm.item.productrow.set", {"ownerType": "D", "ownerId": deal, "productRows": [{"price": 1}]}
    )
    assert invalid.json()["error"] == "INVALID_ARG_VALUE"
    unchanged = await rest.call("crm.item.productrow.list", {"filter": {"=ownerType": "D", "=ownerId": deal}})
    assert [r["productName"] for r in unchanged["result"]["productRows"]] == ["A2"]


async def test_invoice_rows_use_owner_type_si(rest: Rest) -> None:
    invoice = (await rest.result("crm.item.add", {"entityTypeId": 31, "fields": {"title": "s"}}))["item"][
        "id"
    ]
    rows = [{"productName": "A", "price": 3, "quantity": 2}]
    answer = await rest.result(
        "crm.item.productrow.set", {"ownerType": "SI", "ownerId": invoice, "productRows": rows}
    )
    assert answer["productRows"][0]["ownerType"] == "SI"
    assert (await rest.result("crm.item.get", {"entityTypeId": 31, "id": invoice}))["item"][
        "opportunity"
    ] == 6
