"""1C → obmen over the exchange endpoint with the real backend and store (docs/protocols/commerceml.md).

See §1, §2.

1C is played by `onec_client.OneC` over in-process ASGI; the store is real (SQLite, and PostgreSQL
under `pg`). What matters: uploads land in the 1C mirror and enqueue exactly the keys that changed,
full runs retire what they did not mention, the outbox reaches 1C until 1C confirms it, 1C's documents
update the orders obmen handed to it, and bad files import nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import time
from collections.abc import AsyncIterator
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
import uvicorn
from lxml import etree
from onec_client import OneC

from obmen.connectors.base import Create, Update
from obmen.connectors.commerceml import Document, RunContext, elements, read
from obmen.connectors.commerceml.names import Vocabulary
from obmen.connectors.mirrored.connector import Mirrored
from obmen.connectors.mirrored.ingest import MirrorIngest
from obmen.connectors.onec.backend import OneCBackend, onec_endpoint
from obmen.connectors.onec.server import ExchangeEndpoint
from obmen.connectors.onec.uploads import Limits
from obmen.model import entities as canon
from obmen.model.base import EntityType, Money, Ref
from obmen.model.fields import to_fields
from obmen.store import mirror
from obmen.store.database import Database
from obmen.store.mirror import MirrorStore
from obmen.store.status import read_status
from obmen.store.tables import work_items
from obmen.testing.fakes import ManualClock
from obmen.web.app import create_app
from obmen_sandbox.onec import OnecSandbox
from obmen_sandbox.serving import free_port

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "commerceml"
SMALL = FIXTURES / "ut11-small-2.07"
T, S = "default", "onec"
DELETED = "b631c9c1-49de-11e9-80c9-0cc47ab29cd1"
AUTH = ("exchange", "s3cret")


def count(path: Path, local: str, parent: str | None = None) -> int:
    return sum(
        1
        for e in etree.parse(str(path)).iter()
        if etree.QName(e).localname == local
        and (parent is None or etree.QName(e.getparent()).localname == parent)
    )


class Stack:
    def __init__(self, db: Database, tmp: Path) -> None:
        self.db = db
        self.clock = ManualClock()
        self.ingest = MirrorIngest(db, T, S, clock=self.clock)
        self.backend = OneCBackend(self.ingest, clock=self.clock)
        limits = Limits(file_limit=64 * 1024)
        self.endpoint = ExchangeEndpoint(
            self.backend, login=AUTH[0], password=AUTH[1], workdir=tmp / "runs", limits=limits
        )
        self.endpoint.clock = self.clock

    async def mirrored(self, entity: str) -> dict[str, mirror.MirrorRow]:
        async with self.db.begin() as conn:
            ids: list[str] = []
            while page := await mirror.scan(conn, T, S, entity, ids[-1] if ids else None, 1000):
                ids += page
            return await mirror.read(conn, T, S, entity, ids)

    async def queued(self) -> list[str]:
        async with self.db.begin() as conn:
            return sorted((await conn.execute(sa.select(work_items.c.key))).scalars())

    async def drain(self) -> None:
        async with self.db.begin() as conn:
            await conn.execute(sa.delete(work_items))


@pytest.fixture
async def stack(db: Database, tmp_path: Path) -> Stack:
    return Stack(db, tmp_path)


@pytest.fixture
async def onec(stack: Stack) -> AsyncIterator[OneC]:
    app = create_app(stack.db, routes=stack.endpoint.routes(), clock=stack.clock)
    transport = httpx.ASGITransport(app)
    async with httpx.AsyncClient(transport=transport, base_url="http://obmen", auth=AUTH) as http:
        yield OneC(http)


def catalog() -> dict[str, bytes]:
    return {name: (SMALL / name).read_bytes() for name in ("import0_1.xml", "offers0_1.xml")}


@pytest.mark.parametrize(("zipped", "chunk"), [(True, None), (True, 700), (False, None), (False, 1000)])
async def test_a_full_catalog_lands_in_the_mirror_and_enqueues_its_keys(
    stack: Stack, onec: OneC, zipped: bool, chunk: int | None
) -> None:
    replies = await onec.catalog(catalog(), zipped=zipped, chunk=chunk)
    assert all(r.startswith("success") for r in replies), replies
    products, offers = await stack.mirrored("product"), await stack.mirrored("offer")
    assert len(products) == count(SMALL / "import0_1.xml", "Товар", "Товары") == 36
    assert len(offers) == count(SMALL / "offers0_1.xml", "Предложение") == 44
    assert len(await stack.mirrored("price_type")) == 1
    assert len(await stack.mirrored("warehouse")) == 3
    assert len(await stack.mirrored("category")) == 1
    queued = await stack.queued()
    assert len(queued) == 36 + 44 + 1 + 3 + 1
    assert sum(k.startswith("product@onec:") for k in queued) == 36
    if zipped:
        assert any("Распаковка" in step for step in onec.steps)
    # Offers laid over products: an offer refers to its product by the 1C `Ид` before `#`.
    some = next(iter(offers.values())).fields
    assert some["product"]["id"] in products
    assert some["prices"]
    assert some["prices"][0]["value"]["currency"] == "RUB"


async def test_an_unchanged_reupload_enqueues_nothing(stack: Stack, onec: OneC) -> None:
    await onec.catalog(catalog(), zipped=True)
    await stack.drain()
    stack.clock.advance(60)
    replies = await onec.catalog(catalog(), zipped=True)
    assert "not read again" in replies[0]
    assert await stack.queued() == []
    # The one product marked `Статус="Удален"` in the fixture is inactive; nothing else was retired.
    inactive = [x for x, row in (await stack.mirrored("product")).items() if not row.fields["active"]]
    assert inactive == [DELETED]


async def test_an_unchanged_reupload_parses_no_product_or_offer(
    stack: Stack, onec: OneC, monkeypatch: pytest.MonkeyPatch
) -> None:
    await onec.catalog(catalog(), zipped=True)
    await stack.drain()
    assert all(row.digest for row in (await stack.mirrored("product")).values())
    built: list[str] = []
    for name in ("product", "offer"):
        original = getattr(elements, name)

        def spy(el: Any, digest: str | None = None, _name: str = name, _build: Any = original) -> Any:
            built.append(_name)
            return _build(el, digest)

        monkeypatch.setattr(elements, name, spy)
    stack.clock.advance(60)
    # A fresh export of the same catalog: only the root's date differs, so the files are read (not
    # skipped whole, tests/integration/test_onec_repeats.py) but no item is parsed.
    stamp = 'ДатаФормирования="2020-04-07T'.encode()
    fresh = {
        name: body.replace(stamp, stamp.replace(b"2020", b"2021"), 1) for name, body in catalog().items()
    }
    assert fresh != catalog()
    replies = await onec.catalog(fresh, zipped=True)
    assert "product 36 (0 changed)" in replies[0]
    assert "offer 44 (0 changed)" in replies[1]
    assert built == []
    assert await stack.queued() == []
    # Seen again: a full run's retirement spares them.
    assert all(row.seen_at == stack.clock() for row in (await stack.mirrored("product")).values())


async def test_an_object_retired_and_sent_again_unchanged_is_read_again(stack: Stack, onec: OneC) -> None:
    await onec.catalog(catalog(), zipped=True)
    text = (SMALL / "import0_1.xml").read_text(encoding="utf-8-sig")
    goods = re.findall(r"<Товар>.*?</Товар>", text, flags=re.S)
    gone = re.search(r"<Ид>([^<]+)</Ид>", goods[0])
    assert gone
    stack.clock.advance(60)
    await onec.catalog({"import0_1.xml": text.replace(goods[0], "").encode()}, zipped=True)
    assert (await stack.mirrored("product"))[gone.group(1)].fields["active"] is False
    await stack.drain()
    stack.clock.advance(60)
    # The same element as in the first run: its digest matches that run's, but the row was retired since.
    await onec.catalog({"import0_1.xml": text.encode()}, zipped=True)
    assert (await stack.mirrored("product"))[gone.group(1)].fields["active"] is True
    assert await stack.queued() == [f"product@onec:{gone.group(1)}"]


def _first_offer_price(xml: str) -> str:
    match = re.search(r"<ЦенаЗаЕдиницу>([^<]+)</ЦенаЗаЕдиницу>", xml)
    assert match
    return match.group(1)


async def test_a_change_only_upload_enqueues_only_what_changed(stack: Stack, onec: OneC) -> None:
    await onec.catalog(catalog(), zipped=False)
    await stack.drain()
    stack.clock.advance(60)
    text = (SMALL / "offers0_1.xml").read_text(encoding="utf-8-sig")
    price = _first_offer_price(text)
    delta = text.replace('СодержитТолькоИзменения="false"', 'СодержитТолькоИзменения="true"')
    tag = "<ЦенаЗаЕдиницу>{}</ЦенаЗаЕдиницу>"
    delta = delta.replace(tag.format(price), tag.format("99999"), 1)
    replies = await onec.catalog({"offers0_1.xml": delta.encode()}, zipped=False)
    assert "offer 44 (1 changed)" in replies[0]
    [key] = await stack.queued()
    changed = (await stack.mirrored("offer"))[key.split(":", 1)[1]]
    assert changed.fields["prices"][0]["value"]["amount"] == "99999"
    # A delta retires nothing.
    assert "nothing" in replies[-1]
    assert all(row.fields["active"] for row in (await stack.mirrored("offer")).values())


async def test_a_full_run_retires_what_it_did_not_mention(stack: Stack, onec: OneC) -> None:
    await onec.catalog(catalog(), zipped=True)
    await stack.drain()
    stack.clock.advance(60)
    text = (SMALL / "import0_1.xml").read_text(encoding="utf-8-sig")
    goods = re.findall(r"<Товар>.*?</Товар>", text, flags=re.S)
    gone = re.search(r"<Ид>([^<]+)</Ид>", goods[0])
    assert gone
    replies = await onec.catalog({"import0_1.xml": text.replace(goods[0], "").encode()}, zipped=True)
    assert replies[-1].startswith("success")
    assert "product 1" in replies[-1]
    assert await stack.queued() == [f"product@onec:{gone.group(1)}"]
    products = await stack.mirrored("product")
    assert sorted(x for x, row in products.items() if not row.fields["active"]) == sorted(
        [gone.group(1), DELETED]
    )
    # Offers were not part of this run: they stay as they were.
    assert all(row.fields["active"] for row in (await stack.mirrored("offer")).values())


LAUGHS = (
    b'<?xml version="1.0"?><!DOCTYPE l [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">'
    b'<!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;"><!ENTITY d "&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;">]>'
    b"<l>&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;</l>"
)


def order_fields(number: str, customer: str | None) -> dict[str, Any]:
    order = canon.Order(
        number=number,
        date=datetime(2024, 5, 1, 12, 30),
        status="N",
        customer=Ref(EntityType.COUNTERPARTY, customer) if customer else None,
        lines=(
            canon.OrderLine(
                offer=Ref(EntityType.OFFER, "p1#c1"),
                name="Ботфорты",
                quantity=Decimal(2),
                price=Money(Decimal(1500)),
            ),
        ),
        total=Money(Decimal(3000)),
        external_numbers=(("site", number),),
    )
    return dict(to_fields(order))


async def queue_orders(stack: Stack, *numbers: str) -> None:
    onec = Mirrored(S, MirrorStore(stack.db, T, S, clock=stack.clock), fields={}, creates=frozenset())
    person = canon.Counterparty(kind="person", name="Иван Петров", emails=("ivan@example.ru",))
    ops: list[Any] = [Create("counterparty", "cp-1", dict(to_fields(person)))]
    ops += [Create("order", f"cid-{n}", order_fields(n, "cp-1")) for n in numbers]
    assert all(r.ok for r in await onec.write(ops))


def documents_of(body: bytes) -> list[Document]:
    path = Path(f"/tmp/obmen-query-{id(body)}.xml")
    path.write_bytes(body)
    try:
        return [i for i in read(path, RunContext()) if isinstance(i, Document)]
    finally:
        path.unlink()


async def test_query_offers_the_outbox_until_1c_confirms(stack: Stack, onec: OneC) -> None:
    await queue_orders(stack, "1001", "1002")
    body = await onec.query()
    assert body.startswith(b'<?xml version="1.0" encoding="windows-1251"?>')
    docs = documents_of(body)
    assert sorted((d.id, d.number) for d in docs) == [("cid-1001", "1001"), ("cid-1002", "1002")]
    assert docs[0].counterparties[0].name == "Иван Петров"
    assert docs[0].lines[0].id == "p1#c1"
    assert docs[0].total == Decimal(3000)
    # No `success`: 1C failed on its side, so the next query offers the same orders again.
    assert len(documents_of(await onec.query())) == 2
    assert (await onec.success()).startswith("success")
    assert documents_of(await onec.query()) == []


DOC_1C = """<?xml version="1.0" encoding="UTF-8"?>
<КоммерческаяИнформация ВерсияСхемы="2.09" ДатаФормирования="2024-05-02T10:00:00">
<Документ><Ид>7c1e0d1a-0000-11ef-8000-000000000001</Ид><Номер>{number}</Номер><Дата>2024-05-01</Дата>
<ХозОперация>Заказ товара</ХозОперация><Роль>Продавец</Роль>
<Валюта>RUB</Валюта><Курс>1</Курс><Сумма>3000</Сумма>
<Контрагенты><Контрагент><Ид>1c-guid-ivan</Ид><Наименование>Петров Иван</Наименование><Роль>Покупатель</Роль>
</Контрагент></Контрагенты><Время>12:30:00</Время>
<Товары><Товар><Ид>p1#c1</Ид><Наименование>Ботфорты</Наименование><ЦенаЗаЕдиницу>1500</ЦенаЗаЕдиницу>
<Количество>2</Количество><Сумма>3000</Сумма></Товар></Товары>
<ЗначенияРеквизитов>
<ЗначениеРеквизита><Наименование>Номер по 1С</Наименование>
<Значение>УТ-000{number}</Значение></ЗначениеРеквизита>
<ЗначениеРеквизита><Наименование>Проведен</Наименование><Значение>true</Значение></ЗначениеРеквизита>
<ЗначениеРеквизита><Наименование>Статус заказа</Наименование><Значение>F</Значение></ЗначениеРеквизита>
<ЗначениеРеквизита><Наименование>Дата оплаты по 1С</Наименование>
<Значение>2024-05-02</Значение></ЗначениеРеквизита>
</ЗначенияРеквизитов></Документ>
</КоммерческаяИнформация>"""


async def test_documents_from_1c_update_the_orders_obmen_sent(stack: Stack, onec: OneC) -> None:
    await queue_orders(stack, "1001")
    await onec.query()
    await onec.success()
    await stack.drain()
    stack.clock.advance(60)
    reply = await onec.documents(DOC_1C.format(number="1001").encode())
    assert reply.startswith("success"), reply
    assert await stack.queued() == ["order@onec:cid-1001"]
    order = (await stack.mirrored("order"))["cid-1001"].fields
    assert order["status"] == "F"
    assert ["onec", "УТ-0001001"] in order["external_numbers"]
    assert order["payments"][0]["paid"] is True
    # The customer stays the one obmen sent: 1C's own counterparty id is not a new customer.
    assert order["customer"] == {"$ref": "counterparty", "id": "cp-1"}
    assert await stack.mirrored("counterparty") == {}


async def test_1c_speaks_its_own_status_names_both_ways(stack: Stack, onec: OneC) -> None:
    # `[mapping] onec_statuses`: 1C calls `N` «Новый» and `F` «Закрыт»; it sends no `Статуса заказа ИД`.
    stack.backend.vocabulary = Vocabulary(statuses={"Новый": "N", "Закрыт": "F"})
    await queue_orders(stack, "1001")
    sent = documents_of(await onec.query())
    assert sent[0].requisite("Статус заказа") == "Новый"
    await onec.success()
    await stack.drain()
    stack.clock.advance(60)
    closed = DOC_1C.format(number="1001").replace("<Значение>F</Значение>", "<Значение>Закрыт</Значение>")
    assert (await onec.documents(closed.encode())).startswith("success")
    assert (await stack.mirrored("order"))["cid-1001"].fields["status"] == "F"
    # A name the table does not know says nothing about the status: the order keeps the one it had.
    stack.clock.advance(60)
    odd = DOC_1C.format(number="1001").replace("<Значение>F</Значение>", "<Значение>Собирается</Значение>")
    assert (await onec.documents(odd.encode())).startswith("success")
    assert (await stack.mirrored("order"))["cid-1001"].fields["status"] == "F"


async def test_a_counterparty_file_updates_the_counterparties_without_duplicates(
    stack: Stack, onec: OneC
) -> None:
    body = (FIXTURES / "authored" / "counterparties-2.09.xml").read_bytes()
    replies = await onec.catalog({"contragents.xml": body}, zipped=False)
    assert all(r.startswith("success") for r in replies), replies
    mirrored = await stack.mirrored("counterparty")
    assert sorted(mirrored) == ["a1b2", "c3d4"]
    assert mirrored["a1b2"].fields["requisites"]["kpp"] == "773601001"
    assert sorted(await stack.queued()) == ["counterparty@onec:a1b2", "counterparty@onec:c3d4"]
    await stack.drain()
    again = await onec.catalog({"contragents.xml": body}, zipped=True)
    assert all(r.startswith("success") for r in again), again
    assert sorted(await stack.mirrored("counterparty")) == ["a1b2", "c3d4"]
    assert await stack.queued() == []  # nothing changed: nothing to reconcile


async def test_orders_born_in_1c_land_under_their_own_id(stack: Stack, onec: OneC) -> None:
    orders = FIXTURES / "erp-2.07" / "orders.xml"
    reply = await onec.documents(orders.read_bytes(), name="documents___erp.xml")
    assert reply.startswith("success"), reply
    documents = count(orders, "Документ")
    parties = {e.findtext("{*}Ид") for e in etree.parse(str(orders)).iter("{*}Контрагент")}
    assert len(await stack.mirrored("order")) == documents == 216
    assert len(await stack.mirrored("counterparty")) == len(parties)
    assert sum(k.startswith("order@onec:") for k in await stack.queued()) == 216


@pytest.mark.parametrize(
    "body",
    [
        pytest.param((SMALL / "import0_1.xml").read_bytes()[:20_000], id="truncated"),
        pytest.param(
            (
                '<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]>'
                "<КоммерческаяИнформация><Каталог><Товары><Товар><Ид>1</Ид><Наименование>&e;</Наименование>"
                "</Товар></Товары></Каталог></КоммерческаяИнформация>"
            ).encode(),
            id="xxe",
        ),
        pytest.param(b"not xml at all", id="garbage"),
        pytest.param(LAUGHS, id="billion-laughs"),
        pytest.param(
            # Declared windows-1251, but the bytes are UTF-8: read as declared, every name would be garbled.
            '<?xml version="1.0" encoding="windows-1251"?><КоммерческаяИнформация ВерсияСхемы="2.07">'
            "<Каталог><Ид>c</Ид><Товары><Товар><Ид>1</Ид><Наименование>Коврик</Наименование></Товар>"
            "</Товары></Каталог></КоммерческаяИнформация>".encode(),
            id="wrong-encoding",
        ),
    ],
)
@pytest.mark.parametrize("zipped", [False, True])
async def test_bad_files_fail_and_import_nothing(stack: Stack, onec: OneC, body: bytes, zipped: bool) -> None:
    replies = await onec.catalog({"import0_1.xml": body}, zipped=zipped)
    assert replies[0].startswith("failure"), replies
    assert await stack.mirrored("product") == {}
    assert await stack.queued() == []
    assert not list((stack.endpoint.workdir).rglob("*.records"))
    # The operator sees why: `obmen status` shows the last catalog upload as failed.
    checkpoints = {c["source"]: c["value"] for c in (await read_status(stack.db, T, now=0)).checkpoints}
    assert checkpoints["onec:catalog"].startswith("failed: import0_1.xml")


async def test_bad_documents_fail_and_import_nothing(stack: Stack, onec: OneC) -> None:
    reply = await onec.documents(DOC_1C.format(number="5").encode()[:900])
    assert reply.startswith("failure"), reply
    assert await stack.mirrored("order") == {}
    assert await stack.queued() == []


# -- the 1C sandbox as the client, over a real socket -------------------------------------------------


@contextlib.asynccontextmanager
async def served(app: Any) -> AsyncIterator[str]:
    """obmen on a real loopback socket in this test's own loop (its store is bound to this loop)."""
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    )
    task = asyncio.create_task(server.serve())
    while not server.started:
        assert not task.done(), "obmen did not start"
        await asyncio.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task


@pytest.fixture
async def onec_sandbox(stack: Stack) -> AsyncIterator[OnecSandbox]:
    async with served(create_app(stack.db, routes=stack.endpoint.routes())) as url:
        # The endpoint's own clock runs in real time here: the sandbox's runs happen now.
        stack.endpoint.clock = stack.clock = stack.ingest.clock = stack.backend.clock = time.time
        yield OnecSandbox(f"{url}/exchange/1c", AUTH[0], AUTH[1], SMALL, timeout=30)


async def test_the_1c_sandbox_runs_full_and_change_only_exchanges(
    stack: Stack, onec_sandbox: OnecSandbox
) -> None:
    full = await onec_sandbox.run_catalog()
    assert full["ok"], full.get("error")
    counts = onec_sandbox.infobase.counts()
    assert len(await stack.mirrored("product")) == counts["products"] > 36
    assert len(await stack.mirrored("offer")) == counts["offers"] >= 44
    assert len(await stack.mirrored("category")) == counts["groups"]
    first = await stack.queued()
    assert sum(k.startswith("offer@onec:") for k in first) == counts["offers"]
    await stack.drain()
    offer = sorted(await stack.mirrored("offer"))[0]
    price_type = next(iter((await stack.mirrored("price_type")).values())).fields["name"]
    sandbox_http = httpx.AsyncClient(transport=httpx.ASGITransport(onec_sandbox.app), base_url="http://1c")
    async with sandbox_http:
        reply = await sandbox_http.patch(f"/_sandbox/products/{offer}", json={"prices": {price_type: 4321}})
        assert reply.status_code == 200, reply.text
        delta = (await sandbox_http.post("/_sandbox/exchange/catalog", json={"changes_only": True})).json()
    assert delta["ok"], delta.get("error")
    assert await stack.queued() == [f"offer@onec:{offer}"]
    prices = (await stack.mirrored("offer"))[offer].fields["prices"]
    assert [p["value"]["amount"] for p in prices] == ["4321"]


async def test_the_1c_sandbox_collects_orders_and_sends_its_documents(
    stack: Stack, onec_sandbox: OnecSandbox
) -> None:
    assert (await onec_sandbox.run_catalog())["ok"]
    await stack.drain()
    await queue_orders(stack, "1001")
    sale = await onec_sandbox.run_sale()
    assert sale["ok"], sale.get("error")
    [order] = list(onec_sandbox.infobase.orders.values())
    assert order.number == "1001"
    async with stack.db.begin() as conn:
        assert await mirror.collect(conn, T, S, "probe") == []
    sandbox_http = httpx.AsyncClient(transport=httpx.ASGITransport(onec_sandbox.app), base_url="http://1c")
    async with sandbox_http:
        reply = await sandbox_http.patch(
            f"/_sandbox/orders/{order.site_id}", json={"posted": True, "paid": True}
        )
        assert reply.status_code == 200, reply.text
    assert (await onec_sandbox.run_sale())["ok"]
    assert "order@onec:cid-1001" in await stack.queued()
    mirrored = (await stack.mirrored("order"))["cid-1001"].fields
    assert mirrored["payments"][0]["paid"] is True
    assert any(system == "onec" for system, _ in mirrored["external_numbers"])


async def test_the_endpoint_factory_serves_a_run_into_the_mirror(db: Database, tmp_path: Path) -> None:
    endpoint = onec_endpoint(db, login=AUTH[0], password=AUTH[1], workdir=tmp_path / "runs")
    transport = httpx.ASGITransport(create_app(db, routes=endpoint.routes()))
    async with httpx.AsyncClient(transport=transport, base_url="http://obmen", auth=AUTH) as http:
        replies = await OneC(http).catalog(catalog(), zipped=True)
    assert all(r.startswith("success") for r in replies), replies
    async with db.begin() as conn:
        assert len(await mirror.scan(conn, T, S, "product", None, 1000)) == 36


async def test_an_order_the_outbox_cannot_express_stays_pending_and_holds_nothing_back(
    stack: Stack, onec: OneC
) -> None:
    await queue_orders(stack, "1001")
    port = MirrorStore(stack.db, T, S, clock=stack.clock)
    bad = {**order_fields("1002", None), "date": "not a date"}
    assert all(
        r.ok
        for r in await Mirrored(S, port, fields={}, creates=frozenset()).write(
            [Create("order", "cid-bad", bad)]
        )
    )
    docs = documents_of(await onec.query())
    assert [d.id for d in docs] == ["cid-1001"]
    await onec.success()
    async with stack.db.begin() as conn:
        assert [i.external_id for i in await mirror.collect(conn, T, S, "probe")] == ["cid-bad"]


async def test_a_customer_changed_alone_reaches_1c_inside_its_last_order(stack: Stack, onec: OneC) -> None:
    await queue_orders(stack, "1001")
    await onec.query()
    await onec.success()
    stack.clock.advance(60)
    port = MirrorStore(stack.db, T, S, clock=stack.clock)
    connector = Mirrored(S, port, fields={}, creates=frozenset())
    [result] = await connector.write([Update("counterparty", "cp-1", {"name": "Иван Сергеевич Петров"})])
    assert result.ok
    [doc] = documents_of(await onec.query())
    assert (doc.id, doc.counterparties[0].name) == ("cid-1001", "Иван Сергеевич Петров")
    await onec.success()
    assert documents_of(await onec.query()) == []


async def test_stock_known_only_as_a_total_has_a_warehouse_to_refer_to(stack: Stack, onec: OneC) -> None:
    outlet = FIXTURES / "ut11-outlet-2.07"
    files = {name: (outlet / name).read_bytes() for name in ("import0_1.xml", "offers0_1.xml")}
    assert all(r.startswith("success") for r in await onec.catalog(files, zipped=True))
    warehouses = await stack.mirrored("warehouse")
    referred = {
        level["warehouse"]["id"]
        for row in (await stack.mirrored("offer")).values()
        for level in row.fields["stock"]
    }
    # Every warehouse an offer refers to exists, the pseudo-warehouse of totals included.
    assert "#total" in referred
    assert referred <= set(warehouses)


async def test_info_offers_statuses_and_payment_systems_to_map_to(db: Database, tmp_path: Path) -> None:
    endpoint = onec_endpoint(
        db, login=AUTH[0], password=AUTH[1], workdir=tmp_path / "runs", payment_systems={"2": "Картой онлайн"}
    )
    transport = httpx.ASGITransport(create_app(db, routes=endpoint.routes()))
    async with httpx.AsyncClient(transport=transport, base_url="http://obmen", auth=AUTH) as http:
        client = OneC(http)
        await client.start("sale")
        reply = await client.call("sale", "info")
    body = reply.content
    assert body.startswith(b'<?xml version="1.0" encoding="windows-1251"?>')
    root = etree.fromstring(body)
    latin = [(e.findtext("Ид"), e.findtext("Название")) for e in root.find("Cтатусы")]
    assert latin == [
        ("N", "Принят, ожидается оплата"),
        ("P", "Оплачен, формируется к отправке"),
        ("F", "Выполнен"),
    ]
    assert [e.findtext("Ид") for e in root.find("Статусы")] == ["N", "P", "F"]
    assert [e.findtext("Название") for e in root.find("ПлатежныеСистемы")] == ["Картой онлайн"]


class BrokenStore(MirrorIngest):
    async def absorb(self, records: Any, *, trigger: str) -> Any:
        raise RuntimeError("database is locked")


async def test_a_store_failure_reaches_1c_as_a_failure_line(db: Database, tmp_path: Path) -> None:
    backend = OneCBackend(BrokenStore(db, T, S))
    endpoint = ExchangeEndpoint(backend, login=AUTH[0], password=AUTH[1], workdir=tmp_path / "runs")
    transport = httpx.ASGITransport(create_app(db, routes=endpoint.routes()))
    async with httpx.AsyncClient(transport=transport, base_url="http://obmen", auth=AUTH) as http:
        replies = await OneC(http).catalog(catalog(), zipped=False)
    assert replies[0] == "failure\nimport0_1.xml: obmen could not store it (RuntimeError)"
    checkpoints = {c["source"]: c["value"] for c in (await read_status(db, T, now=0)).checkpoints}
    assert "could not store it" in checkpoints["onec:catalog"]
