"""A worker over fake systems kept in SQLite files: `python -m obmen.testing.worker --fake onec=/tmp/onec.db`.

The scale-out tests start several of these as real processes over one PostgreSQL; it is a test double,
so it is not part of the `obmen` command.
"""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path
from typing import Annotated

import typer

from obmen.app.runtime import engine_for
from obmen.cli.common import ConfigOption, fail, log_to_stderr, settings_from
from obmen.config.settings import Settings
from obmen.connectors.base import Connector
from obmen.engine.scheduler import Scheduler
from obmen.engine.worker import Worker, WorkerOptions, worker_name
from obmen.store.database import Database
from obmen.store.keeper import Leases
from obmen.testing.fakes import FakeSystem, Knobs

__all__ = ["fakes", "main"]

#: What the fake systems carry.
FIELDS = {
    "counterparty": ["name", "emails", "phones", "comment"],
    "order": ["number", "status", "comment"],
}


def fakes(specs: list[str], latency: float = 0.0, overlaps: Path | None = None) -> dict[str, Connector]:
    """Fake systems stored in SQLite files, one per `SYSTEM=PATH`."""
    systems: dict[str, Connector] = {}
    for spec in specs:
        name, sep, path = spec.partition("=")
        if not sep or not name or not path:
            fail(f"--fake {spec!r}: expected SYSTEM=PATH, e.g. onec=/tmp/onec.db")
        systems[name] = FakeSystem(
            name,
            fields=FIELDS,
            path=path,
            knobs=Knobs(latency=latency),
            overlaps=str(overlaps) if overlaps else None,
        )
    return systems


def command(
    fake: Annotated[list[str], typer.Option(help="A fake system SYSTEM=PATH.")],
    config: ConfigOption = None,
    concurrency: Annotated[int | None, typer.Option(help="Batches in flight at once.")] = None,
    tenant_lease: Annotated[bool, typer.Option(help="Own the tenant (its rate limiter) exclusively.")] = True,
    schedule: Annotated[bool, typer.Option(help="Also poll change feeds and run the full resync.")] = True,
    fake_latency: Annotated[float, typer.Option(help="Added latency of the fakes, seconds.")] = 0.0,
    fake_overlaps: Annotated[Path | None, typer.Option(help="Record overlapping reads here.")] = None,
) -> None:
    """Claim and reconcile work over the fakes until SIGTERM or SIGINT."""
    settings = settings_from(config)
    log_to_stderr(settings)
    connectors = fakes(fake, fake_latency, fake_overlaps)
    asyncio.run(_work(settings, connectors, concurrency, tenant_lease, schedule))


async def _work(
    settings: Settings,
    connectors: dict[str, Connector],
    concurrency: int | None,
    tenant_lease: bool,
    schedule: bool,
) -> None:
    db = Database.connect(settings.database.url, pool_size=(concurrency or settings.worker.concurrency) + 3)
    engine = engine_for(settings, db, connectors)
    w = settings.worker
    options = WorkerOptions(
        concurrency=concurrency or w.concurrency,
        poll_interval=w.poll_interval,
        tenant_lease_seconds=w.tenant_lease_seconds,
        tenant_lease=tenant_lease,
        listen_notify=w.listen_notify,
    )
    leases = Leases(db, worker_name(), ttl=w.tenant_lease_seconds, clock=engine.clock)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    tasks = [Worker(engine, options=options, leases=leases).run(stop), leases.run(stop)]
    if schedule:
        scheduler = Scheduler(
            engine, leases=leases, poll_interval=w.poll_interval, resync_interval=w.full_resync_interval
        )
        tasks.append(scheduler.run(stop))
    try:
        await asyncio.gather(*tasks)
    finally:
        await db.close()


def main() -> None:
    """Entry point of `python -m obmen.testing.worker`."""
    typer.run(command)


if __name__ == "__main__":
    main()
