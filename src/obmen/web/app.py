"""The web app: liveness, readiness, Prometheus metrics, and the operator's routes (web.status_page).

Webhooks and the 1C exchange endpoint mount here as their connectors land; the app only ever
enqueues keys and answers at once (ARCHITECTURE §2.1).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, ProcessCollector, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from obmen.store.database import Database, head_revision
from obmen.store.state import JournalEntry
from obmen.store.status import Status, read_status
from obmen.web.exchange import ExchangeEndpoint
from obmen.web.hooks import Bitrix24Hooks
from obmen.web.hooks import routes as hook_routes
from obmen.web.status_page import routes as status_routes
from obmen.web.status_page import status_json

__all__ = ["Metrics", "PortalCounters", "create_app", "status_json"]


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
        self.conflicts = Gauge(
            "obmen_open_conflicts", "Conflicts waiting for a person", registry=self.registry
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
        #: Reads the portal client's counters at scrape time (set by the runtime once a portal is attached).
        self.portal: Callable[[], PortalCounters] | None = None

    def applied(self, entry: JournalEntry, *, enqueued_at: float | None, now: float) -> None:
        """Count a confirmed write and its propagation latency."""
        self.writes.labels(entry.entity, entry.target_system, entry.action).inc()
        if enqueued_at is not None:
            self.latency.labels(entry.entity, entry.target_system).observe(max(0.0, now - enqueued_at))

    def update(self, status: Status) -> None:
        """Refresh the gauges from a status snapshot."""
        self.queue.clear()
        for (entity, state), count in status.queue.items():
            self.queue.labels(entity, state).set(count)
        self.parked.set(status.parked_total)
        self.conflicts.set(status.conflicts_total)
        if self.portal is not None:
            counters = self.portal()
            self.portal_requests.set(counters.requests)
            self.portal_echoes.set(counters.echoes_dropped)
            for method, count in counters.commands.items():
                self.portal_commands.labels(method).set(count)


@dataclass(frozen=True, slots=True)
class PortalCounters:
    """What the Bitrix24 client has sent since start (`/metrics`, the flows benchmark)."""

    requests: int
    commands: Mapping[str, int]
    echoes_dropped: int


def create_app(
    db: Database,
    *,
    tenant: str = "default",
    metrics: Metrics | None = None,
    clock: Callable[[], float] = time.time,
    bitrix24: Bitrix24Hooks | None = None,
    onec: ExchangeEndpoint | None = None,
    token: str | None = None,
) -> Starlette:
    """Build the app around an open store; with `token`, the operator's routes want it as a Bearer."""
    metrics = metrics or Metrics()

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
        metrics.update(await status_now())
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    return Starlette(
        routes=[
            Route("/healthz", healthz),
            Route("/readyz", readyz),
            Route("/metrics", prometheus),
            *status_routes(db, tenant=tenant, clock=clock, status_now=status_now, token=token),
            *(hook_routes(bitrix24) if bitrix24 else []),
            *(onec.routes() if onec else []),
        ]
    )
