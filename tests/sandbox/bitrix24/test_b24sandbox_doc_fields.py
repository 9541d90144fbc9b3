"""Which fields leads, companies and requisites answer, and that `get`, `fields` and `crm.item` agree.

The field sets are those of the official docs' pages (crm-lead-get.md, crm-company-get.md,
crm-company-fields.md, crm-requisite-get.md, crm-requisite-fields.md, universal/object-fields.md).
"""

from __future__ import annotations

from typing import Any

import pytest
from b24sandbox_support import Rest

_MULTI = {"PHONE", "EMAIL", "WEB", "IM", "LINK"}
# Described but never answered by `get`: links are read through `*.items.get` (docs/protocols/bitrix24.md
# §2.4).
_NOT_IN_GET = {"CONTACT_IDS", "COMPANY_IDS"}


async def _lead(rest: Rest, **fields: Any) -> int:
    lead_id: int = await rest.result("crm.lead.add", {"fields": {"TITLE": "Лид", **fields}})
    return lead_id


async def test_an_open_lead_has_an_empty_closing_date_and_a_country_code(rest: Rest) -> None:
    lead = await rest.result("crm.lead.get", {"id": await _lead(rest, DATE_CLOSED="2020-01-01")})
    assert lead["DATE_CLOSED"] == ""  # read-only: what add sent is ignored
    assert lead["BIRTHDATE"] == ""  # unset dates are "" (crm-lead-get.md), unset texts null
    assert lead["ADDRESS_COUNTRY_CODE"] is None
    assert lead["POST"] is None


@pytest.mark.parametrize("final", ["CONVERTED", "JUNK"])
async def test_a_lead_is_closed_on_a_final_status_and_reopened_when_moved_back(
    rest: Rest, final: str
) -> None:
    lead_id = await _lead(rest)
    await rest.call("crm.lead.update", {"id": lead_id, "fields": {"STATUS_ID": final}})
    closed = await rest.result("crm.lead.get", {"id": lead_id})
    assert closed["DATE_CLOSED"] == closed["DATE_MODIFY"] != ""
    item = (await rest.result("crm.item.get", {"entityTypeId": 1, "id": lead_id}))["item"]
    assert item["dateClosed"] == closed["DATE_CLOSED"]
    await rest.call("crm.lead.update", {"id": lead_id, "fields": {"STATUS_ID": "IN_PROCESS"}})
    assert (await rest.result("crm.lead.get", {"id": lead_id}))["DATE_CLOSED"] == ""
    item = (await rest.result("crm.item.get", {"entityTypeId": 1, "id": lead_id}))["item"]
    assert item["dateClosed"] is None


async def test_a_company_has_legal_address_and_banking_details_but_no_source(rest: Rest) -> None:
    fields = {
        "TITLE": "ООО Ромашка",
        "BANKING_DETAILS": "р/с 40702810900000000001",
        "ADDRESS_LEGAL": "Москва",
    }
    fields |= {"REG_ADDRESS_CITY": "Москва", "REG_ADDRESS_COUNTRY_CODE": "RU", "SOURCE_ID": "CALL"}
    company_id = await rest.result("crm.company.add", {"fields": fields})
    company = await rest.result("crm.company.get", {"id": company_id})
    assert company["BANKING_DETAILS"] == fields["BANKING_DETAILS"]
    assert (company["ADDRESS_LEGAL"], company["REG_ADDRESS_CITY"]) == ("Москва", "Москва")
    assert company["REG_ADDRESS_COUNTRY_CODE"] == "RU"
    assert company["LOGO"] is None
    assert company["LAST_COMMUNICATION_TIME"] is None
    assert "SOURCE_ID" not in company
    assert "SOURCE_DESCRIPTION" not in company
    item = (await rest.result("crm.item.get", {"entityTypeId": 4, "id": company_id}))["item"]
    assert item["bankingDetails"] == fields["BANKING_DETAILS"]
    assert item["addressLegal"] == "Москва"
    assert "logo" in item
    # object-fields.md: a company item has no source, registered-address parts or last communication.
    assert not {"sourceId", "regAddressCity", "regAddress", "lastCommunicationTime"} & item.keys()


async def test_only_leads_and_companies_have_an_address_country_code(rest: Rest) -> None:
    described = {
        kind: await rest.result(f"crm.{kind}.fields") for kind in ("lead", "company", "contact", "deal")
    }
    assert "ADDRESS_COUNTRY_CODE" in described["lead"]
    assert "ADDRESS_COUNTRY_CODE" in described["company"]
    assert "ADDRESS_COUNTRY_CODE" not in described["contact"]  # crm-contact-get.md's example
    assert described["company"]["LOGO"]["type"] == "file"
    assert described["company"]["LAST_COMMUNICATION_TIME"]["isReadOnly"] is True
    assert described["lead"]["DATE_CLOSED"] == described["lead"]["DATE_CLOSED"] | {
        "type": "datetime",
        "isReadOnly": True,
    }
    assert "SOURCE_ID" not in described["company"]
    assert all("SOURCE_ID" in described[kind] for kind in ("lead", "contact", "deal"))


@pytest.mark.parametrize(("kind", "type_id"), [("lead", 1), ("deal", 2), ("contact", 3), ("company", 4)])
async def test_get_fields_and_item_fields_describe_the_same_members(
    rest: Rest, kind: str, type_id: int
) -> None:
    row_id = await rest.result(f"crm.{kind}.add", {"fields": {"TITLE": "x", "NAME": "x"}})
    got = await rest.result(f"crm.{kind}.get", {"id": row_id})
    described = await rest.result(f"crm.{kind}.fields")
    assert got.keys() == described.keys() - _MULTI - _NOT_IN_GET
    item = (await rest.result("crm.item.get", {"entityTypeId": type_id, "id": row_id}))["item"]
    item_described = (await rest.result("crm.item.fields", {"entityTypeId": type_id}))["fields"]
    # Every described crm.item field is answered; the rest of the item are computed members.
    assert item_described.keys() <= item.keys()
    uppers = {entry["upperName"] for entry in item_described.values()}
    assert uppers <= described.keys() | {"OBSERVERS"}


async def _requisite(rest: Rest, **fields: Any) -> int:
    company = await rest.result("crm.company.add", {"fields": {"TITLE": "ООО Ромашка"}})
    base = {"ENTITY_TYPE_ID": 4, "ENTITY_ID": company, "PRESET_ID": 1, "NAME": "Организация"}
    requisite_id: int = await rest.result("crm.requisite.add", {"fields": base | fields})
    return requisite_id


async def test_a_requisite_answers_every_described_field(rest: Rest) -> None:
    sent = {"RQ_COMPANY_REG_DATE": "06.04.2007", "ADDRESS_ONLY": "Y", "RQ_INN": "7701234567"}
    requisite = await rest.result("crm.requisite.get", {"id": await _requisite(rest, **sent)})
    described = await rest.result("crm.requisite.fields")
    assert requisite.keys() == described.keys()
    assert {name: requisite[name] for name in sent} == sent
    assert (requisite["RQ_VAT_PAYER"], requisite["ACTIVE"], requisite["SORT"]) == ("N", "Y", "500")
    assert requisite["RQ_OKTMO"] is None
    assert requisite["CODE"] is None
    assert requisite["ORIGINATOR_ID"] is None
    # crm-requisite-get.md: a requisite never updated has an empty DATE_MODIFY and no MODIFY_BY_ID.
    assert (requisite["DATE_MODIFY"], requisite["MODIFY_BY_ID"]) == ("", None)
    assert described["RQ_IDENT_TYPE"]["type"] == "crm_status"
    assert described["RQ_VAT_PAYER"]["type"] == described["ADDRESS_ONLY"]["type"] == "char"


async def test_a_requisite_keeps_its_owner_and_preset_on_update(rest: Rest) -> None:
    requisite_id = await _requisite(rest)
    before = await rest.result("crm.requisite.get", {"id": requisite_id})
    other = await rest.result("crm.company.add", {"fields": {"TITLE": "Другая"}})
    change = {"ENTITY_ID": other, "PRESET_ID": 2, "RQ_KPP": "770101001"}
    assert await rest.result("crm.requisite.update", {"id": requisite_id, "fields": change}) is True
    after = await rest.result("crm.requisite.get", {"id": requisite_id})
    assert (after["ENTITY_ID"], after["PRESET_ID"]) == (before["ENTITY_ID"], before["PRESET_ID"])
    assert after["RQ_KPP"] == "770101001"
    assert after["DATE_MODIFY"] != ""
    assert after["MODIFY_BY_ID"] is not None
    described = await rest.result("crm.requisite.fields")
    immutable = {name for name, entry in described.items() if entry["isImmutable"]}
    assert immutable == {"ENTITY_TYPE_ID", "ENTITY_ID", "PRESET_ID"}
