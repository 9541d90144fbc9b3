"""Orders made elsewhere (a CRM deal) become site orders through the REST (docs/protocols/site-rest.md §6.5):
the order, its lines, shipment and payment, stamped so that a retry after a crash finishes the same order."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

import httpx
from rest_support import OFFER, client_for, control, place, stocked_site

from obmen.connectors.base import Create, Update
from obmen.connectors.site.rest.connector import SiteRestConnector
from obmen.connectors.site.rest.creates import CrmOrders
from obmen.errors import PermanentError
from obmen.model import entities as canon
from obmen.model.base import EntityType, Money, Ref
from obmen.model.fields import to_fields
from obmen_sandbox.site import SiteSandbox

CID = "c0ffee"


def _rub(value: str) -> Money:
    return Money(Decimal(value), "RUB")


def deal_order() -> dict[str, Any]:
    """The canonical order of a deal built in the CRM, as the engine sends it to the site (no buyer)."""
    order = canon.Order(
        number="CRM-7",
        date=datetime(2026, 12, 2, 10, 0),
        status="N",
        site="s1",
        lines=(
            canon.OrderLine(
                offer=Ref(EntityType.OFFER, OFFER),
                name="Чайник, белый",
                quantity=Decimal(2),
                price=_rub("1450"),
                discount=_rub("100"),
                vat_rate=Decimal(20),
            ),
            canon.OrderLine(offer=None, name="Сборка", quantity=Decimal(1), price=_rub("200")),
        ),
        delivery=canon.Delivery(service="Доставка курьером", price=_rub("300")),
        payments=(canon.Payment(system="Счет", amount=_rub("3400")),),
        total=_rub("3400"),
        comment="из CRM",
    )
    fields = to_fields(order)
    for absent in ("customer", "responsible"):
        fields.pop(absent, None)
    return fields


async def _stand_in(site: SiteSandbox) -> CrmOrders:
    async with control(site) as http:
        reply = await http.post("/_sandbox/users", json={"name": "Из CRM", "email": "crm@shop.ru"})
    return CrmOrders(buyer=int(reply.json()["id"]), pay_system=3, delivery=2)


async def _orders(http: httpx.AsyncClient) -> list[dict[str, Any]]:
    return list((await http.get("/_sandbox/orders")).json())


async def test_a_create_makes_the_order_with_its_lines_shipment_payment_and_total() -> None:
    site = stocked_site()
    crm = await _stand_in(site)
    connector = SiteRestConnector(client_for(site), crm=crm)
    assert "order" in connector.capabilities.creates
    wanted = deal_order()
    [made] = await connector.write([Create("order", CID, wanted)])
    assert made.ok, made.error
    async with control(site) as http:
        [seen] = await _orders(http)
    assert (str(seen["id"]), seen["number"]) == (made.external_id, made.external_id)  # the site's number
    assert [(i["offer"], i["quantity"], i["price"], i["discount"]) for i in seen["items"]] == [
        (OFFER, "2", "1450", "50"),
        ("", "1", "200", "0"),
    ]
    assert seen["delivery"] == {"service": "Доставка курьером", "price": "300"}
    assert (seen["payment"], seen["total"], seen["comment"]) == (
        {"system": "Счет", "paid": False},
        "3400",
        "из CRM",
    )
    assert seen["customer"]["email"] == "crm@shop.ru"
    read = (await connector.fetch("order", [str(made.external_id)]))[str(made.external_id)]
    # It reads back as it was sent (nothing to write again), its buyer unknown: the stand-in is nobody's.
    assert (read.origin, read.incomplete) == (CID, False)
    assert "customer" not in read.fields
    assert set(read.unknown) == {"customer"}
    assert read.fields["lines"] == wanted["lines"]
    assert (read.fields["total"], read.fields["delivery"]) == (wanted["total"], wanted["delivery"])
    assert read.fields["number"] == made.external_id
    assert (await connector.find_by_origin("order", [CID]))[CID].external_id == made.external_id
    # The stand-in buyer is never read as a counterparty of their own.
    assert await connector.fetch("counterparty", [str(crm.buyer)]) == {}
    changes = await connector.changes(None, 100)
    polled = await connector.changes(changes.cursor, 100)
    assert ("counterparty", str(crm.buyer)) not in {(c.entity, c.external_id) for c in polled.changes}


async def test_a_create_stopped_after_the_order_is_finished_by_the_retry_not_made_twice() -> None:
    site = stocked_site()
    connector = SiteRestConnector(client_for(site), crm=await _stand_in(site))
    wanted = deal_order()
    async with control(site) as http:
        # The first line's call fails: the order is in, none of its parts (a crash between the two).
        fault = {"method": "sale.basketitem.add", "status": 400, "error": "0", "times": 1}
        assert (await http.post("/_sandbox/rest/faults", json=fault)).status_code == 201
        [crashed] = await connector.write([Create("order", CID, wanted)])
        assert not crashed.ok
        [draft] = await _orders(http)
        assert draft["items"] == []
        assert draft["payment"]["system"] == ""
        # The retry looks the order up by its stamp: a draft, whose parts are unknown, not empty.
        found = (await connector.find_by_origin("order", [CID]))[CID]
        assert (found.external_id, found.incomplete) == (str(draft["id"]), True)
        assert not {"lines", "payments", "total", "delivery", "number", "date"} & set(found.fields)
        # The engine writes an incomplete side again in full: the connector adds only what it lacks.
        [done] = await connector.write([Update("order", found.external_id, wanted)])
        assert done.ok, done.error
        [whole] = await _orders(http)
    assert whole["id"] == draft["id"]
    assert [i["name"] for i in whole["items"]] == ["Чайник, белый", "Сборка"]
    assert (whole["payment"]["system"], whole["total"]) == ("Счет", "3400")
    read = (await connector.fetch("order", [found.external_id]))[found.external_id]
    assert (read.incomplete, read.fields["lines"]) == (False, wanted["lines"])
    assert site.state.rest.calls["sale.order.add"] == 1


async def test_without_the_stand_in_settings_a_create_is_refused_naming_them() -> None:
    site = stocked_site()
    connector = SiteRestConnector(client_for(site))
    [refused] = await connector.write([Create("order", CID, deal_order())])
    assert isinstance(refused.error, PermanentError)
    assert "site.crm_buyer_id" in str(refused.error)
    async with control(site) as http:
        assert await _orders(http) == []
        # A site-born order's buyer is read as before.
        oid = await place(http)
    read = (await connector.fetch("order", [str(oid)]))[str(oid)]
    assert read.fields["customer"] is not None
    assert read.unknown == {}
