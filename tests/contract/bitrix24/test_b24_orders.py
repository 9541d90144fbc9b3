"""An order as Bitrix24 holds it: a deal with rows plus its smart invoice, against the sandbox (ASGI)."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from b24_support import build_client, make_sandbox, rows

from obmen.config.mapping import PipelineMap
from obmen.connectors.base import Change, Create, Update
from obmen.connectors.bitrix24.client.rest import Bitrix24Client
from obmen.connectors.bitrix24.connector import Bitrix24Connector
from obmen.connectors.bitrix24.crm import connector as crm
from obmen.connectors.bitrix24.crm.orders import OrderMapping
from obmen.engine.context import Engine, EngineSettings
from obmen.engine.policy import Policy
from obmen.engine.scheduler import enqueue_changes, full_resync
from obmen.engine.worker import Worker, WorkerOptions
from obmen.store.database import Database
from obmen.testing.fakes import FakeSystem, ManualClock
from obmen_sandbox.bitrix24 import Bitrix24Sandbox
from obmen_sandbox.bitrix24.control import seed
from obmen_sandbox.bitrix24.registry import METHODS

MAPPING = OrderMapping(
    pipelines={
        "default": PipelineMap(status_to_stage={"N": "NEW", "P": "PREPARATION", "F": "WON", "C": "LOSE"}),
        "wholesale": PipelineMap(category_id=2, status_to_stage={"N": "NEW", "P": "EXECUTING"}),
    },
    sites={"opt": "wholesale"},
    delivery={"Курьер": "delivery-courier"},
)


def _money(amount: str) -> dict[str, str]:
    return {"amount": amount, "currency": "RUB"}


def _order(number: str, customer: str | None = None, **extra: Any) -> dict[str, Any]:
    return {
        "number": number,
        "site": "s1",
        "status": "N",
        "customer": {"$ref": "counterparty", "id": customer} if customer else None,
        "comment": None,
        "total": _money("3300"),
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
                "price": _money("200"),
                "discount": None,
                "vat_rate": "10",
                "vat_included": True,
            },
        ],
        "delivery": {"service": "Курьер", "price": _money("400"), "address": None},
        "payments": [{"system": "Картой онлайн", "amount": _money("3300"), "paid": False, "paid_at": None}],
        "cancelled": False,
        **extra,
    }


async def _delivery_product(client: Bitrix24Client) -> int:
    """The integrator's setup: a delivery section and its courier product (docs/protocols/bitrix24.md).

    See §5.7.
    """
    catalogs = (await client.call("catalog.catalog.list", {})).result["catalogs"]
    iblock = next(c["iblockId"] for c in catalogs if not c.get("productIblockId"))
    section = await client.call(
        "catalog.section.add", {"fields": {"iblockId": iblock, "name": "Доставка", "xmlId": "obmen-delivery"}}
    )
    product = await client.call(
        "catalog.product.add",
        {
            "fields": {
                "iblockId": iblock,
                "name": "Доставка курьером",
                "xmlId": "delivery-courier",
                "iblockSectionId": section.result["section"]["id"],
            }
        },
    )
    return int(product.result["element"]["id"])


def _owned(sandbox: Bitrix24Sandbox, owner: str, ident: int) -> list[dict[str, Any]]:
    found = [r for r in rows(sandbox, "crm.productrow") if (r["ownerType"], r["ownerId"]) == (owner, ident)]
    return sorted(found, key=lambda r: int(r["sort"]))


def _invoices(sandbox: Bitrix24Sandbox) -> list[dict[str, Any]]:
    return rows(sandbox, "crm.smart_invoice")


async def test_order_is_a_deal_with_rows_and_an_invoice_made_in_one_request() -> None:
    sandbox = make_sandbox()
    async with build_client(sandbox) as client:
        product = await _delivery_product(client)
        b24 = Bitrix24Connector(client, mapping=MAPPING)
        [party] = await b24.write([Create("counterparty", "c" * 32, {"kind": "person", "name": "Иван"})])
        [first] = await b24.write([Create("order", "1" * 32, _order("1001", party.external_id))])
        assert first.ok, first.error
        before = client.requests
        [made] = await b24.write([Create("order", "2" * 32, _order("1002", party.external_id))])
        assert made.ok, made.error
        assert client.requests == before + 1  # deal, its rows, the invoice and its rows: one batch
        deal = int(str(made.external_id))

        [invoice] = [i for i in _invoices(sandbox) if i["PARENT_ID_2"] == deal]
        assert invoice["STAGE_ID"].endswith(":N")  # unpaid
        assert (invoice["CONTACT_IDS"], invoice["ACCOUNT_NUMBER"]) == ([int(party.external_id[1:])], "1002")
        deal_rows, invoice_rows = _owned(sandbox, "D", deal), _owned(sandbox, "SI", invoice["ID"])
        same = ("productId", "productName", "price", "quantity", "discountSum", "taxRate")
        assert [[r[k] for k in same] for r in deal_rows] == [[r[k] for k in same] for r in invoice_rows]
        assert [r["taxRate"] for r in deal_rows] == [20.0, 10.0, None]
        assert (deal_rows[2]["productId"], deal_rows[2]["productName"]) == (product, "Доставка: Курьер")

        read = (await b24.fetch("order", [str(deal)]))[str(deal)]
        assert not read.incomplete
        assert {k: read.fields[k] for k in _order("1002")} == _order("1002", party.external_id)


class _InFlight(httpx.AsyncBaseTransport):
    """Counts the portal requests under way at once."""

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self.inner, self.now, self.most = inner, 0, 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.now += 1
        self.most = max(self.most, self.now)
        try:
            await asyncio.sleep(0.01)  # a portal takes its time: let the others start meanwhile
            return await self.inner.handle_async_request(request)
        finally:
            self.now -= 1


async def test_many_orders_go_out_as_batches_in_flight_together() -> None:
    sandbox = make_sandbox()
    transport = _InFlight(httpx.ASGITransport(sandbox.app))
    async with build_client(sandbox, transport=transport) as client:
        await _delivery_product(client)
        b24 = Bitrix24Connector(client, mapping=MAPPING)
        [party] = await b24.write([Create("counterparty", "c" * 32, {"kind": "person", "name": "Иван"})])
        await b24.write([Create("order", "0" * 32, _order("999", party.external_id))])  # the portal is probed
        transport.most, before = 0, client.requests
        ops = [Create("order", f"{n:032x}", _order(str(2000 + n), party.external_id)) for n in range(60)]
        made = await b24.write(ops)
    assert all(r.ok for r in made), [r.error for r in made if not r.ok][:3]
    # 60 orders × 4 commands = 240 commands: 5 batches, sent together (up to crm.PARALLEL at once).
    assert client.requests - before == 5
    assert transport.most == crm.PARALLEL
    deals = {int(str(r.external_id)) for r in made}
    assert len(deals) == 60
    assert {i["PARENT_ID_2"] for i in _invoices(sandbox)} >= deals


async def test_a_delivery_change_keeps_the_goods_rows_and_a_goods_change_keeps_the_delivery() -> None:
    sandbox = make_sandbox()
    async with build_client(sandbox) as client:
        await _delivery_product(client)
        b24 = Bitrix24Connector(client, mapping=MAPPING)
        [made] = await b24.write([Create("order", "3" * 32, _order("1003"))])
        deal = str(made.external_id)
        dearer = {"service": "Курьер", "price": _money("600"), "address": None}
        [moved] = await b24.write([Update("order", deal, {"delivery": dearer})])
        assert moved.op.fields == {"delivery": dearer}  # the result names the op the engine gave
        names = [r["productName"] for r in _owned(sandbox, "D", int(deal))]
        assert names == ["Кеды белые", "Шнурки", "Доставка: Курьер"]  # replace-all rows kept the goods
        assert _owned(sandbox, "D", int(deal))[2]["price"] == 600
        lines = _order("1003")["lines"][:1]
        await b24.write([Update("order", deal, {"lines": lines})])
        names = [r["productName"] for r in _owned(sandbox, "D", int(deal))]
        assert names == ["Кеды белые", "Доставка: Курьер"]


async def test_payment_in_the_crm_and_from_the_order_move_the_invoice() -> None:
    sandbox = make_sandbox()
    async with build_client(sandbox) as client:
        b24 = Bitrix24Connector(client, mapping=MAPPING)
        [a, b] = await b24.write([Create("order", f"{n:032x}", _order(f"10{n}")) for n in (1, 2)])
        deal_a, deal_b = str(a.external_id), str(b.external_id)
        inv_a = next(i for i in _invoices(sandbox) if str(i["PARENT_ID_2"]) == deal_a)

        # A manager marks the invoice paid in the CRM: the order reads as paid, for its amount.
        stage = inv_a["STAGE_ID"].split(":")[0] + ":P"
        await client.call(
            "crm.item.update", {"entityTypeId": 31, "id": inv_a["ID"], "fields": {"stageId": stage}}
        )
        [payment] = (await b24.fetch("order", [deal_a]))[deal_a].fields["payments"]
        assert payment == {"system": "Картой онлайн", "amount": _money("3300"), "paid": True, "paid_at": None}

        # The site says order b is paid: its invoice moves to the paid stage, the deal's rows stay.
        rows_before = _owned(sandbox, "D", int(deal_b))
        paid = [
            {
                "system": "Картой онлайн",
                "amount": _money("3300"),
                "paid": True,
                "paid_at": "2026-11-20T10:00:00",
            }
        ]
        [upd] = await b24.write([Update("order", deal_b, {"payments": paid})])
        assert upd.ok, upd.error
        inv_b = next(i for i in _invoices(sandbox) if str(i["PARENT_ID_2"]) == deal_b)
        assert inv_b["STAGE_ID"].endswith(":P")
        assert _owned(sandbox, "D", int(deal_b)) == rows_before
        assert (await b24.fetch("order", [deal_b]))[deal_b].fields["payments"] == paid


async def test_cancelled_reads_from_the_invoice_or_a_lost_deal() -> None:
    sandbox = make_sandbox()
    async with build_client(sandbox) as client:
        b24 = Bitrix24Connector(client, mapping=MAPPING)
        [a, b] = await b24.write([Create("order", f"{n:032x}", _order(f"20{n}")) for n in (1, 2)])
        deal_a, deal_b = str(a.external_id), str(b.external_id)
        [upd] = await b24.write([Update("order", deal_a, {"cancelled": True})])
        assert upd.ok, upd.error
        assert next(i for i in _invoices(sandbox) if str(i["PARENT_ID_2"]) == deal_a)["STAGE_ID"].endswith(
            ":D"
        )
        # A manager loses deal b in the CRM (a stage with failure semantics, docs/protocols/bitrix24.md §5.3).
        await client.call(
            "crm.item.update", {"entityTypeId": 2, "id": int(deal_b), "fields": {"stageId": "LOSE"}}
        )
        read = await b24.fetch("order", [deal_a, deal_b])
        assert (read[deal_a].fields["cancelled"], read[deal_b].fields["cancelled"]) == (True, True)
        # Both deals are in the lost stage now (obmen moved deal a there): it tells the cancellation,
        # not a status (docs/architecture.md §2.11), so neither deal votes on the status.
        deal = next(d for d in rows(sandbox, "crm.deal") if str(d["ID"]) == deal_a)
        assert deal["STAGE_ID"] == "LOSE"
        assert "status" not in read[deal_a].fields
        assert "status" not in read[deal_b].fields
        assert read[deal_b].unknown == {"status": "stage LOSE"}


async def test_a_lost_deal_moved_on_restores_its_order_and_a_cancelled_invoice_moved_last_cancels_it() -> (
    None
):
    # The deal and its invoice disagree: the one moved last tells (crm/orders.py `_cancelled`).
    sandbox = make_sandbox()
    async with build_client(sandbox) as client:
        b24 = Bitrix24Connector(client, mapping=MAPPING)
        [made] = await b24.write([Create("order", f"{7:032x}", _order("207"))])
        deal = str(made.external_id)
        [upd] = await b24.write([Update("order", deal, {"cancelled": True, "status": "N"})])
        assert upd.ok, upd.error
        invoice = next(i for i in _invoices(sandbox) if str(i["PARENT_ID_2"]) == deal)
        invoice_id, cancelled_stage = int(invoice["ID"]), str(invoice["STAGE_ID"])
        assert cancelled_stage.endswith(":D")

        async def move(type_id: int, ident: int, stage: str) -> None:
            sandbox.clock.advance(5)
            await client.call(
                "crm.item.update", {"entityTypeId": type_id, "id": ident, "fields": {"stageId": stage}}
            )

        await move(2, int(deal), "NEW")
        assert (await b24.fetch("order", [deal]))[deal].fields["cancelled"] is False
        await move(31, invoice_id, cancelled_stage.replace(":D", ":N"))
        await move(31, invoice_id, cancelled_stage)
        assert (await b24.fetch("order", [deal]))[deal].fields["cancelled"] is True


async def test_each_site_has_its_pipeline_and_a_deal_reads_through_its_own() -> None:
    sandbox = make_sandbox()
    seed(sandbox.portal, {"pipelines": [{"id": 2, "entityTypeId": 2, "name": "Опт"}]})
    async with build_client(sandbox) as client:
        b24 = Bitrix24Connector(client, mapping=MAPPING)
        made = await b24.write(
            [
                Create("order", "a" * 32, _order("301", status="P")),
                Create("order", "b" * 32, _order("302", status="P", site="opt")),
            ]
        )
        assert all(r.ok for r in made), [r.error for r in made]
        deals = {str(d["ID"]): d for d in rows(sandbox, "crm.deal")}
        retail, wholesale = (deals[str(r.external_id)] for r in made)
        assert (retail["CATEGORY_ID"], retail["STAGE_ID"]) == (0, "PREPARATION")
        assert (wholesale["CATEGORY_ID"], wholesale["STAGE_ID"]) == (2, "C2:EXECUTING")
        read = await b24.fetch("order", [str(r.external_id) for r in made])
        assert [read[str(r.external_id)].fields["status"] for r in made] == ["P", "P"]
        assert [read[str(r.external_id)].fields["site"] for r in made] == ["s1", "opt"]
        # An update maps the status through the deal's own pipeline, wherever the site points now.
        [upd] = await b24.write([Update("order", str(made[1].external_id), {"status": "N"})])
        assert upd.ok, upd.error
        assert {str(d["ID"]): d for d in rows(sandbox, "crm.deal")}[str(made[1].external_id)][
            "STAGE_ID"
        ] == "C2:NEW"


async def test_invoice_changes_name_their_order() -> None:
    sandbox = make_sandbox()
    async with build_client(sandbox) as client:
        b24 = Bitrix24Connector(client, mapping=MAPPING)
        [made] = await b24.write([Create("order", "d" * 32, _order("401"))])
        invoice = _invoices(sandbox)[0]["ID"]
        found = await b24.resolve_changes(
            [Change("invoice", str(invoice)), Change("invoice", "999"), Change("order", "7")]
        )
        assert found == [Change("order", str(made.external_id)), Change("order", "7")]


async def test_a_deal_made_in_the_crm_reads_incomplete_and_the_engine_gives_it_its_invoice(
    db: Database,
) -> None:
    sandbox = make_sandbox()
    clock = ManualClock()
    async with build_client(sandbox) as client:
        b24 = Bitrix24Connector(client, mapping=MAPPING)
        # A manager builds a deal with two rows in the CRM (issue 5, flow 5): no invoice, no number.
        added = await client.call(
            "crm.item.add",
            {"entityTypeId": 2, "fields": {"title": "Сделка", "stageId": "NEW", "currencyId": "RUB"}},
        )
        deal = str(added.result["item"]["id"])
        manual = [
            {"productName": "Мяч", "price": 900.0, "quantity": 2.0, "taxRate": 20.0, "taxIncluded": "Y"},
            {"productName": "Насос", "price": 300.0, "quantity": 1.0},
        ]
        await client.call(
            "crm.item.productrow.set", {"ownerType": "D", "ownerId": int(deal), "productRows": manual}
        )
        read = (await b24.fetch("order", [deal]))[deal]
        assert read.incomplete
        assert "payments" not in read.fields
        assert "number" not in read.fields

        site = FakeSystem("site", fields={"order": ["status", "lines", "comment", "total"]}, clock=clock)
        settings = EngineSettings(
            batch_size=50, lease_seconds=30, max_attempts=3, backoff_base=1, backoff_cap=10
        )
        engine = Engine(
            db=db,
            connectors={"bitrix24": b24, "site": site},
            policy=Policy.build({}),
            settings=settings,
            clock=clock,
        )
        await enqueue_changes(engine, "bitrix24", [Change("order", deal)], trigger="bitrix24:push")
        for _ in range(4):  # the order waits one round for its manager (a user) to be linked
            await Worker(engine, name="w", options=WorkerOptions(tenant_lease=False)).drain()
            clock.advance(60)

        [invoice] = _invoices(sandbox)
        assert str(invoice["PARENT_ID_2"]) == deal
        names = [r["productName"] for r in _owned(sandbox, "SI", invoice["ID"])]
        assert names == ["Мяч", "Насос"]
        (order,) = site.objects("order").values()
        assert [line["name"] for line in order["lines"]] == ["Мяч", "Насос"]
        assert not (await b24.fetch("order", [deal]))[deal].incomplete
        # Numbered after the deal, in a form no site order takes (orders are matched by number).
        assert (invoice["ACCOUNT_NUMBER"], (await b24.fetch("order", [deal]))[deal].fields["number"]) == (
            f"CRM-{deal}",
            f"CRM-{deal}",
        )

        # Complete now: another reconcile of everything writes nothing more anywhere.
        writes, stamp = len(site.writes()), rows(sandbox, "crm.deal")[0]["DATE_MODIFY"]
        await full_resync(engine)
        await Worker(engine, name="w", options=WorkerOptions(tenant_lease=False)).drain()
        assert (len(_invoices(sandbox)), len(site.writes())) == (1, writes)
        assert rows(sandbox, "crm.deal")[0]["DATE_MODIFY"] == stamp


async def test_on_a_portal_without_crm_item_new_orders_fall_back_to_legacy_deals(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # An old portal (docs/protocols/bitrix24.md §1.3): every crm.item.* method answers ERROR_METHOD_NOT_FOUND.
    for name in [n for n in METHODS if n.startswith("crm.item.")]:
        monkeypatch.delitem(METHODS, name)
    sandbox = make_sandbox()
    async with build_client(sandbox) as client:
        b24 = Bitrix24Connector(client, mapping=MAPPING)
        [made] = await b24.write([Create("order", "e" * 32, _order("501"))])
        assert made.ok, made.error
        assert b24.crm.legacy is True
        [deal] = rows(sandbox, "crm.deal")
        assert (str(deal["ID"]), deal["ORIGIN_ID"]) == (made.external_id, "e" * 32)
        assert [r["productName"] for r in _owned(sandbox, "D", deal["ID"])][-1] == "Доставка: Курьер"
        assert _invoices(sandbox) == []  # no smart invoices there, and none is missed
        read = (await b24.fetch("order", [str(made.external_id)]))[str(made.external_id)]
        assert not read.incomplete
        assert "payments" not in b24.capabilities.fields["order"]
