"""A generated catalog through obmen's 1C exchange endpoint, as 1C sends it, with the worker running.

N products with offers (half with two characteristics), 2 price types, 2 warehouses, written by the
codec's writer, zipped and sent to `/exchange/1c` by the sandbox's 1C protocol client (docs/protocols/
commerceml.md §1): checkauth, init, file (cut at `file_limit`), import repeated while `progress`,
deactivate, complete. obmen is the real endpoint over a real SQLite store, served in-process; its
worker runs on the same loop as in `obmen run`, reconciling into two fake systems that carry the
catalog (their writes are the remote writes counted). Each size runs in a fresh process, three times:
the first import; the same files again, byte for byte (acknowledged without reading them: no key
enqueued, no remote write, docs/architecture.md §2.5); and a fresh export of the same catalog, whose
files differ only in the date 1C stamps on them (read, but no product or offer parsed: per-item digests).

Columns: `exchange s` is checkauth to the last import's `success`; `drained s` until the worker has
reconciled every key the run enqueued; `changed` the mirrored objects whose content the run changed
(each one key enqueued); `vs first` the exchange's time over the first import's; `peak RSS` of the whole
process (endpoint, store and worker).

`--no-drain` starts the re-import at once instead of waiting for the worker (which keeps running):
at 100k products and more the fake systems' reconcile outlasts the exchange many times over. The
re-import then runs beside the first import's reconcile, and its `remote writes` are that reconcile's
(shown `—`); `changed` = 0 still proves it enqueued nothing.

    python -m bench onec [--products 2000,20000] [--full] [--quick] [--no-drain]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import io
import multiprocessing as mp
import re
import tempfile
import time
import zipfile
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy as sa
from starlette.applications import Starlette

from bench.commerceml import generate, peak_rss_mb
from obmen.connectors.onec.backend import onec_endpoint
from obmen.connectors.onec.connector import ONEC_FIELDS, onec_connector
from obmen.engine.context import Engine, EngineSettings
from obmen.engine.policy import Policy
from obmen.engine.worker import Worker, WorkerOptions
from obmen.store.database import Database, upgrade
from obmen.store.mirror import MirrorStore
from obmen.store.tables import mirror, work_items
from obmen.testing.fakes import FakeSystem
from obmen_sandbox.onec.client import ExchangeSession, ProtocolClient

LOGIN, PASSWORD = "bench", "bench-secret"
CATALOG = ("category", "product", "offer", "price_type", "warehouse")
QUICK = (2000,)
#: Seconds between two `import` calls answered `progress`.
PAUSE = 0.05
FULL = (2000, 20000)


ROUNDS = ("first import", "unchanged re-import", "fresh export, same items")
#: The root's stamp (docs/protocols/commerceml.md §2.1): a fresh export of an unchanged catalog differs in it.
_STAMP = re.compile('ДатаФормирования="[^"]*"'.encode())


def _archive(files: tuple[Path, ...], *, restamp: bool = False) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for path in files:
            data = path.read_bytes()
            if restamp:
                data = _STAMP.sub('ДатаФормирования="2031-01-01T00:00:00"'.encode(), data, count=1)
            archive.writestr(path.name, data)
    return buffer.getvalue()


async def _exchange(client: ProtocolClient, archive: bytes, names: list[str]) -> int:
    """One full catalog run as 1C makes it; returns the number of `import` calls."""
    session = ExchangeSession(kind="catalog")
    await client.open(session, "2.08")
    await client.upload(session, "v8_BENCH_1.zip", archive)
    calls = 0
    # The archive is unpacked by the first `import` call (answering `progress`), then each file.
    for name in names:
        while True:
            calls += 1
            lines = await client.call(session, "import", {"filename": name})
            if lines[0] == "success":
                break
            await asyncio.sleep(PAUSE)  # 1C's pause between `import` calls; a tight loop would spin
    await client.call(session, "deactivate", {"timestamp": session.timestamp})
    await client.call(session, "complete")
    return calls


async def _pending(db: Database) -> int:
    async with db.begin() as conn:
        return int((await conn.execute(sa.select(sa.func.count()).select_from(work_items))).scalar_one())


async def _changed(db: Database, since: float) -> int:
    async with db.begin() as conn:
        query = sa.select(sa.func.count()).select_from(mirror).where(mirror.c.changed_at >= since)
        return int((await conn.execute(query)).scalar_one())


async def _run(directory: Path, files: tuple[Path, ...], drain: bool) -> list[dict[str, Any]]:
    url = f"sqlite:///{directory / 'obmen.db'}"
    upgrade(url)
    db = Database.connect(url)
    fakes = {
        name: FakeSystem(name, fields={e: ONEC_FIELDS[e] for e in CATALOG}, batch_size=100)
        for name in ("bitrix24", "site")
    }
    onec = onec_connector(MirrorStore(db, "default", "onec", clock=time.time))
    connectors = {"onec": onec, **fakes}
    engine = Engine(db=db, connectors=connectors, policy=Policy.build(), settings=EngineSettings())
    worker = Worker(engine, name="bench", options=WorkerOptions(tenant_lease=False))
    endpoint = onec_endpoint(
        db, login=LOGIN, password=PASSWORD, workdir=directory / "exchange", on_enqueued=worker.wake.set
    )
    app = Starlette(routes=endpoint.routes())
    archives = [_archive(files), _archive(files), _archive(files, restamp=True)]
    stop = asyncio.Event()
    # As `obmen run` does once it is built (app/runtime.py): what lives as long as the process is frozen.
    gc.collect()
    gc.freeze()
    running = asyncio.create_task(worker.run(stop))
    out = []
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), timeout=600) as http:
        client = ProtocolClient("http://obmen/exchange/1c", LOGIN, PASSWORD, http, max_import_steps=100_000)
        for archive in archives:
            writes = sum(len(f.writes()) for f in fakes.values())
            start, wall = time.perf_counter(), time.time()
            calls = await _exchange(client, archive, [f.name for f in files])
            exchanged = time.perf_counter() - start
            changed = await _changed(db, wall)
            while drain and await _pending(db):
                worker.wake.set()
                await asyncio.sleep(0.05)
            drained = time.perf_counter() - start if drain else None
            written = sum(len(f.writes()) for f in fakes.values()) - writes if drain else None
            out.append(
                {
                    "exchange": exchanged,
                    "drained": drained,
                    "calls": calls,
                    "writes": written,
                    "changed": changed,
                }
            )
    stop.set()
    await running
    await db.close()
    return out


def _child(products: int, drain: bool, queue: Any) -> None:
    with tempfile.TemporaryDirectory(prefix="obmen-bench-onec-") as tmp:
        files = generate(Path(tmp), products, price_types=2)
        size = sum(f.stat().st_size for f in files) / 2**20
        rounds = asyncio.run(_run(Path(tmp), files, drain))
    queue.put({"rounds": rounds, "rss_mb": peak_rss_mb(), "mb": size})


def _isolated(products: int, drain: bool) -> dict[str, Any]:
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    proc = ctx.Process(target=_child, args=(products, drain, queue))
    proc.start()
    result: dict[str, Any] = queue.get()
    proc.join()
    return result


def main(argv: list[str]) -> None:
    """Run each catalog size in a fresh process and print the table."""
    parser = argparse.ArgumentParser(prog="bench onec")
    parser.add_argument("--products", help="comma-separated sizes (default: 2000; --full: 2000,20000)")
    parser.add_argument("--full", action="store_true", help="also 20,000 products (a few minutes more)")
    parser.add_argument("--quick", action="store_true", help="2,000 products (the default)")
    parser.add_argument("--no-drain", action="store_true", help="re-import without waiting for the worker")
    args = parser.parse_args(argv)
    default = FULL if args.full else QUICK
    sizes = [int(n) for n in args.products.split(",")] if args.products else list(default)
    head = (
        f"{'run':<26} {'products':>9} {'XML MB':>7} {'exchange s':>11} {'vs first':>9} {'products/s':>11} "
        f"{'drained s':>10} {'imports':>8} {'changed':>8} {'remote writes':>14} {'peak RSS MB':>12}"
    )
    print(head, flush=True)
    for products in sizes:
        result = _isolated(products, not args.no_drain)
        first = result["rounds"][0]["exchange"]
        for name, r in zip(ROUNDS, result["rounds"], strict=True):
            rate = products / r["exchange"]
            drained = "—" if r["drained"] is None else f"{r['drained']:.2f}"
            writes = "—" if r["writes"] is None else str(r["writes"])
            ratio = f"{r['exchange'] / first:.3f}×"
            print(
                f"{name:<26} {products:>9} {result['mb']:>7.0f} {r['exchange']:>11.2f} {ratio:>9} "
                f"{rate:>11.0f} {drained:>10} {r['calls']:>8} {r['changed']:>8} {writes:>14} "
                f"{result['rss_mb']:>12.0f}",
                flush=True,
            )
    print(
        "\ngoals (issue 14, at 100k products): first import to success ≤ 30 s, unchanged re-import ≤ 5 s "
        "with 0 remote writes, RSS flat with size"
    )


__all__ = ["main"]
