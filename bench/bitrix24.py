"""Bitrix24 bulk writes: our connector beside fast-bitrix24's own batching, same workload, same limits.

Each runner gets a fresh sandbox portal with cloud limits (a leaky bucket of 50 draining 2 per second,
operating time reported) in real time on a real loopback socket, and runs the same phases: 2,000
product cards created, their offers (price and quantity) written, the cards updated; 1,000 orders
created (the buyer deduplicated by phone with `crm.duplicate.findbycomm` against 30 % existing contacts,
missing contacts created, the deal with its rows, a smart invoice with its rows linked by `parentId2`:
our connector writes all four as one chained plan per order) and updated (stage, rows of the deal and
the invoice, paid: the invoice stage; the peer writes blind with the ids it made, ours writes from what
its own creates answered, as it would from the reconciler's read, crm/trust.py, and fills each batch to
50 commands).
Requests are counted by the server, 503s included.
fast-bitrix24 runs twice: as shipped, and inside its own `slow()` (one request in flight); a runner
that gives up (fast-bitrix24 stops after 10 successive failures) is reported as such.

The ceiling is 100 commands/s (2 requests/s × 50 commands). The first phase rides on the empty bucket's
burst, so read the later phases for the steady state.

    python -m bench bitrix24 [--scale 0.1] [--no-peer] [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from obmen.config.mapping import PipelineMap
from obmen.connectors.base import Create, Update
from obmen.connectors.bitrix24.client.auth import Webhook
from obmen.connectors.bitrix24.client.rest import Bitrix24Client
from obmen.connectors.bitrix24.connector import Bitrix24Connector
from obmen.connectors.bitrix24.crm.orders import OrderMapping
from obmen_sandbox.bitrix24 import Bitrix24Sandbox
from obmen_sandbox.serving import serve_in_thread

HOOK = "1/benchtoken"
PIPELINE = PipelineMap(status_to_stage={"N": "NEW", "P": "PREPARATION"})
MAPPING = OrderMapping(pipelines={"default": PIPELINE})


@dataclass
class Row:
    runner: str
    phase: str
    entities: int
    seconds: float
    requests: int
    refused: int
    #: Why the phase did not finish (the runner gave up), or None.
    failed: str | None = None

    @property
    def rate(self) -> float:
        return self.entities / self.seconds if self.seconds else float("inf")

    @property
    def per_entity(self) -> float:
        return self.requests / self.entities if self.entities else 0.0


class Counting:
    """ASGI wrapper that counts REST requests and 503 refusals as the portal sees them."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.requests = 0
        self.refused = 0

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or not scope["path"].startswith("/rest/"):
            await self.app(scope, receive, send)
            return
        self.requests += 1

        async def spy(message: Any) -> None:
            if message["type"] == "http.response.start" and message["status"] == 503:
                self.refused += 1
            await send(message)

        await self.app(scope, receive, spy)


def _guid(n: int) -> str:
    return str(uuid.UUID(int=n + 1))


def _money(amount: float) -> dict[str, str]:
    return {"amount": f"{amount:.2f}".rstrip("0").rstrip("."), "currency": "RUB"}


def _phone(customer: int) -> str:
    return f"+7901{customer:07d}"


def _line(order: int, k: int) -> dict[str, Any]:
    return {
        "offer": None,
        "name": f"Товар {order}-{k}",
        "quantity": "2",
        "price": _money(100 + k),
        "discount": _money(10) if k == 0 else None,
        "vat_rate": "20",
    }


@dataclass
class Workload:
    products: int
    orders: int

    @property
    def customers(self) -> int:
        return max(1, self.orders * 7 // 10)

    @property
    def existing(self) -> int:
        return self.customers * 3 // 10

    def seed(self, sandbox: Bitrix24Sandbox) -> None:
        """Contacts that exist before the run: 30 % of the buyers are found, not created."""
        contacts = [
            {"NAME": f"Покупатель {c}", "PHONE": [{"VALUE": _phone(c), "VALUE_TYPE": "WORK"}]}
            for c in range(self.existing)
        ]
        sandbox.seed({"crm.contact": contacts})


Phase = Callable[[], Awaitable[int]]


async def _measure(runner: str, name: str, counter: Counting, phase: Phase) -> Row:
    requests, refused = counter.requests, counter.refused
    start = time.perf_counter()
    failed: str | None = None
    try:
        entities = await phase()
    except Exception as exc:  # the peer may give up; the table says so instead of the run dying
        entities, failed = 0, f"{type(exc).__name__}: {exc}"[:120]
    seconds = time.perf_counter() - start
    return Row(
        runner, name, entities, seconds, counter.requests - requests, counter.refused - refused, failed
    )


async def _ours(url: str, work: Workload, counter: Counting) -> list[Row]:
    async with Bitrix24Client(Webhook(f"{url}/rest/{HOOK}/"), limits="cloud") as client:
        b24 = Bitrix24Connector(client, mapping=MAPPING)
        products: list[str] = []
        orders: list[str] = []

        async def create_products() -> int:
            ops = [
                Create(
                    "product", uuid.uuid4().hex, {"name": f"Товар {i}", "xml_id": _guid(i), "active": True}
                )
                for i in range(work.products)
            ]
            products.extend(_ok(await b24.write(ops)))
            return len(ops)

        async def write_offers() -> int:
            ops = [
                Create(
                    "offer",
                    uuid.uuid4().hex,
                    {
                        "product": {"$ref": "product", "id": p},
                        "prices": [
                            {"price_type": {"$ref": "price_type", "id": "1"}, "value": _money(100 + i)}
                        ],
                        "stock": [
                            {"warehouse": {"$ref": "warehouse", "id": "1"}, "quantity": str(i % 7 + 1)}
                        ],
                    },
                )
                for i, p in enumerate(products)
            ]
            _ok(await b24.write(ops))
            return len(ops)

        async def update_products() -> int:
            ops = [Update("product", p, {"name": f"Товар {i} (новый)"}) for i, p in enumerate(products)]
            _ok(await b24.write(ops))
            return len(ops)

        async def create_orders() -> int:
            buyers = sorted({i % work.customers for i in range(work.orders)})
            found = await b24.match("counterparty", [("phones", _phone(c)) for c in buyers])
            missing = [c for c in buyers if ("phones", _phone(c)) not in found]
            made = _ok(
                await b24.write(
                    [
                        Create(
                            "counterparty",
                            uuid.uuid4().hex,
                            {"kind": "person", "name": f"Покупатель {c}", "phones": [_phone(c)]},
                        )
                        for c in missing
                    ]
                )
            )
            party = {**{c: found[("phones", _phone(c))] for c in buyers if ("phones", _phone(c)) in found}}
            party.update(zip(missing, made, strict=True))
            # Each order: the deal, its rows, its smart invoice and the invoice's rows (one chained plan).
            orders.extend(
                _ok(
                    await b24.write(
                        [Create("order", uuid.uuid4().hex, _order(i, party)) for i in range(work.orders)]
                    )
                )
            )
            return work.orders

        async def update_orders() -> int:
            _ok(await b24.write([Update("order", d, CHANGED) for d in orders]))
            return len(orders)

        return await _phases(
            "obmen", counter, create_products, write_offers, update_products, create_orders, update_orders
        )


def _ok(results: Any) -> list[str]:
    failed = [r.error for r in results if not r.ok]
    if failed:
        raise RuntimeError(f"{len(failed)} writes failed, first: {failed[0]!r}")
    return [str(r.external_id) for r in results]


def _order(i: int, party: dict[int, str]) -> dict[str, Any]:
    lines = [_line(i, k) for k in range(3)]
    return {
        "number": str(i),
        "status": "N",
        "customer": {"$ref": "counterparty", "id": party[i % len(party)]},
        "total": _money(700),
        "lines": lines,
        "delivery": {"service": "Курьер", "price": _money(300), "address": None},
        "payments": [{"system": "Картой", "amount": _money(700), "paid": False, "paid_at": None}],
    }


#: The update phase: the stage moves, the lines change, the order is paid (the invoice stage follows).
CHANGED: dict[str, Any] = {
    "status": "P",
    "lines": [_line(0, 0)],
    "payments": [{"system": "Картой", "amount": _money(700), "paid": True, "paid_at": None}],
}


async def _phases(runner: str, counter: Counting, *phases: Phase) -> list[Row]:
    names = (
        "products: create",
        "offers: price + qty",
        "products: update",
        "orders: create",
        "orders: update",
    )
    rows: list[Row] = []
    for name, phase in zip(names, phases, strict=True):
        rows.append(await _measure(runner, name, counter, phase))
        _print(rows[-1:], head=len(rows) == 1)
        if rows[-1].failed:
            break  # later phases build on this one
    return rows


def _peer(name: str, **options: Any) -> Callable[[str, Workload, Counting], Awaitable[list[Row]]]:
    async def run(url: str, work: Workload, counter: Counting) -> list[Row]:
        from bench._bitrix24_peer import peer_phases

        return await _phases(name, counter, *peer_phases(f"{url}/rest/{HOOK}/", work, **options))

    return run


def _run(runner: Callable[[str, Workload, Counting], Awaitable[list[Row]]], work: Workload) -> list[Row]:
    sandbox = Bitrix24Sandbox(webhook=HOOK, limits="cloud")
    work.seed(sandbox)
    counter = Counting(sandbox.app)
    with serve_in_thread(counter) as url:
        return asyncio.run(runner(url, work, counter))


def _print(rows: list[Row], *, head: bool = True) -> None:
    heads = ("runner", "phase", "entities", "seconds", "entities/s", "requests", "req/entity", "503s")
    if head:
        print(f"{heads[0]:<14} {heads[1]:<20} " + " ".join(f"{h:>10}" for h in heads[2:]))
    for r in rows:
        if r.failed:
            note = f"gave up after {r.seconds:.1f} s, {r.requests} requests, {r.refused} 503s: {r.failed}"
            print(f"{r.runner:<14} {r.phase:<20} {note}", flush=True)
            continue
        cells = f"{r.entities:>10} {r.seconds:>10.1f} {r.rate:>10.1f} {r.requests:>10} {r.per_entity:>10.3f}"
        print(f"{r.runner:<14} {r.phase:<20} {cells} {r.refused:>10}", flush=True)


def main(argv: list[str]) -> None:
    """Run both runners on the workload and print the table."""
    parser = argparse.ArgumentParser(prog="bench bitrix24")
    parser.add_argument("--scale", type=float, default=1.0, help="fraction of 2,000 products / 1,000 orders")
    parser.add_argument("--no-peer", action="store_true", help="skip fast-bitrix24")
    parser.add_argument("--quick", action="store_true", help="--scale 0.1 (what `python -m bench` runs)")
    args = parser.parse_args(argv)
    if args.quick:
        args.scale = min(args.scale, 0.1)
    work = Workload(products=max(1, int(2000 * args.scale)), orders=max(2, int(1000 * args.scale)))
    print(f"{work.products} products, {work.orders} orders, {work.customers} buyers ({work.existing} exist)")
    rows = _run(_ours, work)
    if not args.no_peer:
        # fast-bitrix24 as shipped (pool 50, 2/s: the portal's own numbers), and in its slow() mode.
        rows += _run(_peer("fast-bitrix24"), work)
        rows += _run(_peer("fb slow()", slow=True), work)
    print("\nside by side")
    _print(rows)
    _ratios(rows)


def _ratios(rows: list[Row]) -> None:
    """obmen beside fast-bitrix24 as shipped, per phase: the ratio of rates and the requests of each."""
    ours = {r.phase: r for r in rows if r.runner == "obmen" and not r.failed}
    peer = {r.phase: r for r in rows if r.runner == "fast-bitrix24" and not r.failed}
    shared = [phase for phase in ours if phase in peer]
    if not shared:
        return
    print("\nobmen vs fast-bitrix24 (goal for orders: update: ≥ 1.0× entities/s, fewer requests)")
    for phase in shared:
        a, b = ours[phase], peer[phase]
        print(f"{phase:<20} {a.rate / b.rate:>6.2f}× entities/s   requests {a.requests} vs {b.requests}")
