"""A deep queue: no-op reconcile with 1k, 4k, 20k keys queued at once, PostgreSQL beside SQLite.

Every key is a linked counterparty present and agreed in three fake systems (as after a first full
sync), all enqueued in one go, then drained by one worker with batches of 100. The claim and the
store lookups are what grows with depth; a no-op writes nothing remote. A row that has not drained
within `--cut` seconds stops there and reports the rate of what it did (marked `cut`).

    python -m bench queue [--keys 1000,4000] [--full] [--quick] [--cut 60] [--pg postgresql://…]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa

from bench.engine import FIELDS, SYSTEMS, _enqueue_all, _pg_url, _seed_linked, _sqlite_url
from obmen.engine.context import Engine, EngineSettings
from obmen.engine.policy import Policy
from obmen.engine.worker import Worker, WorkerOptions
from obmen.store.database import Database
from obmen.testing.fakes import FakeSystem

QUICK = (1000, 4000)
FULL = (1000, 4000, 20000)


@dataclass
class Row:
    database: str
    queued: int
    done: int
    seconds: float
    cut: bool

    @property
    def rate(self) -> float:
        return self.done / self.seconds if self.seconds else float("inf")


async def _noop(url: str, label: str, keys: int, cut: float) -> Row:
    db = Database.connect(url)
    fakes = {name: FakeSystem(name, fields=FIELDS, batch_size=100) for name in SYSTEMS}
    settings = EngineSettings(lease_seconds=600)
    engine = Engine(db=db, connectors=fakes, policy=Policy.build(), settings=settings)
    await _seed_linked(engine, fakes, keys)
    await _enqueue_all(engine, fakes["site"])
    worker = Worker(engine, name="deep", options=WorkerOptions(tenant_lease=False))
    start = time.perf_counter()
    done, stopped = 0, False
    while count := await worker.run_once():
        done += count
        if time.perf_counter() - start > cut:
            stopped = True
            break
    seconds = time.perf_counter() - start
    writes = sum(len(f.writes()) for f in fakes.values())
    assert writes == 0, f"a no-op wrote {writes} times"
    await db.close()
    return Row(label, keys, done, seconds, stopped)


def _print(rows: list[Row]) -> None:
    lite = {r.queued: r.rate for r in rows if r.database == "sqlite"}
    print(f"{'database':<11} {'queued':>7} {'done':>7} {'seconds':>8} {'keys/s':>8} {'vs sqlite':>10}")
    for r in rows:
        ratio = r.rate / lite[r.queued] if lite.get(r.queued) else float("nan")
        note = "  cut" if r.cut else ""
        cells = f"{r.database:<11} {r.queued:>7} {r.done:>7} {r.seconds:>8.2f} {r.rate:>8.0f}"
        print(f"{cells} {ratio:>9.2f}×{note}", flush=True)


def main(argv: list[str]) -> None:
    """Drain each depth on SQLite, then on PostgreSQL, and print the table."""
    parser = argparse.ArgumentParser(prog="bench queue")
    parser.add_argument("--keys", help="comma-separated depths (default 1000,4000; --full adds 20000)")
    parser.add_argument("--full", action="store_true", help="also 20,000 keys queued")
    parser.add_argument("--quick", action="store_true", help="1,000 and 4,000 keys (the default)")
    parser.add_argument("--cut", type=float, default=60.0, help="stop a row after this many seconds")
    parser.add_argument(
        "--pg", default=os.environ.get("OBMEN_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")
    )
    args = parser.parse_args(argv)
    depths = [int(k) for k in args.keys.split(",")] if args.keys else list(FULL if args.full else QUICK)
    rows: list[Row] = []
    with tempfile.TemporaryDirectory() as tmp:
        for keys in depths:
            rows.append(asyncio.run(_noop(_sqlite_url(Path(tmp)), "sqlite", keys, args.cut)))
    for keys in depths:
        try:
            url, admin, name = _pg_url(args.pg)
        except sa.exc.OperationalError as exc:
            print(f"(PostgreSQL skipped: {type(exc).__name__}: no server at {args.pg})")
            break
        try:
            rows.append(asyncio.run(_noop(url, "postgresql", keys, args.cut)))
        finally:
            with admin.connect() as conn:
                conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            admin.dispose()
    _print(rows)
    pg = [r for r in rows if r.database == "postgresql"]
    if pg:
        deepest = max(pg, key=lambda r: r.queued)
        lite = next(r for r in rows if r.database == "sqlite" and r.queued == deepest.queued)
        print(
            f"\nPostgreSQL at {deepest.rate / lite.rate:.2f}× SQLite with {deepest.queued} keys queued "
            "(goal ≥ 0.8× at 20,000, not falling with depth)"
        )


__all__ = ["main"]
