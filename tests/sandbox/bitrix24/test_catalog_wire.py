"""Catalog methods on the wire: form bodies, error envelopes, `batch` chaining, offline events."""

from __future__ import annotations

from collections.abc import AsyncIterator
from urllib.parse import quote

import pytest
from catalog_fixtures import Api, open_api

from obmen_sandbox.bitrix24.catalog import PRODUCT_IBLOCK


@pytest.fixture
async def api() -> AsyncIterator[Api]:
    async with open_api() as client:
        yield client


async def test_form_body_in_bracket_notation_is_typed(api: Api) -> None:
    body = (
        f"fields[iblockId]={PRODUCT_IBLOCK}&fields[name]={quote('Чайник & чашка')}&fields[quantity]=5"
        "&fields[active]=N&fields[vatIncluded]=Y&fields[sort]=10"
    )
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    response = await api.raw("catalog.product.add", content=body, headers=headers)
    assert response.status_code == 200
    element = response.json()["result"]["element"]
    assert (element["iblockId"], element["name"], element["quantity"], element["sort"]) == (
        PRODUCT_IBLOCK,
        "Чайник & чашка",
        5,
        10,
    )
    assert (element["active"], element["vatIncluded"], element["type"]) == ("N", "Y", 1)


async def test_errors_are_http_400_with_the_documented_code(api: Api) -> None:
    response = await api.raw("catalog.section.get", json={"id": 404})
    assert response.status_code == 400
    assert response.json() == {"error": "200700300030", "error_description": "Section is not exists"}
    response = await api.raw(
        "catalog.product.list", json={"select": ["id"], "filter": {"iblockId": PRODUCT_IBLOCK}}
    )
    assert response.status_code == 400
    assert response.json()["error"] == "0"


async def test_list_envelope_has_total_and_next(api: Api) -> None:
    for n in range(51):
        await api("catalog.section.add", fields={"iblockId": PRODUCT_IBLOCK, "name": f"s{n}"})
    body = (await api.raw("catalog.section.list", json={"filter": {"iblockId": PRODUCT_IBLOCK}})).json()
    assert (len(body["result"]["sections"]), body["total"], body["next"]) == (50, 51, 50)
    body = (
        await api.raw("catalog.section.list", json={"filter": {"iblockId": PRODUCT_IBLOCK}, "start": -1})
    ).json()
    assert (len(body["result"]["sections"]), body["total"], "next" in body) == (50, 0, False)


async def test_batch_chains_catalog_commands(api: Api) -> None:
    cmd = {
        "section": f"catalog.section.add?fields[iblockId]={PRODUCT_IBLOCK}&fields[name]=Root",
        "product": (
            f"catalog.product.add?fields[iblockId]={PRODUCT_IBLOCK}&fields[name]=A"
            "&fields[iblockSectionId]=$result[section][section][id]"
        ),
        "prices": (
            "catalog.price.modify?fields[product][id]=$result[product][element][id]"
            "&fields[product][prices][0][catalogGroupId]=1&fields[product][prices][0][price]=10"
            "&fields[product][prices][0][currency]=RUB"
        ),
        "listed": (
            f"catalog.product.list?select[]=id&select[]=iblockId&select[]=iblockSectionId&filter[iblockId]={PRODUCT_IBLOCK}"
        ),
        "missing": "catalog.section.get?id=999",
    }
    answer = await api("batch", halt=0, cmd=cmd)
    results = answer.result["result"]
    section_id = results["section"]["section"]["id"]
    assert results["product"]["element"]["iblockSectionId"] == section_id
    assert results["prices"]["prices"][0]["price"] == 10
    assert results["listed"]["products"] == [
        {"id": results["product"]["element"]["id"], "iblockId": PRODUCT_IBLOCK, "iblockSectionId": section_id}
    ]
    assert answer.result["result_total"]["listed"] == 1
    assert answer.result["result_error"]["missing"]["error"] == "200700300030"


async def test_product_changes_reach_an_offline_queue(api: Api) -> None:
    app = api.sandbox.install_app()
    token = app["access_token"]
    bound = await api.http.post(
        "/rest/event.bind.json",
        json={"auth": token, "event": "CATALOG.PRODUCT.ON.ADD", "event_type": "offline"},
    )
    assert bound.status_code == 200, bound.text
    added = await api("catalog.product.add", fields={"iblockId": PRODUCT_IBLOCK, "name": "x"})
    queued = await api.http.post("/rest/event.offline.get.json", json={"auth": token})
    (event,) = queued.json()["result"]["events"]
    assert event["EVENT_NAME"] == "CATALOG.PRODUCT.ON.ADD"
    assert event["EVENT_DATA"]["FIELDS"] == {"ID": added.result["element"]["id"], "TYPE": 1}
