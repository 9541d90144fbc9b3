"""The OData connector against the 1C sandbox over in-process HTTP (docs/protocols/onec.md §A1, §A2).

The sandbox answers as 1C's standard interface does; the connector reads the catalog, prices, stock and
orders from it, writes orders and customers, and finds changes with and without the extension.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal

import httpx
import pytest
from odata_rig import ROOT, Clock, control

from obmen.connectors.base import Change, Create, Update
from obmen.connectors.onec.odata.client import ODataClient
from obmen.connectors.onec.odata.connector import ODataConnector, origin_key
from obmen.errors import AuthError, PermanentError, TransientError
from obmen_sandbox.onec import OnecSandbox

STATUSES = {"НеСогласован": "N", "КОбеспечению": "P", "КОтгрузке": "D", "Закрыт": "F"}


@pytest.fixture
def sandbox() -> OnecSandbox:
    return OnecSandbox("http://obmen/exchange/1c", "1c", "secret")


def make(sandbox: OnecSandbox, *, extension: bool = False, password: str = "secret") -> ODataConnector:
    client = ODataClient(ROOT, "1c", password, transport=httpx.ASGITransport(app=sandbox.app))
    return ODataConnector(client, statuses=STATUSES, extension=extension, poll_every=5.0, clock=Clock())


@pytest.fixture
async def onec(sandbox: OnecSandbox) -> AsyncIterator[ODataConnector]:
    connector = make(sandbox)
    yield connector
    await connector.client.aclose()


async def all_ids(onec: ODataConnector, entity: str) -> list[str]:
    ids: list[str] = []
    cursor: str | None = None
    while True:
        page = await onec.scan(entity, cursor, 7)
        ids += page.external_ids
        if page.cursor is None:
            return ids
        cursor = page.cursor


async def test_the_catalog_reads_as_the_exchange_says_it(sandbox: OnecSandbox, onec: ODataConnector) -> None:
    base = sandbox.infobase
    assert sorted(await all_ids(onec, "offer")) == sorted(base.offers)
    assert sorted(await all_ids(onec, "category")) == sorted(base.groups)
    offer = next(o for o in base.offers.values() if "#" in o.id)
    found = await onec.fetch("offer", [offer.id, offer.product_id])
    # A product with characteristics has no offer of its own, as in 1C's offers.xml.
    assert set(found) == {offer.id}
    fields = found[offer.id].fields
    assert fields["name"] == offer.name
    assert fields["characteristics"] == [list(c) for c in offer.characteristics]
    retail = next(k for k, t in base.price_types.items() if t.name == "Розничная")
    assert fields["price"] == {"amount": str(offer.prices[retail]), "currency": "RUB"}
    assert Decimal(fields["quantity"]) == offer.total()
    # Every warehouse is listed, those at zero too (a balance table has no rows for them).
    assert {s["warehouse"]["id"] for s in fields["stock"]} == set(base.warehouses)
    product = (await onec.fetch("product", [offer.product_id]))[offer.product_id].fields
    assert product["categories"] == [{"$ref": "category", "id": base.products[offer.product_id].groups[0]}]
    kinds = await onec.fetch("price_type", list(base.price_types))
    assert {r.fields["name"] for r in kinds.values()} == {"Розничная", "Оптовая", "Закупочная"}


@pytest.mark.parametrize("extension", [False, True])
async def test_a_price_stock_and_name_edit_in_1c_are_found_as_keys(
    sandbox: OnecSandbox, extension: bool
) -> None:
    onec = make(sandbox, extension=extension)
    clock = onec.feed._clock
    assert isinstance(clock, Clock)
    first = await onec.changes(None, 1000)
    cursor = first.cursor
    while True:  # the extension's node starts with everything registered; the poll starts from now
        clock.now += 10
        page = await onec.changes(cursor, 1000)
        cursor = page.cursor
        if not page.changes:
            break
    offer = next(o for o in sandbox.infobase.offers.values() if "#" not in o.id)
    other = next(o for o in sandbox.infobase.offers.values() if "#" in o.id)
    key = offer.id.replace("#", "%23")
    await control(sandbox, "PATCH", f"/products/{key}", {"prices": {"Розничная": "777"}})
    await control(
        sandbox, "PATCH", f"/products/{other.id.replace('#', '%23')}", {"stock": {"Основной склад": 3}}
    )
    await control(sandbox, "PATCH", f"/products/{offer.product_id}", {"name": "Новое имя"})
    assert not (await onec.changes(cursor, 1000)).changes  # not due yet
    clock.now += 10
    page = await onec.changes(cursor, 1000)
    assert set(page.changes) >= {
        Change("offer", offer.id),
        Change("offer", other.id),
        Change("product", offer.product_id),
    }
    fields = (await onec.fetch("offer", [offer.id]))[offer.id].fields
    assert fields["price"]["amount"] == "777"
    assert fields["name"] == "Новое имя"
    clock.now += 10
    assert not (await onec.changes(page.cursor, 1000)).changes  # read, acknowledged, gone
    await onec.client.aclose()


async def test_an_order_and_its_customer_are_created_posted_and_changed(
    sandbox: OnecSandbox, onec: ODataConnector
) -> None:
    offer = next(o for o in sandbox.infobase.offers.values() if "#" in o.id)
    party = {
        "kind": "person",
        "name": "Ирина Смирнова",
        "phones": ["+79123456789"],
        "emails": ["irina@example.ru"],
        "requisites": None,
        "address": None,
    }
    [made] = await onec.write([Create("counterparty", "c1", party)])
    assert made.ok
    assert made.external_id == origin_key("counterparty", "c1")
    line = {
        "offer": {"$ref": "offer", "id": offer.id},
        "name": offer.name,
        "quantity": "2",
        "price": {"amount": "100", "currency": "RUB"},
        "discount": None,
        "vat_rate": None,
        "vat_included": True,
    }
    order = {
        "number": "17",
        "date": "2026-03-01T10:00:00",
        "status": "N",
        "customer": {"$ref": "counterparty", "id": made.external_id},
        "lines": [line, {**line, "quantity": "1"}],
        "total": {"amount": "600", "currency": "RUB"},
        "comment": "Позвонить",
        "external_numbers": [["site", "17"]],
        "cancelled": False,
    }
    [placed] = await onec.write([Create("order", "o1", order)])
    assert placed.ok, placed.error
    stored = sandbox.infobase.orders[str(placed.external_id)]
    assert (stored.posted, stored.number, len(stored.lines)) == (True, "17", 2)
    read = (await onec.fetch("order", [str(placed.external_id)]))[str(placed.external_id)].fields
    assert {k: read[k] for k in ("number", "status", "customer", "total", "comment", "cancelled")} == {
        k: order[k] for k in ("number", "status", "customer", "total", "comment", "cancelled")
    }
    assert read["lines"] == order["lines"]
    assert ["onec", stored.onec_number] in read["external_numbers"]
    # Finding it again by its key after a lost answer:
    assert set(await onec.find_by_origin("order", ["o1"])) == {"o1"}
    # The tabular part is sent whole: one line left means one line in 1C.
    [changed] = await onec.write([Update("order", str(placed.external_id), {"lines": [line], "status": "F"})])
    assert changed.ok, changed.error
    assert (len(stored.lines), stored.status, stored.posted) == (1, "Закрыт", True)
    # Changed in 1C since obmen read it: refused by If-Match, to be read again.
    await onec.fetch("order", [str(placed.external_id)])
    await control(sandbox, "PATCH", f"/orders/{stored.number}", {"status": "P"})
    [late] = await onec.write([Update("order", str(placed.external_id), {"comment": "x"})])
    assert isinstance(late.error, TransientError)


async def test_failures_map_into_obmens_errors(sandbox: OnecSandbox) -> None:
    wrong = make(sandbox, password="nope")
    with pytest.raises(AuthError):
        await wrong.fetch("product", list(sandbox.infobase.products)[:1])
    onec = make(sandbox)
    await control(sandbox, "PUT", "/odata", {"faults": [503]})
    found = await onec.fetch("product", list(sandbox.infobase.products)[:1])
    assert len(found) == 1  # the 503 was retried
    line = {
        "offer": {"$ref": "offer", "id": next(iter(sandbox.infobase.offers))},
        "name": "x",
        "quantity": "1",
        "price": {"amount": "1", "currency": "RUB"},
        "discount": None,
        "vat_rate": None,
        "vat_included": True,
    }
    [refused] = await onec.write(
        [Create("order", "o2", {"number": "1", "date": "2026-01-01T00:00:00", "lines": [line]})]
    )
    # No customer: 1C's posting fails; the order exists and is found again by its key.
    assert isinstance(refused.error, PermanentError)
    assert refused.external_id == origin_key("order", "o2")
    [unmapped] = await onec.write(
        [Create("order", "o3", {"number": "2", "date": "2026-01-01T00:00:00", "status": "Z"})]
    )
    assert isinstance(unmapped.error, PermanentError)
    assert "onec_odata_statuses" in str(unmapped.error)
    await wrong.client.aclose()
    await onec.client.aclose()
