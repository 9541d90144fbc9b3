"""obmen as 1C toward a site: the client and the driver against the site sandbox over real sockets.

The sandbox (`obmen_sandbox.site`) is written from the protocol reference, not from this client. What
matters: the catalog arrives whole (zipped or not, in chunks), orders are stored before the site is
told `success`, documents change the site's orders, and a run that fails midway is sent again without
duplicating anything.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Iterator
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
import uvicorn
from lxml import etree

from obmen.connectors.base import Create, Update
from obmen.connectors.mirrored.ingest import Absorbed, MirrorIngest
from obmen.connectors.onec.backend import onec_endpoint
from obmen.connectors.onec.connector import onec_connector
from obmen.connectors.site.client import ExchangeRefused, Session, SiteExchange
from obmen.connectors.site.connector import SiteMirrored, site_connector
from obmen.connectors.site.driver import SiteDriver, site_driver
from obmen.engine.context import Engine
from obmen.engine.policy import Policy
from obmen.engine.worker import Worker, WorkerOptions
from obmen.errors import TransientError
from obmen.model import entities as canon
from obmen.model.base import EntityType, Money, Ref
from obmen.model.fields import to_fields
from obmen.store import mirror
from obmen.store.database import Database
from obmen.store.keeper import Leases
from obmen.store.mirror import MirrorStore
from obmen.store.status import read_status
from obmen.store.tables import outbox, work_items
from obmen.testing.fakes import ManualClock
from obmen.web.app import create_app
from obmen_sandbox.onec import OnecSandbox
from obmen_sandbox.serving import free_port, serve_in_thread
from obmen_sandbox.site import EXCHANGE_PATH, SiteSandbox

SMALL = Path(__file__).resolve().parents[1] / "fixtures" / "commerceml" / "ut11-small-2.07"
CATALOG_ID = "b21db898-7f82-46d8-a5ca-7c4f1d200a13"  # the fixture's `Каталог/Ид`
T, S = "default", "site"
CUSTOMER = {"name": "Иван Петров", "email": "ivan@example.ru", "phone": "+79001234567"}


@pytest.fixture
def sandbox() -> SiteSandbox:
    return SiteSandbox("obmen", "pw", file_limit=8192, portion=10)


@pytest.fixture
def url(sandbox: SiteSandbox) -> Iterator[str]:
    with serve_in_thread(sandbox.app) as base:
        yield base


@pytest.fixture
async def control(url: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=f"{url}/_sandbox") as http:
        yield http


@pytest.fixture
async def client(url: str) -> AsyncIterator[SiteExchange]:
    exchange = SiteExchange(url + EXCHANGE_PATH, "obmen", "pw", timeout=10)
    yield exchange
    await exchange.aclose()


class Stack:
    def __init__(self, db: Database, client: SiteExchange) -> None:
        self.db = db
        self.clock = ManualClock()
        self.ingest = MirrorIngest(db, T, S, clock=self.clock)
        self.driver = SiteDriver(client, self.ingest, catalog_id=CATALOG_ID)
        self.site: SiteMirrored = site_connector(MirrorStore(db, T, S, clock=self.clock))

    async def mirrored(self, entity: str) -> dict[str, mirror.MirrorRow]:
        async with self.db.begin() as conn:
            ids = await mirror.scan(conn, T, S, entity, None, 1000)
            return await mirror.read(conn, T, S, entity, ids)

    async def queued(self) -> list[str]:
        async with self.db.begin() as conn:
            return sorted((await conn.execute(sa.select(work_items.c.key))).scalars())

    async def pending(self) -> int:
        async with self.db.begin() as conn:
            query = sa.select(sa.func.count()).where(outbox.c.version > outbox.c.acked_version)
            return int((await conn.execute(query)).scalar_one())


@pytest.fixture
async def stack(db: Database, client: SiteExchange) -> Stack:
    return Stack(db, client)


def fixture_files() -> dict[str, Any]:
    return {"import0_1.xml": SMALL / "import0_1.xml", "offers0_1.xml": SMALL / "offers0_1.xml"}


async def site_products(control: httpx.AsyncClient) -> list[dict[str, Any]]:
    page = (await control.get("/products", params={"limit": 500})).json()
    return list(page["items"] if "items" in page else page["products"])


async def an_offer(control: httpx.AsyncClient) -> str:
    for product in await site_products(control):
        for offer in product["offers"]:
            if offer["prices"]:
                return str(offer["xml_id"])
    raise AssertionError("no offer with a price")


async def place_order(control: httpx.AsyncClient, offer: str) -> dict[str, Any]:
    body = {
        "customer": CUSTOMER,
        "items": [{"offer": offer, "quantity": 2}],
        "delivery": {"service": "Курьер", "price": 300},
        "payment": {"system": "Наличные", "paid": False},
    }
    reply = await control.post("/orders", json=body)
    assert reply.status_code == 201, reply.text
    return dict(reply.json())


def attached_offers() -> int:
    def ids(path: Path, tag: str) -> list[str]:
        tree = etree.parse(str(path))
        return [str(e.findtext("{*}Ид")) for e in tree.iter(f"{{*}}{tag}")]

    products = set(ids(SMALL / "import0_1.xml", "Товар"))
    return sum(x.partition("#")[0] in products for x in ids(SMALL / "offers0_1.xml", "Предложение"))


def file_calls(log: list[dict[str, Any]]) -> int:
    return sum(1 for entry in log if entry.get("mode") == "file")


@pytest.mark.parametrize("zipped", [True, False])
async def test_the_catalog_arrives_whole_in_chunks(
    url: str, control: httpx.AsyncClient, zipped: bool
) -> None:
    exchange = SiteExchange(url + EXCHANGE_PATH, "obmen", "pw", zip=zipped)
    summaries = await exchange.push_catalog(fixture_files(), full=True)
    await exchange.aclose()
    products = await site_products(control)
    assert len(products) == 36
    # 8 of the fixture's 44 offers name products its import file does not have: only 36 attach.
    assert sum(len(p["offers"]) for p in products) == attached_offers() == 36
    assert "Деактивация" in summaries[-1]
    log = (await control.get("/log")).json()
    size = sum(path.stat().st_size for path in fixture_files().values())
    # Chunks of at most file_limit (8 KiB): a zip is smaller than the files, but still several chunks.
    assert file_calls(log) > 1 if zipped else file_calls(log) >= size // 8192
    assert any("Распаковка" in step for step in exchange.stats.steps) is zipped


async def test_orders_are_stored_before_the_site_hears_success(
    stack: Stack, client: SiteExchange, control: httpx.AsyncClient
) -> None:
    await client.push_catalog(fixture_files())
    offer = await an_offer(control)
    first, second = await place_order(control, offer), await place_order(control, offer)
    pulled = await stack.driver.pull()
    assert pulled.seen == {"counterparty": 2, "order": 2}
    orders = await stack.mirrored("order")
    assert sorted(orders) == sorted(str(o["id"]) for o in (first, second))
    order = orders[str(first["id"])].fields
    assert order["number"] == first["number"]
    assert order["lines"][0]["offer"] == {"$ref": "offer", "id": offer}
    assert order["delivery"]["service"] == "Курьер"
    # Bitrix's buyer `Ид` is `USER_ID#LOGIN#NAME`; only the user id survives a rename.
    assert order["customer"]["id"].isdigit()
    assert sorted(await stack.mirrored("counterparty")) == [order["customer"]["id"]]
    assert sum(k.startswith("order@site:") for k in await stack.queued()) == 2
    assert (await control.get(f"/orders/{first['id']}")).json()["exported"] is True
    assert (await stack.driver.pull()).seen == {}


class Failing(MirrorIngest):
    async def absorb(self, records: Any, *, trigger: str) -> Absorbed:
        raise TransientError("the store is down")


async def test_orders_not_stored_are_offered_again(
    stack: Stack, client: SiteExchange, control: httpx.AsyncClient
) -> None:
    await client.push_catalog(fixture_files())
    placed = await place_order(control, await an_offer(control))
    broken = SiteDriver(client, Failing(stack.db, T, S), catalog_id=CATALOG_ID)
    with pytest.raises(TransientError):
        await broken.pull()
    assert (await control.get(f"/orders/{placed['id']}")).json()["exported"] is False
    assert (await stack.driver.pull()).seen["order"] == 1


async def pulled_order(stack: Stack, client: SiteExchange, control: httpx.AsyncClient) -> dict[str, Any]:
    await client.push_catalog(fixture_files())
    placed = await place_order(control, await an_offer(control))
    await stack.driver.pull()
    return placed


async def test_documents_carry_status_and_payment_to_the_site(
    stack: Stack, client: SiteExchange, control: httpx.AsyncClient
) -> None:
    placed = await pulled_order(stack, client, control)
    order_id = str(placed["id"])
    current = (await stack.mirrored("order"))[order_id].fields
    paid = [{**current["payments"][0], "paid": True, "paid_at": "2024-05-02T10:00:00"}]
    numbers = [*current["external_numbers"], ["onec", "УТ-000777"]]
    [result] = await stack.site.write(
        [Update("order", order_id, {"status": "P", "payments": paid, "external_numbers": numbers})]
    )
    assert result.ok, result.error
    pushed, acknowledged = await stack.driver.push()
    assert (pushed, acknowledged) == ({"order": 1}, 1)
    seen = (await control.get(f"/orders/{order_id}")).json()
    assert (seen["status"], seen["payment"]["paid"], seen["onec"]["number"]) == ("P", True, "УТ-000777")
    assert await stack.pending() == 0
    # The site does not export back what 1C (here: obmen) changed last.
    assert (await stack.driver.pull()).seen == {}


async def test_a_site_edit_made_while_a_status_waits_in_the_outbox_survives_the_push(
    stack: Stack, client: SiteExchange, control: httpx.AsyncClient
) -> None:
    placed = await pulled_order(stack, client, control)
    order_id = str(placed["id"])
    stack.clock.advance(1)
    [result] = await stack.site.write([Update("order", order_id, {"status": "P"})])  # a stage moved
    assert result.ok, result.error
    stack.clock.advance(1)
    # The shop's manager notes something on the site before obmen's next exchange collects the status.
    note = {"comment": "Позвонить перед доставкой", "paid": True}
    assert (await control.patch(f"/orders/{order_id}", json=note)).is_success
    stack.clock.advance(1)
    await stack.driver.pull()
    # What the engine reads of the site: its edit, and the status that is on its way (not a revert to
    # the old status, which a merge would take for the site's newest word and send to the CRM).
    view = (await stack.site.fetch("order", [order_id]))[order_id].fields
    assert (view["status"], view["comment"]) == ("P", note["comment"])
    await stack.driver.push()
    seen = (await control.get(f"/orders/{order_id}")).json()
    # The document is rebuilt on the pulled order: the status arrives and the site's edit stays.
    assert (seen["status"], seen["comment"], seen["payment"]["paid"]) == ("P", note["comment"], True)


def catalog_creates() -> list[Create]:
    price_type = canon.PriceType(name="Розничная", xml_id="pt-retail")
    product = canon.Product(name="Коврик obmen", xml_id="prod-obmen-1", article="OB-1")
    offer = canon.Offer(
        product=Ref(EntityType.PRODUCT, "prod-obmen-1"),
        name="Коврик obmen",
        xml_id="prod-obmen-1",
        prices=(canon.Price(price_type=Ref(EntityType.PRICE_TYPE, "pt-retail"), value=Money(Decimal(990))),),
    )
    return [
        Create("price_type", "cid-pt", to_fields(price_type)),
        Create("product", "cid-prod", to_fields(product)),
        Create("offer", "cid-offer", to_fields(offer)),
    ]


async def test_catalog_changes_from_the_outbox_reach_the_site(
    stack: Stack, client: SiteExchange, control: httpx.AsyncClient
) -> None:
    await client.push_catalog(fixture_files())
    results = await stack.site.write(catalog_creates())
    # Created on the site under their 1C `Ид`, never under obmen's canonical id.
    assert [r.external_id for r in results] == ["pt-retail", "prod-obmen-1", "prod-obmen-1"]
    pushed, _ = await stack.driver.push()
    assert pushed == {"price_type": 1, "product": 1, "offer": 1}
    product = (await control.get("/products", params={"xml_id": "prod-obmen-1"})).json()
    assert product["name"] == "Коврик obmen"
    assert [Decimal(v) for v in product["offers"][0]["prices"].values()] == [Decimal(990)]
    # A change-only push retires nothing the site already had.
    assert sum(p["active"] for p in await site_products(control)) == 36


async def test_a_push_that_fails_midway_is_sent_again_without_duplicates(
    stack: Stack, client: SiteExchange, control: httpx.AsyncClient
) -> None:
    placed = await pulled_order(stack, client, control)
    await stack.site.write(catalog_creates())
    await stack.site.write([Update("order", str(placed["id"]), {"status": "F"})])
    fault = {"kind": "fail_import_step", "type": "catalog", "step": 2}
    assert (await control.post("/faults", json=fault)).status_code == 201
    with pytest.raises(ExchangeRefused, match="injected"):
        await stack.driver.push()
    assert await stack.pending() == 4
    await control.post("/faults", json={"kind": "status", "status": 503, "type": "sale", "mode": "file"})
    with pytest.raises(TransientError, match="503"):
        await stack.driver.push()
    assert await stack.pending() == 4
    pushed, acknowledged = await stack.driver.push()
    assert (sum(pushed.values()), acknowledged) == (4, 4)
    products = await site_products(control)
    assert len(products) == 37
    assert sum(p["xml_id"] == "prod-obmen-1" for p in products) == 1
    orders = (await control.get("/orders")).json()
    assert [(o["id"], o["status"]) for o in orders] == [(placed["id"], "F")]


async def test_an_order_placed_elsewhere_appears_on_the_site_once(db: Database) -> None:
    # The site creates orders born in 1C only when configured to (1C_IMPORT_NEW_ORDERS, §2.7).
    sandbox = SiteSandbox("obmen", "pw", import_new_orders=True)
    with serve_in_thread(sandbox.app) as base:
        client = SiteExchange(base + EXCHANGE_PATH, "obmen", "pw", timeout=10)
        async with httpx.AsyncClient(base_url=f"{base}/_sandbox") as control:
            stack = Stack(db, client)
            await client.push_catalog(fixture_files())
            offer = await an_offer(control)
            person = canon.Counterparty(kind="person", name="Пётр Сидоров", emails=("petr@example.ru",))
            line = canon.OrderLine(
                offer=Ref(EntityType.OFFER, offer), name="x", quantity=Decimal(1), price=Money(Decimal(100))
            )
            order = canon.Order(
                number="CRM-5",
                date=datetime(2024, 5, 1, 9, 0),
                status="N",
                customer=Ref(EntityType.COUNTERPARTY, "cid-cp"),
                lines=(line,),
                total=Money(Decimal(100)),
            )
            ops = [
                Create("counterparty", "cid-cp", to_fields(person)),
                Create("order", "cid-o", to_fields(order)),
            ]
            assert all(r.ok for r in await stack.site.write(ops))
            # The site imports the document, then its `complete` answer is lost: not acknowledged.
            fault = {"kind": "status", "status": 503, "type": "sale", "mode": "complete"}
            await control.post("/faults", json=fault)
            with pytest.raises(TransientError):
                await stack.driver.push()
            assert await stack.pending() == 2
            await stack.driver.push()
            assert await stack.pending() == 0
            orders = (await control.get("/orders")).json()
            assert [(o["number"], o["external"]) for o in orders] == [("CRM-5", True)]
            # Bitrix never exports an order born in 1C (`EXTERNAL_ORDER`, §1.7), even after a site edit.
            patched = await control.patch(f"/orders/{orders[0]['id']}", json={"status": "F"})
            assert patched.status_code == 200, patched.text
            assert (await stack.driver.pull()).seen == {}
        await client.aclose()


async def test_a_round_pulls_then_pushes(db: Database, url: str, control: httpx.AsyncClient) -> None:
    driver = site_driver(db, url=url + EXCHANGE_PATH, login="obmen", password="pw", catalog_id=CATALOG_ID)
    await driver.client.push_catalog(fixture_files())
    placed = await place_order(control, await an_offer(control))
    first = await driver.tick()
    assert (first.pulled.seen, first.pushed) == ({"counterparty": 1, "order": 1}, {})
    connector = site_connector(MirrorStore(db, T, S, clock=time.time))
    await connector.write([Update("order", str(placed["id"]), {"status": "F"})])
    opened: list[str] = []
    open_run = driver.client.open

    async def counted(kind: str) -> Session:
        opened.append(kind)
        return await open_run(kind)

    driver.client.open = counted  # type: ignore[method-assign]
    second = await driver.tick()
    await driver.client.aclose()
    assert (second.pulled.seen, second.pushed, second.acknowledged) == ({}, {"order": 1}, 1)
    # One sale run, as 1C does it (§1.7): query and success, then the documents' file and import.
    assert opened == ["sale"]
    assert (await control.get(f"/orders/{placed['id']}")).json()["status"] == "F"


async def test_a_lost_success_brings_the_same_orders_again_and_nothing_twice(
    stack: Stack, client: SiteExchange, control: httpx.AsyncClient
) -> None:
    await client.push_catalog(fixture_files())
    await place_order(control, await an_offer(control))
    await control.post("/faults", json={"kind": "status", "status": 503, "type": "sale", "mode": "success"})
    with pytest.raises(TransientError, match="503"):
        await stack.driver.pull()
    # Stored, but the site never heard `success`: it offers the order again, and nothing is new.
    assert len(await stack.mirrored("order")) == 1
    keys = await stack.queued()
    again = await stack.driver.pull()
    assert (again.seen["order"], again.enqueued) == (1, {})
    assert await stack.queued() == keys
    assert (await stack.driver.pull()).seen == {}


async def test_a_document_that_cannot_be_written_stays_pending_alone(
    stack: Stack, client: SiteExchange, control: httpx.AsyncClient
) -> None:
    placed = await pulled_order(stack, client, control)
    await stack.site.write([Update("order", str(placed["id"]), {"status": "F"})])
    await stack.site.write([Create("order", "cid-bad", {"number": "X", "date": "never", "status": "N"})])
    pushed, acknowledged = await stack.driver.push()
    assert (pushed, acknowledged) == ({"order": 1}, 1)
    assert (await control.get(f"/orders/{placed['id']}")).json()["status"] == "F"
    assert await stack.pending() == 1


# -- 1C → obmen → site and back, through the engine ---------------------------------------------------


@contextlib.asynccontextmanager
async def obmen_served(app: Any) -> AsyncIterator[str]:
    """obmen's app on a real socket in this test's loop (the store is bound to this loop)."""
    port = free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    while not server.started:
        assert not task.done(), "obmen did not start"
        await asyncio.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task


async def test_1c_to_the_site_and_back_through_the_engine(
    db: Database, tmp_path: Path, sandbox: SiteSandbox, url: str, control: httpx.AsyncClient
) -> None:
    connectors = {
        "onec": onec_connector(MirrorStore(db, T, "onec", clock=time.time)),
        "site": site_connector(MirrorStore(db, T, S, clock=time.time)),
    }
    worker = Worker(
        Engine(db, connectors, Policy.build()), options=WorkerOptions(tenant_lease=False, listen_notify=False)
    )
    endpoint = onec_endpoint(db, login="1c", password="pw1", workdir=tmp_path / "runs")
    # No catalog id configured: the driver takes the one 1C uploaded, as the site must see the same.
    driver = site_driver(db, url=url + EXCHANGE_PATH, login="obmen", password="pw")
    async with obmen_served(create_app(db, routes=endpoint.routes())) as obmen:
        onec = OnecSandbox(f"{obmen}/exchange/1c", "1c", "pw1", SMALL, timeout=30)
        # 1. The catalog: 1C → obmen → the site.
        assert (await onec.run_catalog())["ok"]
        await worker.drain()
        await driver.tick()
        products = await site_products(control)
        assert len(products) == onec.infobase.counts()["products"]
        assert sandbox.state.catalog.catalog_id == CATALOG_ID
        # An unchanged 1C run costs nothing anywhere.
        assert (await onec.run_catalog())["ok"]
        assert await worker.drain() == 0
        assert (await driver.tick()).pushed == {}
        # 2. An order placed on the site reaches 1C.
        placed = await place_order(control, await an_offer(control))
        await driver.tick()
        await worker.drain()
        assert (await onec.run_sale())["ok"]
        [order] = onec.infobase.orders.values()
        assert order.number == placed["number"]
        # 3. 1C posts it and takes the payment: the site's order follows.
        async with httpx.AsyncClient(transport=httpx.ASGITransport(onec.app), base_url="http://1c") as http:
            edit = {"posted": True, "paid": True, "status": "P"}
            assert (await http.patch(f"/_sandbox/orders/{order.site_id}", json=edit)).status_code == 200
        assert (await onec.run_sale())["ok"]
        await worker.drain()
        assert (await driver.tick()).pushed == {"order": 1}
    await driver.client.aclose()
    seen = (await control.get(f"/orders/{placed['id']}")).json()
    assert (seen["status"], seen["payment"]["paid"], seen["onec"]["number"]) == ("P", True, order.onec_number)


async def test_only_the_lease_holder_runs_the_exchange(db: Database, url: str) -> None:
    drivers = [
        site_driver(db, url=url + EXCHANGE_PATH, login="obmen", password="pw", catalog_id=CATALOG_ID)
        for _ in range(2)
    ]
    stop = asyncio.Event()
    holders = [Leases(db, name, ttl=15) for name in ("worker-a", "worker-b")]
    keepers = [asyncio.create_task(h.run(stop)) for h in holders]
    first = asyncio.create_task(drivers[0].run(stop, interval=0.05, leases=holders[0]))
    for _ in range(500):
        if drivers[0].client.stats.requests:
            break
        await asyncio.sleep(0.01)
    second = asyncio.create_task(drivers[1].run(stop, interval=0.05, leases=holders[1]))
    await asyncio.sleep(0.5)
    stop.set()
    await asyncio.gather(first, second, *keepers)
    for driver in drivers:
        await driver.client.aclose()
    assert drivers[0].client.stats.requests > 0
    assert drivers[1].client.stats.requests == 0
    checkpoints = {c["source"]: c["value"] for c in (await read_status(db, T, now=0)).checkpoints}
    assert checkpoints["site:exchange"] == "ok: pulled nothing; pushed nothing"


async def test_a_failing_pull_does_not_hold_the_push_back(
    stack: Stack, client: SiteExchange, control: httpx.AsyncClient
) -> None:
    placed = await pulled_order(stack, client, control)
    await stack.site.write([Update("order", str(placed["id"]), {"status": "F"})])
    await control.post("/faults", json={"kind": "html", "type": "sale", "mode": "query"})
    with pytest.raises(TransientError, match="HTML"):
        await stack.driver.tick()
    assert (await control.get(f"/orders/{placed['id']}")).json()["status"] == "F"
    assert await stack.pending() == 0
