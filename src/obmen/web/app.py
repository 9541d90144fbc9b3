"""The web app: liveness, readiness, Prometheus metrics, and the operator's routes (web.status_page).

The routes of each integration (Bitrix24's hooks, 1C's exchange endpoint) are mounted beside them; they
only ever enqueue keys and answer at once (docs/architecture.md §2.1).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, ProcessCollector, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from obmen.connectors.base import RequestCounters
from obmen.store.database import Database, head_revision
from obmen.store.progress import read_loads
from obmen.store.state import JournalEntry
from obmen.store.status import Status, read_status
from obmen.web.context import Dashboard, SideReader
from obmen.web.loads import LOADS_SHOWN
from obmen.web.status_page import routes as status_routes
from obmen.web.status_page import status_json

__all__ = ["Dashboard", "Metrics", "SideReader", "create_app", "status_json"]


class Metrics:
    """Prometheus metrics; also the engine's observer of applied writes."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        # process_cpu_seconds_total and friends: the flows benchmark divides obmen's CPU by its work.
        ProcessCollector(registry=self.registry)
        self.writes = Counter(
            "obmen_writes",
            "Writes applied to remote systems",
            ["entity", "target", "action"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "obmen_propagation_seconds",
            "From a key being enqueued to its write being confirmed",
            ["entity", "target"],
            buckets=(0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 30, 60, 300),
            registry=self.registry,
        )
        self.queue = Gauge(
            "obmen_queue_items", "Work items by entity and state", ["entity", "state"], registry=self.registry
        )
        self.parked = Gauge("obmen_parked_items", "Items parked for an operator", registry=self.registry)
        self.statements = Gauge(
            "obmen_sql_statements", "SQL statements this process sent since start", registry=self.registry
        )
        self.conflicts = Gauge(
            "obmen_open_conflicts", "Conflicts waiting for a person", registry=self.registry
        )
        self.waiting = Gauge(
            "obmen_waiting_items", "Items waiting for a referenced object", registry=self.registry
        )
        self.oldest_wait = Gauge(
            "obmen_oldest_wait_seconds", "How long the oldest waiting item has waited", registry=self.registry
        )
        self.refusing = Gauge(
            "obmen_system_refusing_seconds",
            "How long a system has refused obmen, its breaker open (docs/architecture.md §2.13)",
            ["system"],
            registry=self.registry,
        )

        self.portal_requests = Gauge(
            "obmen_bitrix24_requests", "HTTP requests sent to the portal since start", registry=self.registry
        )
        self.portal_commands = Gauge(
            "obmen_bitrix24_commands",
            "REST commands sent to the portal since start, by method (a batch's under their own)",
            ["method"],
            registry=self.registry,
        )
        self.portal_echoes = Gauge(
            "obmen_bitrix24_echoes_dropped",
            "Online events dropped as echoes of obmen's own writes since start",
            registry=self.registry,
        )
        self.load_total = Gauge(
            "obmen_load_keys", "Keys a load (obmen sync) has enqueued", ["load"], registry=self.registry
        )
        self.load_done = Gauge(
            "obmen_load_done_keys", "Keys of a load reconciled so far", ["load"], registry=self.registry
        )
        self.load_rate = Gauge(
            "obmen_load_rate_keys_per_second",
            "Keys of a load reconciled per second since it began",
            ["load"],
            registry=self.registry,
        )
        self.load_eta = Gauge(
            "obmen_load_eta_seconds",
            "Seconds a load still needs at its rate so far (-1: not known yet)",
            ["load"],
            registry=self.registry,
        )
        self.lease_tick_age = Gauge(
            "obmen_lease_tick_age_seconds",
            "Seconds since the loop holding a lease last made progress",
            ["lease"],
            registry=self.registry,
        )
        self.lease_stalled = Gauge(
            "obmen_lease_stalled",
            "1 when a lease is held but its loop has not moved for several ttls",
            ["lease"],
            registry=self.registry,
        )
        #: Reads the portal client's counters at scrape time (set by the runtime once a portal is attached).
        self.portal: Callable[[], RequestCounters | None] | None = None

    def applied(self, entry: JournalEntry, *, enqueued_at: float | None, now: float) -> None:
        """Count a confirmed write and its propagation latency."""
        self.writes.labels(entry.entity, entry.target_system, entry.action).inc()
        if enqueued_at is not None:
            self.latency.labels(entry.entity, entry.target_system).observe(max(0.0, now - enqueued_at))

    def update(self, status: Status, *, now: float | None = None) -> None:
        """Refresh the gauges from a status snapshot."""
        now = time.time() if now is None else now
        for gauge in (self.load_total, self.load_done, self.load_rate, self.load_eta):
            gauge.clear()
        for load in status.loads[:LOADS_SHOWN]:
            eta = load.eta(now)
            self.load_total.labels(load.name).set(load.total)
            self.load_done.labels(load.name).set(load.done)
            self.load_rate.labels(load.name).set(load.rate(now))
            self.load_eta.labels(load.name).set(-1 if eta is None else eta)
        self.queue.clear()
        for (entity, state), count in status.queue.items():
            self.queue.labels(entity, state).set(count)
        self.parked.set(status.parked_total)
        self.conflicts.set(status.conflicts_total)
        self.waiting.set(status.waiting_total)
        self.oldest_wait.set(status.oldest_wait)
        self.refusing.clear()
        for outage in status.outages:
            self.refusing.labels(outage.system).set(max(0.0, now - outage.since))
        for gauge in (self.lease_tick_age, self.lease_stalled):
            gauge.clear()
        for lease in status.leases:
            if lease["state"] != "expired" and lease["tick_age"] is not None:
                self.lease_tick_age.labels(lease["name"]).set(lease["tick_age"])
                self.lease_stalled.labels(lease["name"]).set(1 if lease["state"] == "stalled" else 0)
        counters = self.portal() if self.portal is not None else None
        if counters is not None:
            self.portal_requests.set(counters.requests)
            self.portal_echoes.set(counters.echoes_dropped)
            for method, count in counters.commands.items():
                self.portal_commands.labels(method).set(count)


def create_app(
    db: Database,
    *,
    tenant: str = "default",
    metrics: Metrics | None = None,
    clock: Callable[[], float] = time.time,
    routes: Sequence[BaseRoute] = (),
    token: str | None = None,
    dashboard: Dashboard | None = None,
) -> Starlette:
    """The app around an open store, with the integrations' `routes`; with `token`, the operator's routes
    want it (web.auth); `dashboard` is what the runtime lends the dashboard (live reads, links, mapping)."""
    metrics = metrics or Metrics()
    metrics.statements.set_function(lambda: db.statements)

    async def status_now() -> Status:
        return await read_status(db, tenant, now=clock())

    async def healthz(_: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def readyz(_: Request) -> Response:
        try:
            revision = await db.revision()
        except Exception as exc:  # any database failure means "not ready", with the reason
            return JSONResponse({"status": "unavailable", "reason": type(exc).__name__}, status_code=503)
        if revision != head_revision():
            reason = (
                f"database at revision {revision}, code expects {head_revision()}: run `obmen db upgrade`"
            )
            return JSONResponse({"status": "unavailable", "reason": reason}, status_code=503)
        return JSONResponse({"status": "ready", "revision": revision})

    async def prometheus(_: Request) -> Response:
        metrics.update(await status_now(), now=clock())
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    async def progress(_: Request) -> Response:
        # Counts only, like /metrics: open without the admin token.
        now = clock()
        loads = (await read_loads(db, tenant))[:LOADS_SHOWN]
        return JSONResponse({"loads": [load.as_json(now) for load in loads]})

    return Starlette(
        routes=[
            # The systems' inbound calls first: the router tries routes in order, and a portal's burst
            # of events should not be matched against every dashboard page first (bench/hooks.py).
            *routes,
            Route("/healthz", healthz),
            Route("/readyz", readyz),
            Route("/metrics", prometheus),
            Route("/api/progress", progress),
            *status_routes(
                db, tenant=tenant, clock=clock, status_now=status_now, token=token, dashboard=dashboard
            ),
        ]
    )
