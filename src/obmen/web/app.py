"""The web app: liveness, readiness, Prometheus metrics, a JSON status and a live status page.

Webhooks and the 1C exchange endpoint mount here as their connectors land; the app only ever
enqueues keys and answers at once (ARCHITECTURE §2.1).
"""

from __future__ import annotations

import html
import time
from collections.abc import Callable
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from obmen.store.database import Database, head_revision
from obmen.store.state import JournalEntry
from obmen.store.status import Status, read_status
from obmen.web.exchange import ExchangeEndpoint
from obmen.web.hooks import Bitrix24Hooks
from obmen.web.hooks import routes as hook_routes

__all__ = ["Metrics", "create_app", "status_json"]


class Metrics:
    """Prometheus metrics; also the engine's observer of applied writes."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
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


def status_json(status: Status) -> dict[str, Any]:
    """The status as JSON-safe data (the API, and `obmen status --json`)."""
    return {
        "queue": [{"entity": e, "state": s, "count": c} for (e, s), c in sorted(status.queue.items())],
        "depth": status.depth,
        "parked": {"total": status.parked_total, "items": status.parked},
        "conflicts": {"total": status.conflicts_total, "items": status.conflicts},
        "checkpoints": status.checkpoints,
        "linked": [{"entity": e, "system": s, "count": c} for (e, s), c in sorted(status.linked.items())],
        "recent": status.recent,
    }


def _page(status: Status) -> str:
    def table(title: str, heads: list[str], rows: list[list[Any]]) -> str:
        head = "".join(f"<th>{html.escape(h)}</th>" for h in heads)
        body = "".join(
            "<tr>" + "".join(f"<td>{html.escape(str(v))}</td>" for v in row) + "</tr>" for row in rows
        )
        return f"<h2>{html.escape(title)}</h2><table><tr>{head}</tr>{body or '<tr><td>—</td></tr>'}</table>"

    parts = [
        table(
            "Очередь / Queue",
            ["entity", "state", "items"],
            [[e, s, c] for (e, s), c in sorted(status.queue.items())],
        ),
        table(
            "Последние изменения / Recent propagations",
            ["time", "entity", "object", "action", "from", "to", "status", "trigger"],
            [
                [
                    time.strftime("%H:%M:%S", time.localtime(r["at"])),
                    r["entity"],
                    r["canonical_id"][:8],
                    r["action"],
                    r["source_system"] or "",
                    r["target_system"],
                    r["status"],
                    r["trigger"],
                ]
                for r in status.recent
            ],
        ),
        table(
            f"Отложено / Parked ({status.parked_total})",
            ["key", "attempts", "reason"],
            [[p["key"], p["attempts"], p["reason"]] for p in status.parked],
        ),
        table(
            f"Конфликты / Conflicts ({status.conflicts_total})",
            ["entity", "object", "field", "candidates"],
            [[c["entity"], c["canonical_id"][:8], c["field"], c["candidates"]] for c in status.conflicts],
        ),
    ]
    style = (
        "body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}"
        "td,th{border:1px solid #ccc;padding:4px 8px}"
    )
    return (
        "<!doctype html><html lang='ru'><head><meta charset='utf-8'><meta http-equiv='refresh' content='2'>"
        f"<title>obmen</title><style>{style}</style></head><body><h1>obmen</h1>{''.join(parts)}</body></html>"
    )


def create_app(
    db: Database,
    *,
    tenant: str = "default",
    metrics: Metrics | None = None,
    clock: Callable[[], float] = time.time,
    bitrix24: Bitrix24Hooks | None = None,
    onec: ExchangeEndpoint | None = None,
) -> Starlette:
    """Build the app around an open store."""
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

    async def api_status(_: Request) -> Response:
        return JSONResponse(status_json(await status_now()))

    async def home(_: Request) -> Response:
        return HTMLResponse(_page(await status_now()))

    return Starlette(
        routes=[
            Route("/", home),
            Route("/healthz", healthz),
            Route("/readyz", readyz),
            Route("/metrics", prometheus),
            Route("/api/status", api_status),
            *(hook_routes(bitrix24) if bitrix24 else []),
            *(onec.routes() if onec else []),
        ]
    )
