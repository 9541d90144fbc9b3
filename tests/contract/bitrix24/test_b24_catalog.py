"""The catalog through our connector against the sandbox: sections, products, variations, prices, stock."""

from __future__ import annotations

from typing import Any

import pytest
from b24_support import build_client, make_sandbox, rows

from obmen.connectors.base import Create, Update
from obmen.connectors.bitrix24.connector import Bitrix24Connector
from obmen_sandbox.bitrix24.catalog import set_store_control


def _cid(n: int) -> str:
    return f"{n:032x}"


def _price(amount: str) -> dict[str, Any]:
    return {"amount": amount, "currency": "RUB"}


async def test_sections_products_and_simple_offers_round_trip() -> None:
    sandbox = make_sandbox()
    async with build_client(sandbox) as client:
        b24 = Bitrix24Connector(client)
        root = {
            "name": "Обувь",
            "xml_id": "bd72d90d-55bc-11d9-848a-00112f43529a",
            "parent": None,
            "active": True,
        }
        [made] = await b24.write([Create("category", _cid(1), root)])
        assert made.ok, made.error
        child = {
            "name": "Кеды",
            "xml_id": None,
            "parent": {"$ref": "category", "id": made.external_id},
            "active": True,
        }
        [kid] = await b24.write([Create("category", _cid(2), child)])
        sections = await b24.fetch("category", [str(made.external_id), str(kid.external_id)])
        assert sections[str(kid.external_id)].fields == child
        assert sections[str(kid.external_id)].origin == _cid(2)
        assert sections[str(made.external_id)].fields == root

        product = {
            "name": "Кеды белые",
            "xml_id": None,
            "description": "Кожа",
            "categories": [{"$ref": "category", "id": kid.external_id}],
            "active": True,
        }
        [p] = await b24.write([Create("product", _cid(3), product)])
        assert p.ok, p.error
        assert (await b24.fetch("product", [str(p.external_id)]))[str(p.external_id)].fields == product
        offer = {
            "product": {"$ref": "product", "id": p.external_id},
            "price": _price("1990"),
            "quantity": "7",
        }
        [o] = await b24.write([Create("offer", _cid(4), offer)])
        assert (o.ok, o.external_id) == (True, p.external_id)  # a simple product is its own offer
        read = (await b24.fetch("offer", [str(o.external_id)]))[str(o.external_id)].fields
        assert (read["price"], read["quantity"]) == (offer["price"], offer["quantity"])
        [u] = await b24.write([Update("offer", str(o.external_id), {"price": _price("2490.5")})])
        assert u.ok, u.error
        read = (await b24.fetch("offer", [str(o.external_id)]))[str(o.external_id)].fields
        assert read["price"] == _price("2490.5")
        assert len([r for r in rows(sandbox, "catalog.price") if r["productId"] == int(p.external_id)]) == 1


async def test_a_repeated_create_finds_the_stamped_object_instead_of_duplicating() -> None:
    sandbox = make_sandbox()
    async with build_client(sandbox) as client:
        b24 = Bitrix24Connector(client)
        fields = {
            "name": "Мяч",
            "xml_id": "1c-guid-ball",
            "description": None,
            "categories": [],
            "active": True,
        }
        first = await b24.write([Create("product", _cid(5), fields)])
        again = await b24.write([Create("product", _cid(5), {**fields, "name": "Мяч футбольный"})])
        assert first[0].external_id == again[0].external_id
        names = [r["name"] for r in rows(sandbox, "catalog.product")]
        assert names == ["Мяч футбольный"]
        found = await b24.find_by_origin("product", [_cid(6)])
        assert found == {}
        matched = await b24.match("product", [("xml_id", "1c-guid-ball")])
        assert matched == {("xml_id", "1c-guid-ball"): first[0].external_id}


@pytest.mark.parametrize("inventory", [True, False])
async def test_variations_with_prices_and_stock(inventory: bool) -> None:
    sandbox = make_sandbox()
    set_store_control(sandbox.portal, inventory)
    async with build_client(sandbox) as client:
        b24 = Bitrix24Connector(client, variations=True)
        assert (await b24.catalog.info()).inventory is inventory
        parent = {"name": "Футболка", "xml_id": None, "description": None, "categories": [], "active": True}
        [p] = await b24.write([Create("product", _cid(7), parent)])
        assert p.ok, p.error
        sizes = [
            Create(
                "offer",
                _cid(10 + n),
                {
                    "product": {"$ref": "product", "id": p.external_id},
                    "name": f"Футболка {size}",
                    "xml_id": None,
                    "price": _price(str(900 + n)),
                    "quantity": str(n + 1),
                    "active": True,
                },
            )
            for n, size in enumerate(["S", "M", "L"])
        ]
        made = await b24.write(sizes)
        assert all(r.ok for r in made), [r.error for r in made]
        read = await b24.fetch("offer", [str(r.external_id) for r in made])
        for n, r in enumerate(made):
            got = read[str(r.external_id)].fields
            assert got["product"] == {"$ref": "product", "id": p.external_id}
            assert got["price"] == _price(str(900 + n))
            assert got["quantity"] == str(n + 1)
        assert read[str(made[0].external_id)].origin == _cid(10)
        # Down and up again: a disposal and a receipt when stock is kept by documents (§5.7).
        first = str(made[0].external_id)
        for quantity in ("0", "4"):
            [u] = await b24.write([Update("offer", first, {"quantity": quantity})])
            assert u.ok, u.error
            got = (await b24.fetch("offer", [first]))[first].fields
            assert got["quantity"] == quantity
        documents = rows(sandbox, "catalog.document")
        assert [d["docType"] for d in documents] == (["A", "A", "A", "D", "A"] if inventory else [])


async def _walk(b24: Bitrix24Connector, entity: str) -> list[str]:
    ids: list[str] = []
    cursor: str | None = None
    while True:
        page = await b24.scan(entity, cursor, 500)
        ids += page.external_ids
        cursor = page.cursor
        if cursor is None:
            return ids


async def test_scans_walk_past_50_and_read_the_dictionaries() -> None:
    sandbox = make_sandbox()
    async with build_client(sandbox) as client:
        b24 = Bitrix24Connector(client)
        ops = [
            Create("product", _cid(100 + n), {"name": f"p{n}", "xml_id": None, "active": True})
            for n in range(120)
        ]
        made = await b24.write(ops)
        assert [r.error for r in made if not r.ok] == []
        assert await _walk(b24, "product") == [str(r.external_id) for r in made]
        assert await _walk(b24, "offer") == [str(r.external_id) for r in made]  # simple: offer = product
        # One price and one quantity per offer: the portal's price types and stores are not synced objects.
        assert not b24.capabilities.carries("price_type")
        assert not b24.capabilities.carries("warehouse")
        assert await _walk(b24, "user") == ["1"]


async def test_a_section_is_renamed_and_a_repeated_create_of_it_becomes_an_update_that_lands() -> None:
    """`catalog.section.update` requires `iblockId` (docs/protocols/bitrix24.md §5.7); a create repeated
    after a crash finds the stamped section and updates it (found by the chaos run: it was refused 400)."""
    sandbox = make_sandbox()
    async with build_client(sandbox) as client:
        b24 = Bitrix24Connector(client)
        root = {"name": "Обувь", "xml_id": None, "parent": None, "active": True}
        [made] = await b24.write([Create("category", _cid(1), root)])
        assert made.ok, made.error
        [renamed] = await b24.write([Update("category", str(made.external_id), {"name": "Обувь и сумки"})])
        assert renamed.ok, renamed.error
        [again] = await b24.write([Create("category", _cid(1), {**root, "name": "Обувь, сумки"})])
        assert (again.ok, again.external_id) == (True, made.external_id), again.error
        assert [r["name"] for r in rows(sandbox, "catalog.section")] == ["Обувь, сумки"]


async def test_mapped_stores_get_their_stock_and_an_unmapped_store_keeps_its_own() -> None:
    # `[mapping] warehouses` names stores 2 and 3; store 1 (the portal's first) is no warehouse's.
    sandbox = make_sandbox()
    set_store_control(sandbox.portal, True)
    stores = sandbox.portal.table("catalog.store")
    for ident in (2, 3):
        stores.rows[ident] = {**stores.rows[1], "id": ident, "title": f"Склад {ident}", "code": f"s{ident}"}
    async with build_client(sandbox) as client:
        plain = Bitrix24Connector(client)
        product = {"name": "Мяч", "xml_id": None, "description": None, "categories": [], "active": True}
        [p] = await plain.write([Create("product", _cid(20), product)])
        offer = {"product": {"$ref": "product", "id": p.external_id}, "price": _price("10"), "quantity": "5"}
        [o] = await plain.write([Create("offer", _cid(21), offer)])
        assert o.ok, o.error
        ident = str(o.external_id)

        b24 = Bitrix24Connector(client, stores=(2, 3))
        for wanted in ([["2", "4"], ["3", "1"]], [["2", "0"], ["3", "6"]]):
            [u] = await b24.write([Update("offer", ident, {"store_stock": wanted, "quantity": "99"})])
            assert u.ok, u.error
            read = (await b24.fetch("offer", [ident]))[ident]
            assert read.fields["store_stock"] == wanted
            # The total over every store is not 1C's quantity: the portal does not vote on it.
            assert read.unknown == {"quantity": "kept per store"}
            amounts = {r["storeId"]: r["amount"] for r in rows(sandbox, "catalog.storeproduct")}
            assert amounts[1] == 5, amounts
            assert (amounts.get(2, 0), amounts.get(3, 0)) == tuple(float(q) for _, q in wanted)


async def test_without_inventory_management_mapped_stores_fold_into_the_quantity() -> None:
    sandbox = make_sandbox()
    async with build_client(sandbox) as client:
        b24 = Bitrix24Connector(client, stores=(1,))
        product = {"name": "Мяч", "xml_id": None, "description": None, "categories": [], "active": True}
        [p] = await b24.write([Create("product", _cid(22), product)])
        offer = {
            "product": {"$ref": "product", "id": p.external_id},
            "quantity": "7",
            "store_stock": [["1", "3"]],
        }
        [o] = await b24.write([Create("offer", _cid(23), offer)])
        assert o.ok, o.error
        read = (await b24.fetch("offer", [str(o.external_id)]))[str(o.external_id)]
        assert read.fields["quantity"] == "7"
        assert "store_stock" in read.unknown
