"""The `obmen` command: a thin sync wrapper around the async core (STYLE §6.17).

Every command loads and validates the configuration once; a bad configuration prints one line naming
the file, key, value and what is allowed, and exits with code 2.
"""

from __future__ import annotations

import asyncio
import json
import logging
import signal
import sys
from collections.abc import Coroutine
from pathlib import Path
from typing import Annotated, Any, NoReturn, TypeVar

import typer
from rich.console import Console
from rich.table import Table

from obmen.cli_run import demo_command, run_runtime
from obmen.cli_sandbox import sandbox_app
from obmen.config import Settings, load_settings
from obmen.connectors.base import Connector
from obmen.errors import ConfigError
from obmen.store.database import Database, upgrade
from obmen.store.status import read_status
from obmen.sync.scheduler import Scheduler
from obmen.sync.worker import Worker, WorkerOptions, worker_name

__all__ = ["app", "main"]

T = TypeVar("T")

app = typer.Typer(
    help="obmen: two-way sync of 1C:Enterprise, a 1C-Bitrix site and Bitrix24 CRM.",
    no_args_is_help=True,
    add_completion=False,
)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(sandbox_app, name="sandbox")
app.command("demo")(demo_command)
console = Console()

ConfigOption = Annotated[
    Path | None,
    typer.Option(
        "--config",
        "-c",
        help="TOML configuration file (default: ./obmen.toml if it exists).",
        envvar="OBMEN_CONFIG",
    ),
]


def _fail(message: str) -> NoReturn:
    """One plain line on stderr (never wrapped: scripts and tests read it) and exit code 2."""
    sys.stderr.write(f"obmen: {message}\n")
    raise typer.Exit(2)


def _settings(path: Path | None) -> Settings:
    if path is None and Path("obmen.toml").exists():
        path = Path("obmen.toml")
    try:
        return load_settings(path)
    except ConfigError as exc:
        _fail(str(exc))


def _run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


def _fakes(specs: list[str], latency: float = 0.0, overlaps: Path | None = None) -> dict[str, Connector]:
    """Fake systems stored in SQLite files: `onec=/tmp/onec.db` (rehearsals, scale-out tests)."""
    from obmen.testing import FakeSystem, Knobs  # only when asked for: it is a test double

    fields = {
        "counterparty": ["name", "emails", "phones", "comment"],
        "order": ["number", "status", "comment"],
    }
    systems: dict[str, Connector] = {}
    for spec in specs:
        name, sep, path = spec.partition("=")
        if not sep or not name or not path:
            _fail(f"--fake {spec!r}: expected SYSTEM=PATH, e.g. onec=/tmp/onec.db")
        knobs = Knobs(latency=latency)
        systems[name] = FakeSystem(
            name, fields=fields, path=path, knobs=knobs, overlaps=str(overlaps) if overlaps else None
        )
    return systems


@db_app.command("upgrade")
def db_upgrade(config: ConfigOption = None) -> None:
    """Create or migrate the database schema to the newest revision."""
    settings = _settings(config)
    revision = upgrade(settings.database.url)
    console.print(f"database at revision {revision}")


@app.command()
def worker(
    config: ConfigOption = None,
    fake: Annotated[list[str], typer.Option(help="Use a fake system SYSTEM=PATH (rehearsals, tests).")] = [],  # noqa: B006
    concurrency: Annotated[int | None, typer.Option(help="Batches in flight at once.")] = None,
    tenant_lease: Annotated[bool, typer.Option(help="Own the tenant (its rate limiter) exclusively.")] = True,
    schedule: Annotated[
        bool, typer.Option(help="Also poll change feeds and run the periodic full resync.")
    ] = True,
    fake_latency: Annotated[float, typer.Option(help="Added latency of fake systems, seconds.")] = 0.0,
    fake_overlaps: Annotated[
        Path | None, typer.Option(help="Record overlapping reads of fakes here.")
    ] = None,
) -> None:
    """Claim and reconcile work until SIGTERM or SIGINT; in-flight batches finish first."""
    settings = _settings(config)
    logging.basicConfig(level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if not fake:
        if not (settings.onec.login or settings.site.exchange_url or settings.bitrix24.portal):
            _fail(
                "no system to sync: configure [onec], [site] or [bitrix24] (see obmen.example.toml); "
                "--fake SYSTEM=PATH runs a rehearsal"
            )
        _run(run_runtime(settings, web=False))
        return
    connectors = _fakes(fake, fake_latency, fake_overlaps)
    _run(_work(settings, connectors, concurrency, tenant_lease, schedule))


async def _work(
    settings: Settings,
    connectors: dict[str, Connector],
    concurrency: int | None,
    tenant_lease: bool,
    schedule: bool,
) -> None:
    db = Database.connect(settings.database.url, pool_size=(concurrency or settings.worker.concurrency) + 3)
    from obmen.runtime import engine_for

    engine = engine_for(settings, db, connectors)
    w = settings.worker
    options = WorkerOptions(
        concurrency=concurrency or w.concurrency,
        poll_interval=w.poll_interval,
        tenant_lease_seconds=w.tenant_lease_seconds,
        tenant_lease=tenant_lease,
        listen_notify=w.listen_notify,
    )
    name = worker_name()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    tasks = [Worker(engine, name=name, options=options).run(stop)]
    if schedule:
        scheduler = Scheduler(
            engine, owner=name, poll_interval=w.poll_interval, resync_interval=w.full_resync_interval
        )
        tasks.append(scheduler.run(stop))
    try:
        await asyncio.gather(*tasks)
    finally:
        await db.close()


@app.command()
def serve(config: ConfigOption = None) -> None:
    """The web app: 1C exchange endpoint, Bitrix24 hooks, status page, /healthz, /readyz, /metrics."""
    settings = _settings(config)
    if settings.web.admin_token is None and settings.web.host not in ("127.0.0.1", "localhost", "::1"):
        logging.getLogger("obmen").warning(
            "web.host is %s and web.admin_token is not set: the operator's page and API are open to anyone "
            "who reaches this address / страница оператора открыта всем",
            settings.web.host,
        )
    logging.basicConfig(level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    _run(run_runtime(settings, loops=False))


@app.command()
def run(config: ConfigOption = None) -> None:
    """Everything the configuration names, in one process: web app, worker, scheduler, site exchange."""
    settings = _settings(config)
    logging.basicConfig(level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    _run(run_runtime(settings))


@app.command()
def status(
    config: ConfigOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
    timeline_of: Annotated[
        str | None,
        typer.Option(
            "--timeline",
            help="What happened to one object: entity:canonical_id or entity:system:external_id "
            "(order:site:132).",
        ),
    ] = None,
) -> None:
    """Queue depth, parked items, open conflicts and per-source checkpoints; or one object's timeline."""
    import time

    settings = _settings(config)
    if timeline_of is not None:
        _timeline(settings, timeline_of, as_json=as_json)
        return

    async def read() -> Any:
        db = Database.connect(settings.database.url)
        try:
            return await read_status(db, "default", now=time.time())
        finally:
            await db.close()

    snapshot = _run(read())
    if as_json:
        from obmen.web.app import status_json

        sys.stdout.write(json.dumps(status_json(snapshot), ensure_ascii=False, default=str, indent=2) + "\n")
        return
    queue = Table("entity", "state", "items", title=f"Queue / очередь: {snapshot.depth}")
    for (entity, state), count in sorted(snapshot.queue.items()):
        queue.add_row(entity, state, str(count))
    console.print(queue)
    parked = Table("key", "attempts", "reason", title=f"Parked / отложено: {snapshot.parked_total}")
    for item in snapshot.parked:
        parked.add_row(item["key"], str(item["attempts"]), item["reason"])
    console.print(parked)
    conflicts = Table(
        "entity", "object", "field", "candidates", title=f"Conflicts / конфликты: {snapshot.conflicts_total}"
    )
    for c in snapshot.conflicts:
        conflicts.add_row(c["entity"], c["canonical_id"], c["field"], c["candidates"])
    console.print(conflicts)
    checkpoints = Table("source", "checkpoint", "updated", title="Checkpoints / контрольные точки")
    for cp in snapshot.checkpoints:
        checkpoints.add_row(
            cp["source"],
            str(cp["value"]),
            time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(cp["updated_at"])),
        )
    console.print(checkpoints)


def _timeline(settings: Settings, target: str, *, as_json: bool) -> None:
    """Print what happened to one object; exit code 1 when obmen knows nothing of it."""
    from obmen.store.timeline import parse_target, timeline, timeline_json, timeline_lines

    try:
        entity, key = parse_target(target)
    except ValueError as exc:
        _fail(str(exc))

    async def story() -> Any:
        db = Database.connect(settings.database.url)
        try:
            return await timeline(db, "default", entity, key)
        finally:
            await db.close()

    found = _run(story())
    if as_json:
        sys.stdout.write(json.dumps(timeline_json(found), ensure_ascii=False, default=str, indent=2) + "\n")
    else:
        for line in timeline_lines(found):
            console.print(line, markup=False, highlight=False)
    if not found.found:
        raise typer.Exit(1)


def main() -> None:
    """Entry point of the `obmen` script."""
    app()
