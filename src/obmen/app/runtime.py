"""One obmen process: the integrations the settings configure, the engine, the web app, and their loops.

`obmen run` and `obmen demo` build a `Runtime` from validated settings. Each connector package's `setup`
turns the settings into an `Integration` (or declines, with a log line: what is not configured is left
out, never faked); the runtime knows none of them by name. An integration may attach its connector later
(Bitrix24 in application mode, once the portal has installed the application).
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import signal
import time
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Literal

import uvicorn
from starlette.applications import Starlette

from obmen.app.facts import keep_facts
from obmen.config.settings import Settings, exposure
from obmen.connectors.base import Connector, Integration, RequestCounters, SetupContext
from obmen.connectors.bitrix24.setup import setup as bitrix24_setup
from obmen.connectors.onec.setup import setup as onec_setup
from obmen.connectors.site.setup import setup as site_setup
from obmen.engine.context import Engine, EngineSettings, Observer
from obmen.engine.peek import read_sides
from obmen.engine.policy import Policy
from obmen.engine.scheduler import Scheduler
from obmen.engine.worker import Worker, WorkerOptions, worker_name
from obmen.errors import ConfigError
from obmen.store.database import Database
from obmen.store.keeper import Leases
from obmen.store.private import private_dir
from obmen.store.state import JournalEntry
from obmen.web.app import Dashboard, Metrics, create_app

__all__ = ["SETUPS", "SYSTEMS", "Runtime", "WebServer", "build_runtime", "engine_for", "serve"]

log = logging.getLogger(__name__)

#: Every system obmen can connect, in the order they are built.
Setup = Callable[[Settings, SetupContext], Awaitable[Integration | None]]
SETUPS: Sequence[Setup] = (onec_setup, site_setup, bitrix24_setup)
#: The system each of `SETUPS` builds (named here for what a setup declines: `obmen check` says which).
SYSTEMS: Sequence[str] = ("onec", "site", "bitrix24")


class WebServer(uvicorn.Server):
    """uvicorn on the caller's event loop, leaving SIGTERM/SIGINT to the caller (who stops the loops too)."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        """Install nothing: the caller's handlers stop the web app and the worker together."""
        yield


@dataclass
class _Observer:
    """The engine's observer: every confirmed write is counted and told to the integrations."""

    metrics: Metrics
    integrations: dict[str, Integration]

    def applied(self, entry: JournalEntry, *, enqueued_at: float | None, now: float) -> None:
        """One confirmed write."""
        self.metrics.applied(entry, enqueued_at=enqueued_at, now=now)
        for integration in self.integrations.values():
            if integration.applied is not None:
                integration.applied(entry)


@dataclass
class Runtime:
    """A wired obmen: store, engine, integrations and the web app."""

    settings: Settings
    db: Database
    engine: Engine
    connectors: dict[str, Connector]
    app: Starlette
    metrics: Metrics
    integrations: dict[str, Integration] = field(default_factory=dict)
    _workers: list[Worker] = field(default_factory=list)

    def wake(self) -> None:
        """Keys were just committed by this process (an event, an upload, a pull): claim them now.

        Without it a worker finds them at its next poll; on PostgreSQL, NOTIFY also wakes the others.
        """
        for worker in self._workers:
            worker.wake.set()

    def attach(self, connector: Connector) -> None:
        """A connector that became available after start joins the engine."""
        self.connectors[connector.system] = connector

    def counters(self) -> RequestCounters | None:
        """The portal client's counters for `/metrics`, once a client is attached."""
        for integration in self.integrations.values():
            if integration.counters is not None:
                return integration.counters()
        return None

    async def run(self, stop: asyncio.Event, *, resync_now: bool = True) -> None:
        """Work, poll and run every integration's loops until `stop` is set; `resync_now=False` leaves the
        first full resync for one `full_resync_interval` later (a process started for one load)."""
        w = self.settings.worker
        # One holder per process (host:pid:random): a restarted process is a new holder, and takes the
        # leases of the dead one over once they lapse, a ttl later (docs/operations.md §10).
        leases = Leases(self.db, worker_name(), ttl=w.tenant_lease_seconds, clock=self.engine.clock)
        options = WorkerOptions(
            concurrency=w.concurrency,
            poll_interval=w.poll_interval,
            tenant_lease_seconds=w.tenant_lease_seconds,
            listen_notify=w.listen_notify,
        )
        scheduler = Scheduler(
            self.engine,
            leases=leases,
            poll_interval=w.poll_interval,
            resync_interval=w.full_resync_interval,
            resync_now=resync_now,
        )
        worker = Worker(self.engine, options=options, leases=leases)
        self._workers.append(worker)
        loops: list[Awaitable[None]] = [worker.run(stop), scheduler.run(stop), leases.run(stop)]
        loops += [loop(stop, leases) for i in self.integrations.values() for loop in i.loops]
        await asyncio.gather(*loops)

    async def aclose(self) -> None:
        """Close the clients and the store."""
        for integration in reversed(list(self.integrations.values())):
            for close in reversed(integration.closers):
                try:
                    await close()
                except Exception:
                    # Shutting down: one client failing to close must not keep the others (or the store) open.
                    log.exception("closing %r failed", close)
        await self.db.close()


def engine_for(
    settings: Settings, db: Database, connectors: dict[str, Connector], observer: Observer | None = None
) -> Engine:
    """The engine the settings describe (batching, retries, the field policy) over these connectors."""
    w = settings.worker
    engine_settings = EngineSettings(
        batch_size=w.batch_size,
        lease_seconds=w.lease_seconds,
        max_attempts=w.max_attempts,
        max_wait=w.max_wait,
        backoff_base=w.backoff_base,
        backoff_cap=w.backoff_max,
        probe_first=w.probe_first,
        probe_cap=w.probe_max,
    )
    policy = Policy.build(dict(settings.field_policy))
    return Engine(db=db, connectors=connectors, policy=policy, settings=engine_settings, observer=observer)


async def build_runtime(settings: Settings, *, clock: Callable[[], float] = time.time) -> Runtime:
    """Wire everything the settings configure, on a migrated store."""
    private_dir(settings.state_dir)  # the database, tokens and uploads live here (docs/operations.md §8.5)
    db = Database.connect(settings.database.url, pool_size=settings.worker.concurrency + 3)
    connectors: dict[str, Connector] = {}
    metrics = Metrics()
    integrations: dict[str, Integration] = {}
    engine = engine_for(settings, db, connectors, _Observer(metrics, integrations))
    runtime = Runtime(settings, db, engine, connectors, Starlette(), metrics, integrations)
    ctx = SetupContext(
        db=db,
        tenant=engine.tenant,
        state_dir=settings.state_dir,
        clock=clock,
        wake=runtime.wake,
        attach=runtime.attach,
    )
    for setup in SETUPS:
        integration = await setup(settings, ctx)
        if integration is not None:
            runtime.integrations[integration.system] = integration
            if integration.connector is not None:
                runtime.attach(integration.connector)
    metrics.portal = runtime.counters
    token = settings.web.admin_token.get_secret_value() if settings.web.admin_token else None
    routes = [route for i in runtime.integrations.values() for route in i.routes]
    dashboard = Dashboard(
        read_sides=lambda entity, cid: read_sides(engine, entity, cid),
        portal_url=settings.bitrix24.portal,
        site_exchange_url=settings.site.exchange_url,
        mapping=settings.mapping,
        counters=runtime.counters,
        refresh_facts=lambda: keep_facts(runtime.integrations.values(), db, engine.tenant),
    )
    runtime.app = create_app(
        db,
        metrics=metrics,
        clock=clock,
        routes=routes,
        token=token,
        tenant=engine.tenant,
        dashboard=dashboard,
    )
    return runtime


async def serve(
    settings: Settings,
    *,
    web: bool = True,
    loops: bool = True,
    log_level: str = "info",
    http: Literal["auto", "h11", "httptools"] = "auto",
) -> None:
    """The web app and/or the worker, scheduler and integration loops, until SIGTERM/SIGINT.

    `obmen run` is both; `obmen serve` only the web app (webhooks, the 1C endpoint, the status page) and
    `obmen worker` only the loops, so that each can be scaled on its own over one PostgreSQL. `http` is
    uvicorn's HTTP parser: `auto` takes httptools (a dependency) where it is installed.
    """
    problem = exposure(settings.web) if web else None
    if problem:
        raise ConfigError(problem)
    runtime = await build_runtime(settings)
    # What start-up built (modules, tables, compiled statements) lives as long as the process: frozen, a
    # full collection does not walk it again, so it is no pause in the middle of a burst of events.
    gc.freeze()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    config = uvicorn.Config(
        runtime.app, host=settings.web.host, port=settings.web.port, log_level=log_level, http=http
    )
    server = WebServer(config)
    serving = asyncio.create_task(server.serve()) if web else None
    try:
        await (runtime.run(stop) if loops else stop.wait())
    finally:
        server.should_exit = True
        if serving is not None:
            await serving
        await runtime.aclose()
