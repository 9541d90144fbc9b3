"""CRM objects: legacy strings vs crm.item typed camelCase, multi-fields, filters, stages (§5)."""

from __future__ import annotations

import httpx
from b24sandbox_support import HOOK, Rest

from obmen_sandbox.bitrix24 import Bitrix24Sandbox


async def test_legacy_get_answers_strings_and_item_get_typed_camel_case(rest: Rest) -> None:
    deal_id = await rest.result(
        "crm.deal.add",
        {
            "fields": {
                "TITLE": "Заказ 1",
                "OPPORTUNITY": "1500.5",
                "ORIGINATOR_ID": "site",
                "ORIGIN_ID": "A-1",
            }
        },
    )
    assert deal_id == 1
    legacy = await rest.result("crm.deal.get", {"id": deal_id})
    assert legacy["ID"] == "1"
    assert legacy["OPPORTUNITY"] == "1500.50"
    assert legacy["CATEGORY_ID"] == "0"
    assert (legacy["STAGE_ID"], legacy["STAGE_SEMANTIC_ID"], legacy["CLOSED"]) == ("NEW", "P", "N")
    assert (legacy["ORIGINATOR_ID"], legacy["ORIGIN_ID"]) == ("site", "A-1")
    item = (await rest.result("crm.item.get", {"entityTypeId": 2, "id": deal_id}))["item"]
    assert item["id"] == 1
    assert item["opportunity"] == 1500.5
    assert item["categoryId"] == 0
    assert (item["originatorId"], item["originId"]) == ("site", "A-1")
    assert item["createdTime"] == legacy["DATE_CREATE"]


async def test_legacy_errors_are_400_with_an_empty_code(rest: Rest) -> None:
    missing = await rest.raw("crm.deal.get", {"id": 404})
    assert (missing.status_code, missing.json()) == (400, {"error": "", "error_description": "Not found"})
    no_id = await rest.raw("crm.deal.update", {"fields": {"TITLE": "x"}})
    assert no_id.json()["error_description"] == "ID is not defined or invalid."
    bad_fields = await rest.raw("crm.deal.add", {"fields": "nope"})
    assert bad_fields.json() == {"error": "", "error_description": "Parameter 'fields' must be array."}


async def test_item_errors_have_codes(rest: Rest) -> None:
    old_invoice = await rest.raw("crm.item.list", {"entityTypeId": 5})
    assert (old_invoice.status_code, old_invoice.json()["error"]) == (400, "ENTITY_TYPE_NOT_SUPPORTED")
    missing = await rest.raw("crm.item.get", {"entityTypeId": 2, "id": 9})
    assert missing.json()["error"] == "NOT_FOUND"
    bad_filter = await rest.raw("crm.item.list", {"entityTypeId": 2, "filter": {"nonsense": 1}})
    assert bad_filter.json() == {
        "error": "INVALID_ARG_VALUE",
        "error_description": "Invalid filter: field 'nonsense' is not allowed in filter",
    }


async def test_item_delete_answers_an_empty_array(rest: Rest) -> None:
    await rest.call("crm.item.add", {"entityTypeId": 3, "fields": {"name": "A"}})
    body = await rest.call("crm.item.delete", {"entityTypeId": 3, "id": 1})
    assert body["result"] == []
    assert (await rest.raw("crm.contact.get", {"id": 1})).status_code == 400


async def test_multifield_update_appends_changes_and_deletes_by_id(rest: Rest) -> None:
    contact = await rest.result(
        "crm.contact.add",
        {"fields": {"NAME": "Иван", "PHONE": [{"VALUE": "111", "VALUE_TYPE": "WORK"}, {"VALUE": "222"}]}},
    )
    phones = (await rest.result("crm.contact.get", {"id": contact}))["PHONE"]
    assert [(p["ID"], p["VALUE"]) for p in phones] == [("1", "111"), ("2", "222")]
    await rest.call(
        "crm.contact.update",
        {
            "id": contact,
            "fields": {
                "PHONE": [
                    {"ID": 1, "DELETE": "Y"},
                    {"ID": 2, "VALUE": "333", "VALUE_TYPE": "MOBILE"},
                    {"VALUE": "444", "VALUE_TYPE": "HOME"},
                ],
                "EMAIL": [{"VALUE": "a@b.test"}],
            },
        },
    )
    got = await rest.result("crm.contact.get", {"id": contact})
    assert [(p["ID"], p["VALUE"], p["VALUE_TYPE"]) for p in got["PHONE"]] == [
        ("2", "333", "MOBILE"),
        ("3", "444", "HOME"),
    ]
    assert got["EMAIL"][0]["VALUE"] == "a@b.test"
    assert got["HAS_EMAIL"] == "Y"
    # An item with only an ID deletes it too; unmentioned items stay.
    await rest.call("crm.contact.update", {"id": contact, "fields": {"PHONE": [{"ID": 3}]}})
    assert [p["ID"] for p in (await rest.result("crm.contact.get", {"id": contact}))["PHONE"]] == ["2"]


async def test_item_fm_update_uses_keys_and_needs_type_id(rest: Rest) -> None:
    added = await rest.result(
        "crm.item.add",
        {
            "entityTypeId": 3,
            "fields": {"name": "A", "fm": [{"typeId": "PHONE", "valueType": "WORK", "value": "1"}]},
        },
    )
    item_id = added["item"]["id"]
    assert added["item"]["fm"][0]["value"] == "1"
    await rest.call(
        "crm.item.update",
        {
            "entityTypeId": 3,
            "id": item_id,
            "fields": {"fm": {"1": {"value": ""}, "n0": {"typeId": "EMAIL", "value": "x@y.test"}}},
        },
    )
    fm = (await rest.result("crm.item.get", {"entityTypeId": 3, "id": item_id}))["item"]["fm"]
    # {"value": ""} without typeId is silently ignored (§5.4).
    assert sorted(i["value"] for i in fm) == ["1", "x@y.test"]
    await rest.call(
        "crm.item.update",
        {"entityTypeId": 3, "id": item_id, "fields": {"fm": {"1": {"typeId": "PHONE", "value": ""}}}},
    )
    fm = (await rest.result("crm.item.get", {"entityTypeId": 3, "id": item_id}))["item"]["fm"]
    assert [i["value"] for i in fm] == ["x@y.test"]


async def test_filter_operators_and_order(rest: Rest) -> None:
    for title, amount, user in (
        ("alpha", 100, 1),
        ("beta", 5000, 2),
        ("gamma", 20000, 3),
        ("Alpine", 15000, 6),
    ):
        await rest.call(
            "crm.deal.add", {"fields": {"TITLE": title, "OPPORTUNITY": amount, "ASSIGNED_BY_ID": user}}
        )

    async def titles(where: dict[str, object], order: dict[str, str] | None = None) -> list[str]:
        rows = await rest.result(
            "crm.deal.list", {"filter": where, "order": order or {"ID": "ASC"}, "select": ["TITLE"]}
        )
        return [r["TITLE"] for r in rows]

    assert await titles({">OPPORTUNITY": 5000}) == ["gamma", "Alpine"]
    assert await titles({">=OPPORTUNITY": 5000, "<=OPPORTUNITY": 15000}) == ["beta", "Alpine"]
    assert await titles({"@ASSIGNED_BY_ID": [1, 6]}) == ["alpha", "Alpine"]
    assert await titles({"!@ASSIGNED_BY_ID": [1, 6]}) == ["beta", "gamma"]
    assert await titles({"%TITLE": "lp"}) == ["alpha", "Alpine"]
    assert await titles({"=%TITLE": "al%"}) == ["alpha", "Alpine"]
    assert await titles({"!TITLE": "beta"}) == ["alpha", "gamma", "Alpine"]
    assert await titles({}, {"OPPORTUNITY": "DESC"}) == ["gamma", "Alpine", "beta", "alpha"]
    items = await rest.result(
        "crm.item.list",
        {
            "entityTypeId": 2,
            "filter": {"0": {"logic": "OR", "0": {"title": "beta"}, "1": {">opportunity": 16000}}},
        },
    )
    assert [i["title"] for i in items["items"]] == ["beta", "gamma"]


async def test_form_encoded_filter_with_encoded_operators(http: httpx.AsyncClient, rest: Rest) -> None:
    await rest.call("crm.deal.add", {"fields": {"TITLE": "a", "OPPORTUNITY": 10}})
    await rest.call("crm.deal.add", {"fields": {"TITLE": "b", "OPPORTUNITY": 20}})
    response = await http.post(
        f"/rest/{HOOK}/crm.deal.list", data={"filter[>=OPPORTUNITY]": "15", "select[]": ["ID", "TITLE"]}
    )
    assert response.json()["result"] == [{"ID": "2", "TITLE": "b"}]


async def test_select_star_omits_multifields_unless_named(rest: Rest) -> None:
    await rest.call("crm.contact.add", {"fields": {"NAME": "A", "PHONE": [{"VALUE": "1"}]}})
    plain = (await rest.result("crm.contact.list", {"select": ["*"]}))[0]
    assert "PHONE" not in plain
    named = (await rest.result("crm.contact.list", {"select": ["ID", "PHONE"]}))[0]
    assert named["PHONE"][0]["VALUE"] == "1"
    assert set(named) == {"ID", "PHONE"}


async def test_contact_ids_are_replaced_on_update(rest: Rest) -> None:
    for name in ("a", "b", "c"):
        await rest.call("crm.contact.add", {"fields": {"NAME": name}})
    deal = await rest.result("crm.deal.add", {"fields": {"CONTACT_IDS": [1, 2]}})
    item = (await rest.result("crm.item.get", {"entityTypeId": 2, "id": deal}))["item"]
    assert (item["contactId"], item["contactIds"]) == (1, [1, 2])
    await rest.call("crm.deal.update", {"id": deal, "fields": {"CONTACT_IDS": [3]}})
    item = (await rest.result("crm.item.get", {"entityTypeId": 2, "id": deal}))["item"]
    assert (item["contactId"], item["contactIds"]) == (3, [3])


async def test_stage_semantics_and_other_pipelines(rest: Rest, sandbox: Bitrix24Sandbox) -> None:
    sandbox.seed({"pipelines": [{"entityTypeId": 2, "id": 3, "name": "Опт"}]})
    deal = await rest.result("crm.deal.add", {"fields": {"CATEGORY_ID": 3, "STAGE_ID": "C3:NEW"}})
    await rest.call("crm.deal.update", {"id": deal, "fields": {"STAGE_ID": "C3:WON"}})
    got = await rest.result("crm.deal.get", {"id": deal})
    assert (got["STAGE_ID"], got["STAGE_SEMANTIC_ID"], got["CLOSED"]) == ("C3:WON", "S", "Y")
    categories = await rest.result("crm.category.list", {"entityTypeId": 2})
    assert [(c["id"], c["isDefault"]) for c in categories["categories"]] == [(0, "Y"), (3, "N")]
    stages = await rest.result(
        "crm.status.list", {"filter": {"ENTITY_ID": "DEAL_STAGE_3"}, "order": {"SORT": "ASC"}}
    )
    assert stages[0]["STATUS_ID"] == "C3:NEW"
    assert [s["STATUS_ID"] for s in stages if s["SEMANTICS"] == "S"] == ["C3:WON"]
    assert stages[0]["EXTRA"]["SEMANTICS"] == "process"
    types = {t["ID"]: t for t in await rest.result("crm.status.entity.types")}
    assert types["DEAL_STAGE_3"]["PREFIX"] == "C3"
    assert types["SMART_INVOICE_STAGE_1"]["SEMANTIC_INFO"]["FINAL_SUCCESS_FIELD"] == "DT31_1:P"


async def test_smart_invoice_stages_and_parent_deal(rest: Rest) -> None:
    deal = await rest.result("crm.deal.add", {"fields": {"TITLE": "d"}})
    invoice = (
        await rest.result(
            "crm.item.add", {"entityTypeId": 31, "fields": {"title": "Счёт", "parentId2": deal}}
        )
    )["item"]
    assert (invoice["stageId"], invoice["categoryId"], invoice["parentId2"]) == ("DT31_1:N", 1, deal)
    moved = await rest.result(
        "crm.item.update", {"entityTypeId": 31, "id": invoice["id"], "fields": {"stageId": "DT31_1:P"}}
    )
    assert (moved["item"]["stageSemanticId"], moved["item"]["previousStageId"]) == ("S", "DT31_1:N")
    listed = await rest.result("crm.item.list", {"entityTypeId": 31, "filter": {"parentId2": deal}})
    assert [i["id"] for i in listed["items"]] == [invoice["id"]]


async def test_use_original_uf_names(rest: Rest) -> None:
    added = await rest.result(
        "crm.item.add", {"entityTypeId": 2, "useOriginalUfNames": "Y", "fields": {"UF_CRM_1_ORDER": "A-7"}}
    )
    assert added["item"]["UF_CRM_1_ORDER"] == "A-7"
    camel = await rest.result("crm.item.get", {"entityTypeId": 2, "id": added["item"]["id"]})
    assert camel["item"]["ufCrm_1_ORDER"] == "A-7"
    legacy = await rest.result("crm.deal.get", {"id": added["item"]["id"]})
    assert legacy["UF_CRM_1_ORDER"] == "A-7"


async def test_fields_describe_types(rest: Rest) -> None:
    legacy = await rest.result("crm.deal.fields")
    assert legacy["STAGE_ID"]["type"] == "crm_status"
    assert legacy["ID"]["isReadOnly"] is True
    item = await rest.result("crm.item.fields", {"entityTypeId": 2})
    assert item["fields"]["assignedById"]["upperName"] == "ASSIGNED_BY_ID"


async def test_duplicates_by_phone_and_email(rest: Rest) -> None:
    await rest.call("crm.contact.add", {"fields": {"NAME": "a", "PHONE": [{"VALUE": "+7 (900) 123-45-67"}]}})
    await rest.call("crm.company.add", {"fields": {"TITLE": "c", "EMAIL": [{"VALUE": "Sales@Firm.test"}]}})
    by_phone = await rest.result("crm.duplicate.findbycomm", {"type": "PHONE", "values": ["89001234567"]})
    assert by_phone == {"CONTACT": [1]}
    by_mail = await rest.result("crm.duplicate.findbycomm", {"type": "EMAIL", "values": ["sales@firm.test"]})
    assert by_mail == {"COMPANY": [1]}
    nothing = await rest.call("crm.duplicate.findbycomm", {"type": "EMAIL", "values": ["no@one.test"]})
    assert nothing["result"] == []
    untyped = await rest.raw("crm.duplicate.findbycomm", {"values": ["x"]})
    assert untyped.json() == {
        "error": "Communication type is not defined",
        "error_description": "Parameter 'type' is required.",
    }


async def test_requisites(rest: Rest) -> None:
    company = await rest.result("crm.company.add", {"fields": {"TITLE": "ООО Ромашка"}})
    presets = await rest.result("crm.requisite.preset.list")
    assert presets[0]["NAME"] == "Организация"
    bad = await rest.raw(
        "crm.requisite.add", {"fields": {"ENTITY_TYPE_ID": 4, "ENTITY_ID": 99, "PRESET_ID": 1, "NAME": "x"}}
    )
    assert bad.status_code == 400
    req = await rest.result(
        "crm.requisite.add",
        {
            "fields": {
                "ENTITY_TYPE_ID": 4,
                "ENTITY_ID": company,
                "PRESET_ID": 1,
                "NAME": "Реквизиты",
                "RQ_INN": "7701234567",
            }
        },
    )
    found = await rest.result(
        "crm.requisite.list", {"filter": {"RQ_INN": "7701234567"}, "select": ["ID", "ENTITY_ID"]}
    )
    assert found == [{"ID": str(req), "ENTITY_ID": str(company)}]
    await rest.call("crm.requisite.update", {"id": req, "fields": {"RQ_KPP": "770101001"}})
    assert (await rest.result("crm.requisite.get", {"id": req}))["RQ_KPP"] == "770101001"
    assert await rest.result("crm.requisite.delete", {"id": req}) is True


async def test_users(rest: Rest, sandbox: Bitrix24Sandbox) -> None:
    sandbox.seed(
        {"users": [{"NAME": "Мария", "EMAIL": "m@portal.test"}, {"NAME": "Уволен", "ACTIVE": False}]}
    )
    current = await rest.result("user.current")
    assert current["ID"] == "1"
    active = await rest.result("user.get", {"FILTER": {"ACTIVE": True}})
    assert [u["NAME"] for u in active] == ["Админ", "Мария"]
    by_mail = await rest.result("user.get", {"FILTER": {"EMAIL": "m@portal.test"}})
    assert by_mail[0]["ID"] == "2"


async def test_date_filters_compare_instants_across_offsets(rest: Rest, sandbox: Bitrix24Sandbox) -> None:
    await rest.call("crm.deal.add", {"fields": {"TITLE": "old"}})  # 2026-05-28T23:26:40+03:00
    sandbox.clock.advance(3600)
    await rest.call("crm.deal.add", {"fields": {"TITLE": "new"}})
    since = {">DATE_MODIFY": "2026-05-28T21:00:00+00:00", "<=DATE_MODIFY": "2026-05-29T01:00:00"}
    assert [
        d["TITLE"] for d in await rest.result("crm.deal.list", {"filter": since, "select": ["TITLE"]})
    ] == ["new"]
    items = await rest.result("crm.item.list", {"entityTypeId": 2, "filter": {">=updatedTime": "2026-05-28"}})
    assert len(items["items"]) == 2


async def test_keyset_scan_with_start_minus_one(rest: Rest) -> None:
    await rest.call("batch", {"cmd": {f"c{n}": f"crm.contact.add?fields[NAME]=n{n}" for n in range(50)}})
    await rest.call("batch", {"cmd": {f"c{n}": f"crm.contact.add?fields[NAME]=m{n}" for n in range(30)}})
    seen: list[str] = []
    last = 0
    while True:
        body = await rest.call(
            "crm.contact.list",
            {"order": {"ID": "ASC"}, "filter": {">ID": last}, "select": ["ID"], "start": -1},
        )
        assert (body["total"], "next" in body) == (0, False)
        seen += [row["ID"] for row in body["result"]]
        if len(body["result"]) < 50:
            break
        last = int(body["result"][-1]["ID"])
    assert seen == [str(n) for n in range(1, 81)]


async def test_deal_contact_items(rest: Rest) -> None:
    for name in ("a", "b", "c"):
        await rest.call("crm.contact.add", {"fields": {"NAME": name}})
    deal = await rest.result("crm.deal.add", {"fields": {"CONTACT_ID": 1}})
    items = [{"CONTACT_ID": 2, "SORT": 20}, {"CONTACT_ID": 3, "SORT": 10, "IS_PRIMARY": "Y"}]
    assert await rest.result("crm.deal.contact.items.set", {"id": deal, "items": items}) is True
    got = await rest.result("crm.deal.contact.items.get", {"id": deal})
    assert [(i["CONTACT_ID"], i["IS_PRIMARY"]) for i in got] == [(3, "Y"), (2, "N")]
    assert (await rest.result("crm.deal.get", {"id": deal}))["CONTACT_ID"] == "3"
    await rest.call("crm.deal.contact.add", {"id": deal, "fields": {"CONTACT_ID": 1}})
    await rest.call("crm.deal.contact.delete", {"id": deal, "fields": {"CONTACT_ID": 3}})
    got = await rest.result("crm.deal.contact.items.get", {"id": deal})
    assert [i["CONTACT_ID"] for i in got] == [2, 1]
    bad = await rest.raw("crm.deal.contact.add", {"id": deal, "fields": {"CONTACT_ID": 99}})
    assert bad.status_code == 400
