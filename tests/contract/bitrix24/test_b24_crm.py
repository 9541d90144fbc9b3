"""CRM entities through our connector against the sandbox: every entity round-trips, paging past 50."""

from __future__ import annotations

from typing import Any

import pytest
from b24_support import build_client, make_sandbox, rows

from obmen.config.mapping import PipelineMap
from obmen.connectors.base import ChangePage, Create, Update
from obmen.connectors.bitrix24.connector import Bitrix24Connector
from obmen.connectors.bitrix24.crm.orders import OrderMapping

PIPELINE = PipelineMap(status_to_stage={"N": "NEW", "P": "PREPARATION", "F": "WON"})
MAPPING = OrderMapping(pipelines={"default": PIPELINE})


def _cid(n: int) -> str:
    return f"{n:032x}"


def _money(amount: str) -> dict[str, str]:
    return {"amount": amount, "currency": "RUB"}


def _company(n: int) -> dict[str, Any]:
    return {
        "kind": "organization",
        "name": f"ООО Ромашка {n}",
        "phones": [f"+7900000{n:04d}"],
        "emails": [f"office{n}@romashka.ru"],
        "requisites": {
            "inn": "7707083893",
            "kpp": "773601001",
            "ogrn": None,
            "legal_address": None,
            "bank_account": None,
            "bik": None,
        },
        "comment": None,
    }


def _order(customer: str, user: str) -> dict[str, Any]:
    return {
        "number": "1001",
        "site": "s1",
        "payments": [{"system": "Наличные", "amount": _money("3480"), "paid": False, "paid_at": None}],
        "cancelled": False,
        "status": "P",
        "customer": {"$ref": "counterparty", "id": customer},
        "responsible": {"$ref": "user", "id": user},
        "comment": "Позвонить до 18:00",
        "total": _money("3480"),
        "lines": [
            {
                "offer": None,
                "name": "Кеды белые",
                "quantity": "2",
                "price": _money("1500"),
                "discount": _money("100"),
                "vat_rate": "20",
                "vat_included": True,
            },
            {
                "offer": None,
                "name": "Шнурки",
                "quantity": "1",
                "price": _money("280"),
                "discount": None,
                "vat_rate": None,
                "vat_included": True,
            },
        ],
        "delivery": {"service": "Курьер", "price": _money("400"), "address": None},
    }


@pytest.mark.parametrize("legacy", [False, True])
async def test_counterparties_and_orders_round_trip(legacy: bool) -> None:
    sandbox = make_sandbox()
    async with build_client(sandbox) as client:
        b24 = Bitrix24Connector(client, mapping=MAPPING)
        b24.crm.legacy = legacy
        person = {
            "kind": "person",
            "name": "Иван Петров",
            "phones": ["+79001234567"],
            "emails": ["ivan@example.ru"],
            "requisites": None,
            "comment": "VIP",
        }
        made = await b24.write(
            [Create("counterparty", _cid(1), _company(1)), Create("counterparty", _cid(2), person)]
        )
        assert [r.ok for r in made] == [True, True], [r.error for r in made]
        company, contact = (str(r.external_id) for r in made)
        assert (company[:2], contact[:1]) == ("CO", "C")
        parties = await b24.fetch("counterparty", [company, contact])
        assert parties[company].fields == _company(1)
        assert parties[contact].fields == person
        assert parties[contact].origin == _cid(2)

        [order] = await b24.write([Create("order", _cid(3), _order(company, "1"))])
        assert order.ok, order.error
        deal = (await b24.fetch("order", [str(order.external_id)]))[str(order.external_id)]
        assert deal.fields == {key: _order(company, "1")[key] for key in deal.fields}
        assert deal.origin == _cid(3)

        # The invoice came with the deal; a portal without crm.item has none to make (nor to lack).
        assert not deal.incomplete
        assert ("payments" in deal.fields, "number" in deal.fields) == (not legacy, not legacy)
        # …and says so: without invoices the portal does not carry them (their absence is not "emptied").
        assert ("payments" in b24.capabilities.fields["order"]) is not legacy

        changed = {"status": "F", "customer": {"$ref": "counterparty", "id": contact}, "lines": []}
        [upd] = await b24.write([Update("order", str(order.external_id), changed)])
        assert upd.ok, upd.error
        after = (await b24.fetch("order", [str(order.external_id)]))[str(order.external_id)].fields
        assert (after["status"], after["customer"], after["lines"]) == ("F", changed["customer"], [])

        phones = {"phones": ["+79007654321"], "emails": [], "name": "Иван Сидоров"}
        [p] = await b24.write([Update("counterparty", contact, phones)])
        assert p.ok, p.error
        got = (await b24.fetch("counterparty", [contact]))[contact].fields
        assert (got["phones"], got["emails"], got["name"]) == (["+79007654321"], [], "Иван Сидоров")
        assert await b24.find_by_origin("order", [_cid(3), _cid(99)]) == {
            _cid(3): (await b24.fetch("order", [str(order.external_id)]))[str(order.external_id)]
        }


async def test_leads_users_and_matching() -> None:
    sandbox = make_sandbox()
    async with build_client(sandbox) as client:
        b24 = Bitrix24Connector(client)
        lead = {
            "title": "Заявка с сайта",
            "name": "Анна",
            "phones": ["+79005550000"],
            "emails": ["anna@example.ru"],
            "comment": None,
            "source": "WEB",
        }
        [made] = await b24.write([Create("lead", _cid(5), lead)])
        assert made.ok, made.error
        assert (await b24.fetch("lead", [str(made.external_id)]))[str(made.external_id)].fields == lead
        assert await b24.match("lead", [("phones", "+79005550000")]) == {
            ("phones", "+79005550000"): made.external_id
        }
        users = await b24.fetch("user", ["1"])
        assert users["1"].fields["email"] == "admin@portal.test"
        assert await b24.match("user", [("email", "admin@portal.test")]) == {
            ("email", "admin@portal.test"): "1"
        }
        [refused] = await b24.write([Update("user", "1", {"name": "x"})])
        assert refused.error is not None
        [company] = await b24.write([Create("counterparty", _cid(6), _company(6))])
        hit = await b24.match("counterparty", [("emails", "office6@romashka.ru")])
        assert hit == {("emails", "office6@romashka.ru"): company.external_id}


async def test_paging_past_50_in_fetch_scan_and_changes() -> None:
    sandbox = make_sandbox()
    now = [0.0]
    async with build_client(sandbox) as client:
        b24 = Bitrix24Connector(client, poll_every=30.0, clock=lambda: now[0])
        ops = [Create("order", _cid(100 + n), {"status": "N", "comment": f"#{n}"}) for n in range(120)]
        made = await b24.write(ops)
        assert all(r.ok for r in made)
        ids = [str(r.external_id) for r in made]
        assert len(await b24.fetch("order", ids)) == 120
        scanned: list[str] = []
        cursor: str | None = None
        while True:
            page = await b24.scan("order", cursor, 500)
            scanned += page.external_ids
            cursor = page.cursor
            if cursor is None:
                break
        assert scanned == ids
        seen: list[str] = []
        cursor = None
        for _ in range(10):
            feed = await b24.changes(cursor, 500)
            seen += [c.external_id for c in feed.changes if c.entity == "order"]
            cursor = feed.cursor
            if not feed.more:
                break
        # Created within one frozen second: each feed walks that second by id, nothing twice; a deal
        # and its invoice both name the order, once per feed.
        assert list(dict.fromkeys(seen)) == ids
        assert all(seen.count(i) <= 2 for i in ids)
        before = client.requests
        assert (await b24.changes(cursor, 500)) == ChangePage([], cursor, more=False)
        assert client.requests == before  # read 30 s ago: the feed does not spend a request
        now[0] += 30
        assert (await b24.changes(cursor, 500)).changes == []
        assert client.requests == before + 1
        assert len(rows(sandbox, "crm.deal")) == 120
