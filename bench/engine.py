"""Engine throughput: no-op and all-fields-changed reconcile rates with fake connectors.

Side by side in one run: SQLite and PostgreSQL, one worker and four (concurrent worker loops in one
process sharing the store). Three fake systems; every key is a linked object present in all three.
Ratios between rows are what to read: the machine is shared and absolute times are noisy.

    python -m bench engine [--keys 5000] [--pg postgresql://postgres@127.0.0.1:5432/test] [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa

from obmen.connectors.base import Change
from obmen.engine.context import Engine, EngineSettings
from obmen.engine.merge import fingerprint
from obmen.engine.policy import Policy
from obmen.engine.scheduler import enqueue_changes
from obmen.engine.worker import Worker, WorkerOptions
from obmen.store import state
from obmen.store.database import Database, sync_url, upgrade
from obmen.testing.fakes import FakeSystem

FIELDS = {"counterparty": ["name", "emails", "phones", "comment", "inn", "kpp"]}
SYSTEMS = ("onec", "site", "bitrix24")
#: (workers, batch size) per database.
SHAPES = ((1, 100), (4, 100), (1, 500))


@dataclass
class Row:
    database: str
    workers: int
    batch: int
    scenario: str
    keys: int
    seconds: float

    @property
    def rate(self) -> float:
        return self.keys / self.seconds if self.seconds else float("inf")


async def _drain(engine: Engine, workers: int) -> None:
    pool = [Worker(engine, name=f"b{i}", options=WorkerOptions(tenant_lease=False)) for i in range(workers)]

    async def loop(worker: Worker) -> None:
        while await worker.run_once():
            pass

    await asyncio.gather(*(loop(w) for w in pool))


async def _enqueue_all(engine: Engine, fake: FakeSystem) -> None:
    changes = [Change("counterparty", x) for x in fake.objects("counterparty")]
    await enqueue_changes(engine, fake.system, changes, trigger="bench")


async def _seed_linked(engine: Engine, fakes: dict[str, FakeSystem], keys: int) -> None:
    """Put `keys` objects in every system, linked and agreed (as after a first full sync)."""
    links, bases = [], {}
    for i in range(keys):
        cid = uuid.uuid4().hex
        fields = {
            "name": f"Клиент {i}",
            "emails": [f"c{i}@example.ru"],
            "phones": [f"+7912{i:07d}"],
            "comment": "",
            "inn": None,
            "kpp": None,
        }
        for name, fake in fakes.items():
            links.append((cid, name, fake.create("counterparty", fields, origin=cid)))
        bases[cid] = (fields, fingerprint(fields))
    async with engine.db.begin() as conn:
        await state.add_links(conn, engine.tenant, "counterparty", links, now=0)
        await state.save_bases(conn, engine.tenant, "counterparty", bases, now=0)
    for fake in fakes.values():
        fake.take_notifications()


async def scenario(url: str, label: str, keys: int, workers: int, batch: int = 100) -> list[Row]:
    """Populate three fakes through obmen, then time a no-op pass and an all-fields-changed pass."""
    db = Database.connect(url, pool_size=workers + 2)
    fakes = {name: FakeSystem(name, fields=FIELDS, batch_size=100) for name in SYSTEMS}
    settings = EngineSettings(batch_size=batch, lease_seconds=600)
    engine = Engine(db=db, connectors=fakes, policy=Policy.build(), settings=settings)
    site = fakes["site"]
    await _seed_linked(engine, fakes, keys)
    rows = []
    await _enqueue_all(engine, site)
    start = time.perf_counter()
    await _drain(engine, workers)
    rows.append(Row(label, workers, batch, "no-op", keys, time.perf_counter() - start))
    writes_before = sum(len(f.writes()) for f in fakes.values())
    for i, external_id in enumerate(site.objects("counterparty")):
        site.edit(
            "counterparty",
            external_id,
            name=f"Клиент {i}!",
            emails=[f"n{i}@example.ru"],
            comment="x",
            phones=[f"+7913{i:07d}"],
            inn="7707083893",
            kpp="773601001",
        )
    await _enqueue_all(engine, site)
    start = time.perf_counter()
    await _drain(engine, workers)
    rows.append(Row(label, workers, batch, "all fields changed", keys, time.perf_counter() - start))
    written = sum(len(f.writes()) for f in fakes.values()) - writes_before
    assert written == 2 * keys, f"expected {2 * keys} writes, saw {written}"
    await db.close()
    return rows


def _sqlite_url(directory: Path) -> str:
    url = f"sqlite:///{directory / f'{uuid.uuid4().hex}.db'}"
    upgrade(url)
    return url


def _pg_url(server: str) -> tuple[str, sa.Engine, str]:
    admin = sa.create_engine(sync_url(server), isolation_level="AUTOCOMMIT")
    name = f"obmen_bench_{uuid.uuid4().hex[:8]}"
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    url = sa.make_url(sync_url(server)).set(database=name).render_as_string(hide_password=False)
    upgrade(url)
    return url, admin, name


def _print(rows: list[Row]) -> None:
    base = {r.scenario: r.rate for r in rows if (r.database, r.workers, r.batch) == ("sqlite", 1, 100)}
    widths = (-10, 7, 5, -20, 6, 8, 8, 11)
    heads = ("database", "workers", "batch", "scenario", "keys", "seconds", "keys/s", "vs sqlite")
    print(" ".join(f"{h:<{-w}}" if w < 0 else f"{h:>{w}}" for h, w in zip(heads, widths, strict=True)))
    for r in rows:
        ratio = r.rate / base[r.scenario] if base.get(r.scenario) else float("nan")
        cells = f"{r.database:<10} {r.workers:>7} {r.batch:>5} {r.scenario:<20} {r.keys:>6} {r.seconds:>8.2f}"
        print(f"{cells} {r.rate:>8.0f} {ratio:>10.2f}×")


def main(argv: list[str]) -> None:
    """Run every combination and print the table."""
    parser = argparse.ArgumentParser(prog="bench engine")
    parser.add_argument("--keys", type=int, default=5000)
    parser.add_argument(
        "--pg", default=os.environ.get("OBMEN_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")
    )
    parser.add_argument("--quick", action="store_true", help="--keys 1000 (what `python -m bench` runs)")
    args = parser.parse_args(argv)
    if args.quick:
        args.keys = min(args.keys, 1000)
    rows: list[Row] = []
    with tempfile.TemporaryDirectory() as tmp:
        for workers, batch in SHAPES:
            rows += asyncio.run(scenario(_sqlite_url(Path(tmp)), "sqlite", args.keys, workers, batch))
    for workers, batch in SHAPES:
        try:
            url, admin, name = _pg_url(args.pg)
        except sa.exc.OperationalError as exc:
            print(f"(PostgreSQL skipped: {type(exc).__name__}: no server at {args.pg})")
            break
        try:
            rows += asyncio.run(scenario(url, "postgresql", args.keys, workers, batch))
        finally:
            with admin.connect() as conn:
                conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            admin.dispose()
    _print(rows)


__all__ = ["main"]
