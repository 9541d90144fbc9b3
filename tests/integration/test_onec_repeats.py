"""A 1C catalog file sent again byte for byte is not read (docs/architecture.md §2.5, store/uploads.py).

Over the real exchange endpoint with the real backend and store (SQLite, and PostgreSQL under `pg`); a
worker reconciles into two fake systems, whose writes are the remote writes counted. What must hold:
the same files twice read no item, enqueue nothing and write nothing remote; a changed file is read;
a file whose ingest was cut short, or whose full run never reached `deactivate`, is read again.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from onec_client import OneC

from obmen.connectors.mirrored.ingest import MirrorIngest
from obmen.connectors.onec import spooler as onec_spooler
from obmen.connectors.onec.backend import OneCBackend
from obmen.connectors.onec.connector import ONEC_FIELDS, onec_connector
from obmen.connectors.onec.server import ExchangeEndpoint
from obmen.connectors.onec.uploads import Limits
from obmen.engine.context import Engine, EngineSettings
from obmen.engine.policy import Policy
from obmen.engine.worker import Worker, WorkerOptions
from obmen.store import mirror
from obmen.store.database import Database
from obmen.store.mirror import MirrorStore
from obmen.store.tables import work_items
from obmen.testing.fakes import FakeSystem, ManualClock
from obmen.web.app import create_app

SMALL = Path(__file__).resolve().parents[1] / "fixtures" / "commerceml" / "ut11-small-2.07"
T, S = "default", "onec"
AUTH = ("exchange", "s3cret")
CATALOG = ("category", "product", "offer", "price_type", "warehouse")
SKIPPED = "not read again"


def catalog() -> dict[str, bytes]:
    return {name: (SMALL / name).read_bytes() for name in ("import0_1.xml", "offers0_1.xml")}


class Stack:
    def __init__(self, db: Database, tmp: Path) -> None:
        self.db = db
        self.clock = ManualClock()
        self.ingest = MirrorIngest(db, T, S, clock=self.clock)
        self.backend = OneCBackend(self.ingest, clock=self.clock)
        self.endpoint = ExchangeEndpoint(
            self.backend, login=AUTH[0], password=AUTH[1], workdir=tmp / "runs", limits=Limits()
        )
        self.endpoint.clock = self.clock
        self.fakes = {
            name: FakeSystem(name, fields={e: ONEC_FIELDS[e] for e in CATALOG}, batch_size=100)
            for name in ("bitrix24", "site")
        }
        onec = onec_connector(MirrorStore(db, T, S, clock=self.clock))
        engine = Engine(
            db=db,
            connectors={"onec": onec, **self.fakes},
            policy=Policy.build(),
            settings=EngineSettings(),
            clock=self.clock,
        )
        self.worker = Worker(engine, name="test", options=WorkerOptions(tenant_lease=False))

    def writes(self) -> int:
        return sum(len(f.writes()) for f in self.fakes.values())

    async def queued(self) -> int:
        async with self.db.begin() as conn:
            return int((await conn.execute(sa.select(sa.func.count()).select_from(work_items))).scalar_one())

    async def products(self) -> dict[str, mirror.MirrorRow]:
        async with self.db.begin() as conn:
            ids = await mirror.scan(conn, T, S, "product", None, 1000)
            return await mirror.read(conn, T, S, "product", ids)


@pytest.fixture
async def stack(db: Database, tmp_path: Path) -> Stack:
    return Stack(db, tmp_path)


@pytest.fixture
async def onec(stack: Stack) -> AsyncIterator[OneC]:
    app = create_app(stack.db, routes=stack.endpoint.routes(), clock=stack.clock)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app), base_url="http://obmen", auth=AUTH
    ) as http:
        yield OneC(http)


@pytest.fixture
def reads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The files the backend reads item by item (`spooler.spool`), by name."""
    seen: list[str] = []
    original = onec_spooler.spool

    def spy(path: Path, *args: Any) -> Path:
        seen.append(path.name)
        return original(path, *args)

    monkeypatch.setattr(onec_spooler, "spool", spy)
    return seen


async def test_the_same_files_twice_read_no_item_enqueue_nothing_and_write_nothing(
    stack: Stack, onec: OneC, reads: list[str]
) -> None:
    first = await onec.catalog(catalog(), zipped=True)
    assert all(r.startswith("success") for r in first), first
    await stack.worker.drain()
    assert stack.writes() > 0
    written, before, waiting = stack.writes(), await stack.products(), await stack.queued()
    reads.clear()
    stack.clock.advance(60)
    again = await onec.catalog(catalog(), zipped=True)
    assert all(r.startswith("success") for r in again), again
    assert SKIPPED in again[0]
    assert SKIPPED in again[1]
    assert reads == []
    # What the worker left waiting (a retry later) is all there is: the run enqueued nothing.
    assert await stack.queued() == waiting
    await stack.worker.drain()
    assert stack.writes() == written
    # Nothing retired: the mirror is as the first run left it.
    assert await stack.products() == before


async def test_a_changed_file_is_read_and_its_unchanged_neighbour_is_not(
    stack: Stack, onec: OneC, reads: list[str]
) -> None:
    await onec.catalog(catalog(), zipped=False)
    await stack.worker.drain()
    waiting = await stack.queued()
    reads.clear()
    stack.clock.advance(60)
    files = catalog()
    text = files["offers0_1.xml"].decode("utf-8-sig")
    price = re.search(r"<ЦенаЗаЕдиницу>([^<]+)</ЦенаЗаЕдиницу>", text)
    assert price
    files["offers0_1.xml"] = text.replace(price.group(0), "<ЦенаЗаЕдиницу>99999</ЦенаЗаЕдиницу>", 1).encode()
    replies = await onec.catalog(files, zipped=False)
    assert SKIPPED in replies[0]
    assert "offer 44 (1 changed)" in replies[1]
    assert reads == ["offers0_1.xml"]
    assert await stack.queued() == waiting + 1
    # The offers were mapped against the classifier of the skipped import file: products still active.
    assert sum(not row.fields["active"] for row in (await stack.products()).values()) == 1


async def test_a_file_whose_ingest_was_cut_short_is_read_again(
    stack: Stack, onec: OneC, reads: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(onec_spooler, "_CHUNK", 10)
    original = stack.ingest.absorb
    calls = 0

    async def crashing(records: Any, *, trigger: str) -> Any:
        nonlocal calls
        calls += 1
        if calls == 2:
            raise RuntimeError("the process died here")
        return await original(records, trigger=trigger)

    monkeypatch.setattr(stack.ingest, "absorb", crashing)
    files = {"import0_1.xml": catalog()["import0_1.xml"]}
    failed = await onec.catalog(files, zipped=False)
    assert failed[0].startswith("failure"), failed
    assert 0 < len(await stack.products()) < 36
    reads.clear()
    stack.clock.advance(60)
    replies = await onec.catalog(files, zipped=False)
    assert replies[0].startswith("success")
    assert SKIPPED not in replies[0]
    assert reads == ["import0_1.xml"]
    assert len(await stack.products()) == 36


async def test_a_full_file_whose_run_ended_before_deactivate_is_read_again(
    stack: Stack, onec: OneC, reads: list[str]
) -> None:
    files = {"import0_1.xml": catalog()["import0_1.xml"]}
    await onec.catalog(files, zipped=False, deactivate=False)
    reads.clear()
    stack.clock.advance(60)
    # The first run never retired what its full catalog did not mention: this one must, so it reads.
    replies = await onec.catalog(files, zipped=False)
    assert SKIPPED not in replies[0]
    assert reads == ["import0_1.xml"]
    reads.clear()
    stack.clock.advance(60)
    replies = await onec.catalog(files, zipped=False)
    assert SKIPPED in replies[0]
    assert reads == []


async def test_a_file_whose_objects_changed_since_is_read_again(
    stack: Stack, onec: OneC, reads: list[str]
) -> None:
    text = (SMALL / "import0_1.xml").read_text(encoding="utf-8-sig")
    name = re.search(r"<Товар>.*?<Наименование>([^<]+)</Наименование>", text, flags=re.S)
    assert name
    whole = {"import0_1.xml": text.encode()}
    await onec.catalog(whole, zipped=False)
    stack.clock.advance(60)
    # A delta under another name renames a product: the first file no longer holds what it said.
    delta = text.replace('СодержитТолькоИзменения="false"', 'СодержитТолькоИзменения="true"')
    delta = delta.replace(
        f"<Наименование>{name.group(1)}</Наименование>", "<Наименование>Renamed</Наименование>"
    )
    await onec.catalog({"import0_2.xml": delta.encode()}, zipped=False)
    assert any(row.fields["name"] == "Renamed" for row in (await stack.products()).values())
    reads.clear()
    stack.clock.advance(60)
    replies = await onec.catalog(whole, zipped=False)
    assert SKIPPED not in replies[0]
    assert reads == ["import0_1.xml"]
    assert not any(row.fields["name"] == "Renamed" for row in (await stack.products()).values())
