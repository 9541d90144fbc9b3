"""The legacy deal dialect translates at the edge (docs/protocols/bitrix24.md §2.2, §5.1, §5.2)."""

from __future__ import annotations

from obmen.config.mapping import PipelineMap
from obmen.connectors.bitrix24.crm.fields import deal_from_order, order_from_deal
from obmen.connectors.bitrix24.crm.legacy import to_item, to_legacy, to_legacy_filter, to_legacy_row


def test_item_fields_become_upper_snake_and_back() -> None:
    fields = deal_from_order({"status": "N", "comment": "x"}, PipelineMap(category_id=2), "a" * 32)
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
    order = order_from_deal(item, [], PipelineMap(category_id=2, status_to_stage={"F": "WON"}))
    assert order["status"] == "F"
    assert order["customer"] == {"$ref": "counterparty", "id": "C12"}
    assert order["total"] == {"amount": "1000", "currency": "RUB"}


def test_order_properties_are_deal_fields_in_both_dialects() -> None:
    properties = {"COURIER": "UF_CRM_COURIER_NOTE", "INN": "UF_CRM_10_1617", "SRC": "SOURCE_DESCRIPTION"}
    order = {"property:COURIER": "Домофон", "property:INN": None, "property:SRC": "сайт"}
    item = deal_from_order(order, PipelineMap(), None, properties)
    assert item == {"ufCrm_COURIER_NOTE": "Домофон", "ufCrm10_1617": "", "sourceDescription": "сайт"}
    assert to_legacy(item) == {
        "UF_CRM_COURIER_NOTE": "Домофон",
        "UF_CRM_10_1617": "",
        "SOURCE_DESCRIPTION": "сайт",
    }
    row = to_item({"ID": "5", "STAGE_ID": "NEW", "UF_CRM_COURIER_NOTE": "Код", "UF_CRM_10_1617": ["7707"]})
    back = order_from_deal(row, [], PipelineMap(), properties=properties)
    assert (back["property:COURIER"], back["property:INN"], back["property:SRC"]) == ("Код", "7707", None)
