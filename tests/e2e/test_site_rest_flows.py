"""The site in `rest` mode end to end: the three sandboxes and obmen on loopback, over real sockets.

A site order becomes a contact, a deal with its invoice and a 1C order, heard through the site's events; a
CRM stage change and 1C's shipment reach the site's order through REST; a change whose ping is lost is
caught by the next modification-date poll (docs/protocols/site-rest.md §6.2); a contact edited in the CRM
reaches 1C while the site's buyer, read only, keeps its own and never undoes it (§6.3).
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from obmen.demo.activity import CUSTOMER, Activity, _first_offer, digits
from obmen.demo.stack import DEMO, running_stack
from obmen.testing.site_rest import rest_stack

pytestmark = pytest.mark.slow


async def _offer(day: Activity) -> str:
    await day.catalog()
    products = await day.onec("GET", "/products")
    return _first_offer(products["products"] if isinstance(products, dict) else products)


async def _journal_triggers(day: Activity, site_id: Any) -> set[str]:
    timeline = (await day.http.get(f"{day.stack.obmen}/api/timeline/order/site:{site_id}")).json()
    return {str(event["trigger"]) for event in timeline["events"] if event.get("trigger")}


@pytest.mark.parametrize("events", ["webhook", "ping"])
async def test_a_site_order_reaches_the_crm_and_1c_and_their_changes_come_back_through_rest(
    tmp_path: Path, events: str
) -> None:
    # A long poll: whatever arrives within it came through the events.
    async with (
        rest_stack(tmp_path / "state", events=events, site_poll=60) as stack,
        httpx.AsyncClient(timeout=60) as http,
    ):
        day = Activity(stack, http, timeout=45)
        offer = await _offer(day)
        placed = await day.order(offer)
        number, site_id, deal = str(placed["site"]["number"]), placed["site"]["id"], placed["deal"]
        assert await day.invoice_of(deal["ID"])
        await day.sale_exchange(number)
        await day.stage_move(deal["ID"], number, site_id, "PREPARATION", "P")
        await day.onec_ships(number, site_id)
        await day.settled()
        order = await day.site("GET", f"/orders/{site_id}")
        assert order["shipped"] is True
        assert order["onec"].get("shipment_number")
        status = await day.obmen_status()
        assert status["parked"]["total"] == 0, [
            p.get("reason") or p.get("last_error") or p for p in status["parked"]["items"]
        ]
        assert "site:event" in await _journal_triggers(day, site_id)
        deals = [d for d in await day.portal("crm.deal") if number in str(d["TITLE"])]
        assert len(deals) == 1


async def test_a_change_whose_ping_is_lost_is_caught_by_the_next_poll(tmp_path: Path) -> None:
    async with (
        rest_stack(tmp_path / "state", events="ping", site_poll=2.0) as stack,
        httpx.AsyncClient(timeout=60) as http,
    ):
        day = Activity(stack, http, timeout=30)
        offer = await _offer(day)
        placed = await day.order(offer)
        site_id, number = placed["site"]["id"], str(placed["site"]["number"])
        await day.settled()
        # The next pings are lost on the way (no retries, docs/protocols/site-rest.md §4).
        await day.site("POST", "/events/faults", {"drop": 100})
        started = time.monotonic()
        await day.site("PATCH", f"/orders/{site_id}", {"status": "P"})

        async def deal_moved() -> bool:
            found = await day.deal_of(number)
            return bool(found and found["STAGE_ID"] == "PREPARATION")

        await day.until("poll", "the status reached the deal without its ping", deal_moved, started)
        log = await day.site("GET", "/events")
        assert log[-1]["status"] == "dropped"
        assert "site:poll" in await _journal_triggers(day, site_id)


async def _onec_contacts(day: Activity, http: httpx.AsyncClient) -> list[set[str]]:
    """Every 1C counterparty's contact information (phones as digits), read over its OData."""
    odata = day.stack.odata
    auth = (odata["odata_login"], odata["odata_password"])
    url = f"{odata['odata'].rstrip('/')}/Catalog_Контрагенты"
    rows = (await http.get(url, params={"$format": "json"}, auth=auth)).raise_for_status().json()["value"]
    return [
        {digits(c["Представление"]) or c["Представление"] for c in row.get("КонтактнаяИнформация") or []}
        for row in rows
    ]


async def test_a_crm_contact_edit_reaches_1c_and_the_sites_read_only_buyer_never_undoes_it(
    tmp_path: Path,
) -> None:
    phone, email = "+7 495 111-22-33", "irina.s@example.com"
    tuning = dataclasses.replace(DEMO, processes=False, extra_env={})
    async with (
        running_stack(tmp_path / "state", tuning=tuning) as stack,
        httpx.AsyncClient(timeout=60) as http,
    ):
        day = Activity(stack, http, timeout=45)
        offer = await _offer(day)
        first = await day.order(offer)
        await day.sale_exchange(str(first["site"]["number"]))
        contact = first["deal"]["CONTACT_ID"]
        await day.edit_contact(contact, phone, email)
        await day.settled()
        edited = {digits(phone), email}
        assert any(edited <= found for found in await _onec_contacts(day, http))

        # She orders again with her old phone and e-mail, and the shop edits the first order: the site
        # shows its buyer again and again, as before the edit.
        second = await day.order(offer)
        await day.site("PATCH", f"/orders/{first['site']['id']}", {"comment": "Позвонить заранее"})
        # Past the site's poll too (its events came first), so the buyer is read once more by it.
        await day.quiet(2 * tuning.site_poll)
        assert str(second["deal"]["CONTACT_ID"]) == str(contact)
        crm = await day.b24("crm.contact.get", {"id": contact})
        assert {digits(p["VALUE"]) for p in crm["PHONE"]} == {digits(CUSTOMER["phone"]), digits(phone)}
        assert {e["VALUE"] for e in crm["EMAIL"]} == {CUSTOMER["email"], email}
        assert any(edited <= found for found in await _onec_contacts(day, http))
        timeline = await day.timeline("counterparty", f"bitrix24:C{contact}")
        assert email in timeline["base"]["emails"]
        assert timeline["held"]["site"]["emails"] == [CUSTOMER["email"]], timeline["held"]
        to_site = [e for e in timeline["events"] if e.get("target_system") == "site"]
        assert to_site == [], to_site
        status = await day.obmen_status()
        assert status["parked"]["total"] == 0, [
            p.get("reason") or p.get("last_error") or p for p in status["parked"]["items"]
        ]


async def test_a_deal_built_in_the_crm_becomes_a_site_order_through_rest_and_reaches_1c(
    tmp_path: Path,
) -> None:
    async with rest_stack(tmp_path / "state") as stack, httpx.AsyncClient(timeout=60) as http:
        day = Activity(stack, http, timeout=45)
        offer = await _offer(day)
        # The deal, its contact and its product row are made in the CRM; the site order, its lines,
        # payment and shipment through the site's REST; 1C takes it with its next sale exchange.
        await day.crm_deal("", 990.0, offer)
        await day.settled()
        [order] = await day.site("GET", "/orders")
        assert [(i["offer"], i["quantity"], i["price"]) for i in order["items"]] == [(offer, "1", "990")]
        assert (order["total"], order["payment"]["system"], order["delivery"]["service"]) == (
            "990",
            "Счет",
            "Самовывоз",
        )
        # The site numbered the order; the deal's invoice learnt that number, and kept its own contact.
        [deal] = await day.portal("crm.deal")
        invoice = await day.invoice_of(deal["ID"])
        assert invoice is not None
        assert str(invoice["ACCOUNT_NUMBER"]) == order["number"]
        contacts = await day.portal("crm.contact")
        assert [c["NAME"] for c in contacts] == ["Олег"]
        assert str(deal["CONTACT_ID"]) == str(contacts[0]["ID"])
        status = await day.obmen_status()
        assert status["parked"]["total"] == 0, [p.get("reason") for p in status["parked"]["items"]]
        # Nothing was made twice: one site order, one deal, one 1C order.
        assert len(await day.site("GET", "/orders")) == 1
        onec = await day.onec("GET", "/orders")
        assert len(onec["orders"] if isinstance(onec, dict) else onec) == 1


async def test_a_crm_order_whose_basket_failed_is_finished_by_the_retry_not_made_twice(
    tmp_path: Path,
) -> None:
    async with rest_stack(tmp_path / "state") as stack, httpx.AsyncClient(timeout=60) as http:
        day = Activity(stack, http, timeout=60)
        offer = await _offer(day)
        # The site fails the first line's call, retries included: the order is made, its basket is not.
        fault = {"method": "sale.basketitem.add", "status": 500, "error": "INTERNAL_SERVER_ERROR", "times": 4}
        assert (await http.post(f"{stack.site}/_sandbox/rest/faults", json=fault)).status_code == 201
        await day.crm_deal("", 990.0, offer)
        await day.settled()
        orders = (await http.post(f"{stack.site_rest}sale.order.list", json={})).json()["result"]["orders"]
        assert len(orders) == 1
        assert str(orders[0]["xmlId"]).startswith("obmen:")
        calls = (await http.get(f"{stack.site}/_sandbox/rest/calls")).json()
        assert calls["sale.order.add"] == 1
        [order] = await day.site("GET", "/orders")
        assert [i["offer"] for i in order["items"]] == [offer]
        assert order["payment"]["system"] == "Счет"
        status = await day.obmen_status()
        assert status["parked"]["total"] == 0, [p.get("reason") for p in status["parked"]["items"]]
