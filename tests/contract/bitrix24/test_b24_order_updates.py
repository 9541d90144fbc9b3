"""Order updates write from the reconcile's own read (crm/trust.py), counted by the portal's request log."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
from b24_support import BASE, HOOK, build_client, make_sandbox, rows

from obmen.config.mapping import PipelineMap
from obmen.config.settings import Bitrix24Settings, Settings
from obmen.connectors.base import Change, Create, SetupContext, Update
from obmen.connectors.bitrix24.connector import Bitrix24Connector
from obmen.connectors.bitrix24.crm.orders import OrderMapping
from obmen.connectors.bitrix24.setup import Bitrix24Integration
from obmen.engine.context import Engine, EngineSettings
from obmen.engine.policy import Policy
from obmen.engine.scheduler import enqueue_changes
from obmen.engine.worker import Worker, WorkerOptions
from obmen.store.database import Database
from obmen.testing.fakes import FakeSystem, ManualClock
from obmen_sandbox.bitrix24 import Bitrix24Sandbox

MAPPING = OrderMapping(pipelines={"default": PipelineMap(status_to_stage={"N": "NEW", "P": "PREPARATION"})})


def _money(amount: str) -> dict[str, str]:
    return {"amount": amount, "currency": "RUB"}


def _line(name: str, price: str) -> dict[str, Any]:
    return {
        "offer": None,
        "name": name,
        "quantity": "1",
        "price": _money(price),
        "discount": None,
        "vat_rate": "20",
        "vat_included": True,
    }


def _order(number: str) -> dict[str, Any]:
    return {
        "number": number,
        "status": "N",
        "customer": None,
        "total": _money("1500"),
        "lines": [_line("Кеды", "1200")],
        "delivery": {"service": "Курьер", "price": _money("300"), "address": None},
        "payments": [{"system": "Картой", "amount": _money("1500"), "paid": False, "paid_at": None}],
        "cancelled": False,
    }


#: The stage moves, the goods change, the order is paid: every part of the order is written.
CHANGED: dict[str, Any] = {
    "status": "P",
    "lines": [_line("Кеды чёрные", "1300")],
    "payments": [{"system": "Картой", "amount": _money("1600"), "paid": True, "paid_at": None}],
}


class Log:
    """The portal's own log of the REST calls that reached it (`GET /_sandbox/requests`)."""

    def __init__(self, sandbox: Bitrix24Sandbox) -> None:
        self.http = httpx.AsyncClient(transport=httpx.ASGITransport(sandbox.app), base_url=BASE)
        self.seen = 0

    async def since(self) -> list[str]:
        """The methods called since the last look."""
        log = (await self.http.get("/_sandbox/requests")).json()
        methods = [r["method"] for r in log["requests"]][self.seen :]
        self.seen = log["total"]
        return methods


async def _orders(b24: Bitrix24Connector, count: int) -> list[str]:
    made = await b24.write([Create("order", f"{n + 1:032x}", _order(f"{100 + n}")) for n in range(count)])
    assert all(r.ok for r in made), [r.error for r in made]
    return [str(r.external_id) for r in made]


def _invoice_of(sandbox: Bitrix24Sandbox, deal: str) -> dict[str, Any]:
    return next(i for i in rows(sandbox, "crm.smart_invoice") if str(i["PARENT_ID_2"]) == deal)


def _rows_of(sandbox: Bitrix24Sandbox, owner: str, ident: Any) -> list[dict[str, Any]]:
    found = [
        r
        for r in rows(sandbox, "crm.productrow")
        if (r["ownerType"], str(r["ownerId"])) == (owner, str(ident))
    ]
    return sorted(found, key=lambda r: int(r["sort"]))


async def _probed(b24: Bitrix24Connector) -> None:
    """Learn the portal's facts once (`crm.item.*`, the invoice pipeline), as a running obmen has."""
    await b24.crm.legacy_deals()


async def test_an_update_after_the_reconcile_read_is_one_request_and_writes_every_part() -> None:
    sandbox = make_sandbox()
    async with build_client(sandbox) as client:
        b24 = Bitrix24Connector(client, mapping=MAPPING)
        await _probed(b24)
        [deal] = await _orders(b24, 1)
        await b24.fetch("order", [deal])  # the reconciler reads every side before it plans
        log = Log(sandbox)
        await log.since()
        [done] = await b24.write([Update("order", deal, CHANGED)])
        assert done.ok, done.error
        assert await log.since() == ["batch"]  # no read of its own: deal, rows, invoice, rows
        assert client.methods["crm.item.productrow.set"] == 4  # two at the create, two now

        read = (await b24.fetch("order", [deal]))[deal].fields
        assert (read["status"], read["lines"], read["payments"]) == (
            "P",
            CHANGED["lines"],
            CHANGED["payments"],
        )
        assert read["delivery"] == _order("")["delivery"]  # the delivery row was kept beside the goods
        invoice = _invoice_of(sandbox, deal)
        assert [r["productName"] for r in _rows_of(sandbox, "SI", invoice["ID"])] == [
            "Кеды чёрные",
            "Доставка: Курьер",
        ]


async def test_orders_just_written_update_without_a_read_in_full_batches() -> None:
    sandbox = make_sandbox()
    async with build_client(sandbox) as client:
        b24 = Bitrix24Connector(client, mapping=MAPPING)
        await _probed(b24)
        deals = await _orders(b24, 25)
        log = Log(sandbox)
        await log.since()
        done = await b24.write([Update("order", d, CHANGED) for d in deals])
        assert all(r.ok for r in done), [r.error for r in done]
        # 25 orders × 4 commands = 100 commands: two batches of 50, and no read (fast-bitrix24's blind
        # writes of the same take 2 × 25 / 50 per method = 4 requests at best).
        assert await log.since() == ["batch", "batch"]
        for deal in deals:
            assert _invoice_of(sandbox, deal)["STAGE_ID"].endswith(":P")
            assert [r["productName"] for r in _rows_of(sandbox, "D", deal)] == [
                "Кеды чёрные",
                "Доставка: Курьер",
            ]


async def test_rows_as_they_stand_are_not_set_again() -> None:
    sandbox = make_sandbox()
    async with build_client(sandbox) as client:
        b24 = Bitrix24Connector(client, mapping=MAPPING)
        [deal] = await _orders(b24, 1)
        whole = (await b24.fetch("order", [deal]))[deal].fields
        before = [r["id"] for r in _rows_of(sandbox, "D", deal)]
        sets = client.methods["crm.item.productrow.set"]
        # A caller that sends the whole order (a deal rewritten in full) with only the stage moved.
        [done] = await b24.write([Update("order", deal, {**whole, "status": "P"})])
        assert done.ok, done.error
        assert client.methods["crm.item.productrow.set"] == sets
        assert [r["id"] for r in _rows_of(sandbox, "D", deal)] == before  # set would give new ids
        assert (await b24.fetch("order", [deal]))[deal].fields["status"] == "P"


async def test_a_change_heard_since_the_read_is_read_again_and_not_overwritten() -> None:
    sandbox = make_sandbox()
    async with build_client(sandbox) as client:
        b24 = Bitrix24Connector(client, mapping=MAPPING)
        await _probed(b24)
        [deal] = await _orders(b24, 1)
        await b24.fetch("order", [deal])
        invoice = _invoice_of(sandbox, deal)
        # A manager cancels the invoice; its event reaches obmen before obmen's write goes out.
        async with httpx.AsyncClient(transport=httpx.ASGITransport(sandbox.app), base_url=BASE) as http:
            cancelled = invoice["STAGE_ID"].split(":")[0] + ":D"
            answer = await http.post(
                f"/rest/{HOOK}/crm.item.update.json",
                json={"entityTypeId": 31, "id": invoice["ID"], "fields": {"stageId": cancelled}},
            )
            assert answer.status_code == 200, answer.text
        assert await b24.resolve_changes([Change("invoice", str(invoice["ID"]))]) == [Change("order", deal)]
        log = Log(sandbox)
        await log.since()
        paid = {"payments": CHANGED["payments"]}
        [done] = await b24.write([Update("order", deal, paid)])
        assert done.ok, done.error
        assert len(await log.since()) == 2  # the deal and its invoice read again, then the write
        assert _invoice_of(sandbox, deal)["STAGE_ID"] == cancelled  # paid, and still cancelled


async def test_a_record_older_than_fresh_for_is_read_again() -> None:
    now = [0.0]
    sandbox = make_sandbox()
    async with build_client(sandbox) as client:
        b24 = Bitrix24Connector(client, mapping=MAPPING, fresh_for=30.0, clock=lambda: now[0])
        await _probed(b24)
        [deal] = await _orders(b24, 1)
        log = Log(sandbox)
        await log.since()
        now[0] += 31.0
        [done] = await b24.write([Update("order", deal, {"status": "P"})])
        assert done.ok, done.error
        assert len(await log.since()) == 2
        now[0] += 1.0  # the write's own answers are a fresh record again
        [done] = await b24.write([Update("order", deal, {"status": "N"})])
        assert done.ok, done.error
        assert await log.since() == ["batch"]


async def test_fresh_for_zero_reads_before_every_update() -> None:
    sandbox = make_sandbox()
    async with build_client(sandbox) as client:
        b24 = Bitrix24Connector(client, mapping=MAPPING, fresh_for=0.0)
        await _probed(b24)
        [deal] = await _orders(b24, 1)
        await b24.fetch("order", [deal])
        log = Log(sandbox)
        await log.since()
        [done] = await b24.write([Update("order", deal, {"status": "P"})])
        assert done.ok, done.error
        assert len(await log.since()) == 2


async def test_the_fresh_for_setting_reaches_the_connector(db: Database, tmp_path: Path) -> None:
    settings = Settings(
        state_dir=tmp_path,
        bitrix24=Bitrix24Settings(portal="portal.test", webhook_user=1, webhook_token="t", fresh_for=0),
    )
    ctx = SetupContext(
        db=db,
        tenant="default",
        state_dir=tmp_path,
        clock=lambda: 1000.0,
        wake=lambda: None,
        attach=lambda c: None,
    )
    connector = await Bitrix24Integration(settings, ctx)._connector()
    assert connector is not None
    try:
        assert connector.crm.seen.fresh_for == 0.0
    finally:
        await connector.client.aclose()


async def _through_the_engine(db: Database, fresh_for: float) -> tuple[list[str], dict[str, Any]]:
    """A site order made in Bitrix24 by the engine, then paid and changed on the site: the portal's
    requests of that second reconcile, and the order as Bitrix24 then reads."""
    sandbox = make_sandbox()
    clock = ManualClock()
    async with build_client(sandbox) as client:
        b24 = Bitrix24Connector(client, mapping=MAPPING, fresh_for=fresh_for)
        await _probed(b24)
        carried = ["number", "status", "total", "lines", "delivery", "payments", "cancelled"]
        site = FakeSystem("site", fields={"order": carried}, clock=clock)
        engine = Engine(
            db=db,
            connectors={"bitrix24": b24, "site": site},
            policy=Policy.build({}),
            tenant=f"fresh{fresh_for:g}",  # each run its own tenant of the one database
            settings=EngineSettings(batch_size=50, lease_seconds=30, max_attempts=3),
            clock=clock,
        )
        order = {k: v for k, v in _order("501").items() if k in carried}
        made = site.create("order", order)
        await enqueue_changes(engine, "site", [Change("order", made)], trigger="site:push")
        await Worker(engine, name="w", options=WorkerOptions(tenant_lease=False)).drain()
        [deal] = [str(i["ID"]) for i in rows(sandbox, "crm.deal")]

        clock.advance(60)  # the create's answers are old news: only the reconcile's read is fresh
        site.edit("order", made, **CHANGED)
        log = Log(sandbox)
        await log.since()
        await enqueue_changes(engine, "site", [Change("order", made)], trigger="site:push")
        await Worker(engine, name="w", options=WorkerOptions(tenant_lease=False)).drain()
        return await log.since(), dict((await b24.fetch("order", [deal]))[deal].fields)


async def test_the_reconcile_read_is_the_only_read_of_an_order_update(db: Database) -> None:
    trusted, state = await _through_the_engine(db, fresh_for=30.0)
    reading, same = await _through_the_engine(db, fresh_for=0.0)
    assert state == same
    assert (state["status"], state["lines"]) == ("P", CHANGED["lines"])
    assert (state["payments"], state["delivery"]) == (CHANGED["payments"], _order("")["delivery"])
    # Writing from the reconcile's read saves the read before the write (the deal and its invoice: one
    # batch) and the read of the rows kept beside the changed goods (deals, rows, invoices: three).
    assert len(reading) - len(trusted) == 4, (trusted, reading)


async def test_an_update_that_failed_forgets_the_deal_and_the_next_reads_it() -> None:
    sandbox = make_sandbox()
    async with build_client(sandbox) as client:
        b24 = Bitrix24Connector(client, mapping=MAPPING)
        await _probed(b24)
        [deal] = await _orders(b24, 1)
        assert b24.crm.seen.fresh(deal) is not None
        sandbox.portal.faults.overload = True  # support blocked REST: the write may or may not have landed
        [failed] = await b24.write([Update("order", deal, {"status": "P"})])
        assert not failed.ok
        assert b24.crm.seen.fresh(deal) is None
        sandbox.portal.faults.overload = False
        log = Log(sandbox)
        await log.since()
        [done] = await b24.write([Update("order", deal, {"status": "P"})])
        assert done.ok, done.error
        assert len(await log.since()) == 2  # read again, then written
