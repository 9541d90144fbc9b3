"""One obmen process: the connectors the settings name, the web app, and the loops that drive them.

`obmen run` and `obmen demo` build a `Runtime` from validated settings. What is configured is wired;
what is not is left out with a log line, never faked. Bitrix24 in application mode starts without its
connector until the portal installs the application: the install callback stores the tokens, binds the
events (bitrix24.md §1.2, §6.1) and attaches the connector to the running engine.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import time
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import uvicorn
from pydantic import SecretStr
from starlette.applications import Starlette

from obmen.config import Bitrix24Settings, Settings
from obmen.connectors.base import Change, Connector
from obmen.connectors.bitrix24.auth import OAuth, TokenFile, Tokens, Webhook
from obmen.connectors.bitrix24.client import Bitrix24Client
from obmen.connectors.bitrix24.connector import Bitrix24Connector
from obmen.connectors.bitrix24.events import OfflineQueue
from obmen.connectors.bitrix24.install import AppInstaller
from obmen.connectors.bitrix24.orders import OrderMapping
from obmen.connectors.onec.connector import onec_connector
from obmen.connectors.site.connector import site_connector
from obmen.store.database import Database
from obmen.store.mirror import MirrorStore
from obmen.store.state import JournalEntry
from obmen.sync.context import Engine, EngineSettings, Observer
from obmen.sync.policy import Policy
from obmen.sync.scheduler import Scheduler, enqueue_changes
from obmen.sync.site import SiteDriver, site_driver
from obmen.sync.worker import Worker, WorkerOptions, worker_name
from obmen.web.app import Metrics, PortalCounters, create_app
from obmen.web.hooks import Bitrix24Hooks
from obmen.web.onec import onec_endpoint

__all__ = ["Runtime", "WebServer", "build_runtime", "engine_for"]

log = logging.getLogger(__name__)

#: `auth_connector` of obmen's own calls: the portal leaves them out of obmen's offline queue (§6.5).
CONNECTOR = "obmen"


class WebServer(uvicorn.Server):
    """uvicorn on the caller's event loop, leaving SIGTERM/SIGINT to the caller (who stops the loops too)."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        """Install nothing: the caller's handlers stop the web app and the worker together."""
        yield


class _Observer:
    """Counts applied writes, and wakes the site exchange when a write went to the site's outbox."""

    def __init__(self, metrics: Metrics) -> None:
        self.metrics = metrics
        self.site: SiteDriver | None = None

    def applied(self, entry: JournalEntry, *, enqueued_at: float | None, now: float) -> None:
        """One confirmed write: count it; push it to the site at once rather than at the next poll."""
        self.metrics.applied(entry, enqueued_at=enqueued_at, now=now)
        if entry.target_system == "site" and self.site is not None:
            self.site.wake()


def _secret(value: SecretStr | None) -> str:
    return value.get_secret_value() if value is not None else ""


def portal_url(portal: str) -> str:
    """`example.bitrix24.ru` or a full URL (a sandbox on http) → the portal's base URL."""
    return portal.rstrip("/") if "//" in portal else f"https://{portal.rstrip('/')}"


@dataclass
class Runtime:
    """A wired obmen: store, engine, connectors, the web app, and the exchange driver of the site."""

    settings: Settings
    db: Database
    engine: Engine
    connectors: dict[str, Connector]
    app: Starlette
    metrics: Metrics
    site: SiteDriver | None = None
    bitrix24: Bitrix24Connector | None = None
    application_token: str = ""
    _closers: list[Callable[[], Awaitable[None]]] = field(default_factory=list)
    _workers: list[Worker] = field(default_factory=list)

    def wake(self) -> None:
        """Keys were just committed by this process (an event, an upload, a pull): claim them now.

        Without it a worker finds them at its next poll; on PostgreSQL, NOTIFY also wakes the others.
        """
        for worker in self._workers:
            worker.wake.set()

    async def run(self, stop: asyncio.Event) -> None:
        """Work, poll and exchange until `stop` is set."""
        w = self.settings.worker
        name = worker_name()
        options = WorkerOptions(
            concurrency=w.concurrency,
            poll_interval=w.poll_interval,
            tenant_lease_seconds=w.tenant_lease_seconds,
            listen_notify=w.listen_notify,
        )
        scheduler = Scheduler(
            self.engine, owner=name, poll_interval=w.poll_interval, resync_interval=w.full_resync_interval
        )
        worker = Worker(self.engine, name=name, options=options)
        self._workers.append(worker)
        loops = [worker.run(stop), scheduler.run(stop)]
        if self.settings.bitrix24.portal and self.settings.bitrix24.mode == "app" and self.bitrix24 is None:
            loops.append(self._await_install(stop))
        if self.site is not None:
            loops.append(self.site.run(stop, interval=self.settings.site.poll_interval, owner=name))
        await asyncio.gather(*loops)

    async def _await_install(self, stop: asyncio.Event, every: float = 2.0) -> None:
        """Attach the portal once its install has stored the tokens, wherever that happened.

        The install callback reaches one `obmen serve` process; a worker started before it would
        otherwise work without the CRM until restarted. The tokens are in the state folder they share.
        """
        store = TokenFile(self.settings.state_dir / "bitrix24-tokens.json")
        while self.bitrix24 is None and not stop.is_set():
            tokens = await store.load()
            if tokens is not None and self.bitrix24 is None:  # the install may have come here meanwhile
                await self.attach_bitrix24(tokens)
                log.info("Bitrix24: the application's tokens arrived; the CRM is attached")
                return
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=every)

    async def aclose(self) -> None:
        """Close the clients and the store."""
        for close in reversed(self._closers):
            try:
                await close()
            except Exception:
                # Shutting down: one client failing to close must not keep the others (or the store) open.
                log.exception("closing %r failed", close)
        await self.db.close()

    async def attach_bitrix24(self, tokens: Tokens | None = None) -> None:
        """Build the Bitrix24 connector (after an install in application mode) and hand it to the engine."""
        s = self.settings.bitrix24
        auth: Webhook | OAuth
        if s.mode == "app":
            store = TokenFile(self.settings.state_dir / "bitrix24-tokens.json")
            tokens = tokens or await store.load()
            if tokens is None:
                log.info("Bitrix24: waiting for the portal to install the application")
                return
            self.application_token = tokens.application_token
            auth = OAuth(
                tokens,
                client_id=s.client_id or "",
                client_secret=_secret(s.client_secret),
                save=store.save,
                load=store.load,
                auth_url=_auth_url(s),
            )
        else:
            base = portal_url(s.portal or "")
            auth = Webhook(f"{base}/rest/{s.webhook_user}/{_secret(s.webhook_token)}/")
        client = Bitrix24Client(
            auth,
            limits=s.limits,
            rate=s.rate,
            burst=s.burst,
            auth_connector=CONNECTOR if s.mode == "app" else None,
        )
        self._closers.append(client.aclose)
        connector = _bitrix24_connector(self.settings, client)
        self.bitrix24 = connector
        self.connectors["bitrix24"] = connector
        self.metrics.portal = lambda: PortalCounters(
            client.requests, dict(client.methods), connector.echoes.dropped
        )


def _auth_url(s: Bitrix24Settings) -> str:
    return f"{s.auth_host.rstrip('/')}/oauth/token/"


def _bitrix24_connector(settings: Settings, client: Bitrix24Client) -> Bitrix24Connector:
    s = settings.bitrix24
    offline = OfflineQueue(client, connector=CONNECTOR) if s.mode == "app" else None
    return Bitrix24Connector(
        client,
        mapping=OrderMapping.from_settings(settings.mapping),
        variations=s.variations,
        offline=offline,
        poll_every=s.poll_every,
        catalog_properties=settings.mapping.catalog_properties,
    )


def engine_for(
    settings: Settings, db: Database, connectors: dict[str, Connector], observer: Observer | None = None
) -> Engine:
    """The engine the settings describe (batching, retries, the field policy) over these connectors."""
    w = settings.worker
    engine_settings = EngineSettings(
        batch_size=w.batch_size,
        lease_seconds=w.lease_seconds,
        max_attempts=w.max_attempts,
        backoff_base=w.backoff_base,
        backoff_cap=w.backoff_max,
    )
    policy = Policy.build(dict(settings.field_policy))
    return Engine(db=db, connectors=connectors, policy=policy, settings=engine_settings, observer=observer)


async def build_runtime(settings: Settings, *, clock: Callable[[], float] = time.time) -> Runtime:
    """Wire everything the settings configure, on a migrated store."""
    db = Database.connect(settings.database.url, pool_size=settings.worker.concurrency + 3)
    connectors: dict[str, Connector] = {}
    metrics = Metrics()
    observer = _Observer(metrics)
    engine = engine_for(settings, db, connectors, observer)
    runtime = Runtime(settings, db, engine, connectors, Starlette(), metrics)
    onec = None
    if settings.onec.login and settings.onec.password:
        connectors["onec"] = onec_connector(
            MirrorStore(db, engine.tenant, "onec", clock=clock), price_type=settings.mapping.price_type
        )
        onec = onec_endpoint(
            db,
            login=settings.onec.login,
            password=_secret(settings.onec.password),
            workdir=settings.state_dir / "exchange",
            clock=clock,
            on_enqueued=runtime.wake,
        )
    else:
        log.info("1C: [onec] login/password not set, the exchange endpoint is off")
    if settings.site.exchange_url and settings.site.login:
        connectors["site"] = site_connector(MirrorStore(db, engine.tenant, "site", clock=clock))
        runtime.site = site_driver(
            db,
            url=settings.site.exchange_url,
            login=settings.site.login,
            password=_secret(settings.site.password),
            clock=clock,
            on_enqueued=runtime.wake,
        )
        runtime._closers.append(runtime.site.client.aclose)
        observer.site = runtime.site
    else:
        log.info("site: [site] exchange_url/login not set, the site exchange is off")
    hooks = None
    if settings.bitrix24.portal:
        await runtime.attach_bitrix24()
        hooks = _hooks(runtime)
    else:
        log.info("Bitrix24: [bitrix24] portal not set, the CRM is off")
    token = _secret(settings.web.admin_token) or None
    runtime.app = create_app(
        db, metrics=metrics, clock=clock, bitrix24=hooks, onec=onec, token=token, tenant=engine.tenant
    )
    return runtime


def _hooks(runtime: Runtime) -> Bitrix24Hooks:
    """Event and install endpoints: keys are enqueued; an install attaches the connector."""
    s = runtime.settings.bitrix24
    if s.mode == "webhook":
        runtime.application_token = _secret(s.outgoing_token)

    async def enqueue(changes: Sequence[Change]) -> int:
        # An invoice event names the invoice; the engine knows it as part of its order (orders.py).
        if runtime.bitrix24 is not None:
            # Notices of obmen's own writes are dropped first: re-reading them learns nothing (echo.py).
            changes = runtime.bitrix24.drop_echoes(changes)
            changes = await runtime.bitrix24.resolve_changes(changes) if changes else []
        queued = await enqueue_changes(runtime.engine, "bitrix24", changes, trigger="bitrix24:event")
        if queued:
            runtime.wake()
        return queued

    install = None
    if s.mode == "app":
        public = (runtime.settings.web.public_url or "").rstrip("/")
        store = TokenFile(runtime.settings.state_dir / "bitrix24-tokens.json")
        installer = AppInstaller(
            portal=urlsplit(portal_url(s.portal or "")).netloc,
            client_id=s.client_id or "",
            client_secret=_secret(s.client_secret),
            save=store.save,
            handler=f"{public}/hooks/bitrix24" if public else None,
            connector=CONNECTOR,
            auth_url=_auth_url(s),
        )

        async def install(tokens: Tokens) -> None:
            await installer(tokens)
            await runtime.attach_bitrix24(await store.load())

    def wake() -> None:
        if runtime.bitrix24 is not None:
            runtime.bitrix24.wake()

    return Bitrix24Hooks(
        application_token=lambda: runtime.application_token,
        enqueue=enqueue,
        install=install,
        wake=wake,
    )


async def serve(settings: Settings, *, web: bool = True, loops: bool = True, log_level: str = "info") -> None:
    """The web app and/or the worker, scheduler and site exchange, until SIGTERM/SIGINT.

    `obmen run` is both; `obmen serve` only the web app (webhooks, the 1C endpoint, the status page) and
    `obmen worker` only the loops, so that each can be scaled on its own over one PostgreSQL.
    """
    runtime = await build_runtime(settings)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    config = uvicorn.Config(runtime.app, host=settings.web.host, port=settings.web.port, log_level=log_level)
    server = WebServer(config)
    serving = asyncio.create_task(server.serve()) if web else None
    try:
        await (runtime.run(stop) if loops else stop.wait())
    finally:
        server.should_exit = True
        if serving is not None:
            await serving
        await runtime.aclose()
