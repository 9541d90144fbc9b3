"""Flows 6 and 8 end to end: a contact edited in the CRM, the same customer again, one field edited twice.

Its own stack (three sandboxes and obmen on loopback), with the default field policy (newest wins).
"""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from obmen.demo.activity import CUSTOMER, Activity, _first_offer, digits
from obmen.demo.stack import Tuning, running_stack

pytestmark = pytest.mark.slow

PHONE, EMAIL = "+7 495 111-22-33", "irina.smirnova@example.com"
#: The portal's changes reach obmen by its events only: a scan in the middle of flow 8's two edits
#: would let obmen see one without the other.
PUSHED = Tuning(b24_poll_every=600)


async def test_a_contact_edit_reaches_1c_with_the_next_order_and_the_customer_is_found_again(
    tmp_path: Path,
) -> None:
    async with (
        running_stack(tmp_path / "state", tuning=PUSHED) as stack,
        httpx.AsyncClient(timeout=60) as http,
    ):
        day = Activity(stack, http, timeout=60)
        await day.catalog()
        offer = _first_offer(await day.onec("GET", "/products"))
        await day.on_sale(offer)
        first = await day.order(offer)
        await day.sale_exchange(str(first["site"]["number"]))
        [contact] = await day.portal("crm.contact")

        # The manager adds a mobile phone and a second e-mail: obmen's counterparty keeps both old and new.
        base = await day.edit_contact(contact["ID"], PHONE, EMAIL)
        assert set(base["emails"]) == {CUSTOMER["email"], EMAIL}
        assert {digits(p) for p in base["phones"]} == {digits(CUSTOMER["phone"]), digits(PHONE)}

        # She orders again with her old phone and e-mail: her contact is found, nothing is duplicated.
        second = await day.order(offer)
        number = str(second["site"]["number"])
        assert [c["ID"] for c in await day.portal("crm.contact")] == [contact["ID"]]
        assert str(second["deal"]["CONTACT_ID"]) == str(contact["ID"])

        # 1C gets customers only inside order documents: the new order carries the edited contact.
        received = await day.onec_receives(number)
        assert EMAIL in received["contacts"], received
        assert digits(PHONE) in {digits(c) for c in received["contacts"]}, received
        await day.sale_exchange(number)
        orders = await day.onec("GET", "/orders")
        assert {o["counterparty"] for o in orders} == {received["id"]}
        # 1C sends the order back in its own words (no site, no delivery requisite): nothing is lost.
        await day.settled()
        base = (await day.timeline("order", f"bitrix24:{second['deal']['ID']}"))["base"]
        assert (base["site"], base["delivery"]["service"], len(base["lines"])) == ("s1", "Курьер", 1), base

        # Flow 8, default policy: the comment edited in the deal and on the site at once; the newer wins.
        deal_id, site_id = second["deal"]["ID"], second["site"]["id"]
        await day.quiet()
        kept = await day.both_edit_comment(deal_id, site_id, "Позвонить до обеда", "Оставить у консьержа")
        assert kept == "Оставить у консьержа"
        status = await day.obmen_status()
        assert status["conflicts"]["total"] == 0, status["conflicts"]
        assert status["parked"]["total"] == 0, status["parked"]
