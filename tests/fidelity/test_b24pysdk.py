"""b24pysdk (bitrix24/b24pysdk, the official Python SDK) with webhook credentials, over HTTPS.

The SDK builds `https://{domain}/rest/{user}/{code}/{method}.json` itself (HTTPS is hard-coded) and
POSTs JSON with `requests`; the throwaway certificate is trusted through `REQUESTS_CA_BUNDLE`, the
way `requests` is told about a private CA, so verification stays on.
"""

from __future__ import annotations

import pytest
from b24pysdk import BitrixWebhook, Client
from fidelity_support import WEBHOOK, Served


@pytest.fixture
def client(served: Served, monkeypatch: pytest.MonkeyPatch) -> Client:
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", served.cert)
    return Client(BitrixWebhook(domain=served.host, webhook_token=WEBHOOK))


def test_deal_add_get_list(client: Client) -> None:
    fields = {
        "TITLE": "Order 1C-000123",
        "OPPORTUNITY": 1500.5,
        "CURRENCY_ID": "RUB",
        "ORIGIN_ID": "1C-000123",
    }
    deal_id = client.crm.deal.add(fields=fields).result
    assert isinstance(deal_id, int)
    assert deal_id > 0

    deal = client.crm.deal.get(bitrix_id=deal_id).result
    assert deal["ID"] == str(deal_id)
    assert (deal["TITLE"], deal["OPPORTUNITY"], deal["CURRENCY_ID"]) == ("Order 1C-000123", "1500.50", "RUB")
    assert deal["ORIGIN_ID"] == "1C-000123"

    listed = client.crm.deal.list(select=["ID", "TITLE"], filter={"ORIGIN_ID": "1C-000123"}).result
    assert listed == [{"ID": str(deal_id), "TITLE": "Order 1C-000123"}]


def test_call_batches_and_as_list_fast_walk_every_deal(client: Client) -> None:
    """`as_list_fast`: `start=-1` pages, `>ID` filters chained inside one batch by `$result[n][49][ID]`."""
    count = 121  # two full pages and a short one, so the chain must stop at the short page
    adds = {number: client.crm.deal.add(fields={"TITLE": f"PY deal {number:03}"}) for number in range(count)}
    batch = client.call_batches(adds).result
    assert not batch.result_error
    created = {int(key): value for key, value in batch.result.items()}
    assert sorted(created) == list(range(count))
    ids = [created[number] for number in range(count)]
    assert all(isinstance(deal_id, int) for deal_id in ids)

    deals = list(client.crm.deal.list(select=["ID", "TITLE"]).as_list_fast().result)
    assert [int(deal["ID"]) for deal in deals] == sorted(ids)
    assert {deal["TITLE"] for deal in deals} == {f"PY deal {number:03}" for number in range(count)}

    newest_first = list(client.crm.deal.list(select=["ID"]).as_list_fast(descending=True, limit=70).result)
    assert [int(deal["ID"]) for deal in newest_first] == sorted(ids, reverse=True)[:70]


def test_catalog_product_and_its_prices_through_the_typed_wrappers(client: Client) -> None:
    """A product in the product catalog, its price replaced by `catalog.price.modify`, read back."""
    catalogs = client.catalog.catalog.list(select=["id", "iblockId", "productIblockId"]).result["catalogs"]
    products_iblock = next(item["iblockId"] for item in catalogs if not item["productIblockId"])
    price_type = client.catalog.price_type.list(select=["id", "base"]).result["priceTypes"][0]["id"]

    fields = {"iblockId": products_iblock, "name": "Чайник", "xmlId": "1c-guid-0001", "code": "chainik"}
    product = client.catalog.product.add(fields=fields).result[
        "element"
    ]  # sic: `element` (catalog-product-add.md)
    assert (product["name"], product["xmlId"], product["iblockId"]) == (
        "Чайник",
        "1c-guid-0001",
        products_iblock,
    )

    prices = [{"catalogGroupId": price_type, "price": 1990.5, "currency": "RUB"}]
    modified = client.catalog.price.modify(fields={"product": {"id": product["id"], "prices": prices}}).result
    assert [(row["productId"], row["price"]) for row in modified["prices"]] == [(product["id"], 1990.5)]
    listed = client.catalog.price.list(
        select=["id", "productId", "catalogGroupId", "price", "currency"], filter={"productId": product["id"]}
    ).result["prices"]
    assert [(row["catalogGroupId"], row["price"], row["currency"]) for row in listed] == [
        (price_type, 1990.5, "RUB")
    ]
