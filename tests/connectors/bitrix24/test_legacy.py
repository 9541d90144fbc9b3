"""The legacy deal dialect translates at the edge (docs/bitrix24.md §2.2, §5.1, §5.2)."""

from __future__ import annotations

from obmen.connectors.bitrix24.legacy import to_item, to_legacy, to_legacy_filter, to_legacy_row
from obmen.connectors.bitrix24.mapping import Pipeline, deal_from_order, order_from_deal


def test_item_fields_become_upper_snake_and_back() -> None:
    fields = deal_from_order({"status": "N", "comment": "x"}, Pipeline(category_id=2), "a" * 32)
    legacy = to_legacy(fields)
    assert legacy["STAGE_ID"] == "C2:NEW"
    assert (legacy["ORIGINATOR_ID"], legacy["ORIGIN_ID"], legacy["CATEGORY_ID"]) == ("obmen", "a" * 32, 2)
    assert to_legacy_filter({"@originId": ["x"], ">=updatedTime": "t"}) == {
        "@ORIGIN_ID": ["x"],
        ">=DATE_MODIFY": "t",
    }
    assert to_legacy_row({"productName": "Кеды", "discountSum": 5.0, "taxRate": None}) == {
        "PRODUCT_NAME": "Кеды",
        "DISCOUNT_SUM": 5.0,
    }


def test_legacy_strings_read_as_a_typed_item() -> None:
    row = {
        "ID": "410",
        "STAGE_ID": "C2:WON",
        "COMPANY_ID": "0",
        "CONTACT_ID": "12",
        "OPPORTUNITY": "1000.00",
        "CURRENCY_ID": "RUB",
        "ORIGIN_ID": "1234",
        "DATE_MODIFY": "2026-01-01T00:00:00+03:00",
    }
    item = to_item(row)
    assert (item["id"], item["companyId"], item["contactId"], item["originId"]) == (410, 0, 12, "1234")
    assert item["updatedTime"] == "2026-01-01T00:00:00+03:00"
    order = order_from_deal(item, [], Pipeline(category_id=2, to_stage={"F": "WON"}))
    assert order["status"] == "F"
    assert order["customer"] == {"$ref": "counterparty", "id": "C12"}
    assert order["total"] == {"amount": "1000", "currency": "RUB"}
