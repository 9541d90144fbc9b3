"""Site order → deal latency with the site in `rest` mode (events) beside `exchange` mode (polled).

Each mode gets its own stack of the three sandboxes and obmen on loopback (threads of this process): in `rest`
mode the site posts its sale events to obmen's `/hooks/site` and obmen reads the order through REST
(docs/protocols/site-rest.md §6); in `exchange` mode obmen pulls orders with the site's 1C exchange every
`--exchange-interval` seconds, a production interval (real sites are polled every few minutes, since one
round exports every changed order as XML). Both are warmed with the 1C catalog; then customers order at
`--rate` per second (a latency run: one order at a time, as a shop's day brings them; the throughput under
load is `bench/flows.py`'s), spread over `--exchange-rounds` intervals in exchange mode so that orders land
at every point of the poll's cycle; the portal is an `enterprise` one, so its bucket does not queue them.
Each order is timed until its deal shows in the portal (read from the sandbox's `/_sandbox/dump`, every
`PROBE` seconds: a sample is an upper bound by that much).

Goals (issue 16): rest mode p50 ≤ 1 s, p99 ≤ 2 s; exchange mode waits for the poll, so its p50 is about half
an interval and its p99 about one.

    python -m bench site_modes [--orders 20] [--rate 0.5] [--exchange-interval 60] [--exchange-orders 12]
                               [--exchange-rounds 2] [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import math
import random
import re
import tempfile
import time
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from obmen.demo.activity import CUSTOMER, Activity, _first_offer
from obmen.demo.stack import Stack, Tuning, running_stack
from obmen.testing.site_rest import rest_stack

GOAL_P50, GOAL_P99 = 1.0, 2.0
PROBE = 0.05
TITLE_NUMBER = re.compile(r"№\s*(\S+)")


def pct(values: list[float], q: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    return ordered[min(len(ordered), max(1, math.ceil(q / 100 * len(ordered)))) - 1]


@dataclass
class Row:
    """One mode's samples."""

    mode: str
    path: str
    interval: float
    orders: int = 0
    samples: list[float] = field(default_factory=list)
    missing: int = 0
    site_requests: int | None = None


async def _deal_numbers(http: httpx.AsyncClient, b24: str) -> set[str]:
    reply = await http.get(f"{b24}/_sandbox/dump", params={"tables": "crm.deal"})
    found = set()
    for deal in reply.json()["tables"].get("crm.deal", []):
        match = TITLE_NUMBER.search(str(deal.get("TITLE") or ""))
        if match:
            found.add(match.group(1))
    return found


async def _measure(
    stack: Stack, row: Row, *, orders: int, spread: float, drain: float, rng: random.Random
) -> None:
    async with httpx.AsyncClient(timeout=60) as http:
        day = Activity(stack, http, timeout=180)
        await day.catalog()
        products = await day.onec("GET", "/products")
        offer = _first_offer(products["products"] if isinstance(products, dict) else products)
        await day.on_sale(offer)
        await day.settled()
        before = await _site_requests(http, stack)
        placed: dict[str, float] = {}
        seen: dict[str, float] = {}
        started = time.monotonic()
        offsets = sorted(rng.uniform(0, spread) for _ in range(orders))

        async def customers() -> None:
            for i, at in enumerate(offsets):
                await asyncio.sleep(max(0.0, started + at - time.monotonic()))
                customer = {**CUSTOMER, "email": f"bench{i}@example.ru", "phone": f"+7912{i:07d}"}
                body = {
                    "customer": customer,
                    "items": [{"offer": offer, "quantity": 1}],
                    "delivery": {"service": "Курьер", "price": 300},
                    "payment": {"system": "Банковская карта", "paid": False},
                }
                reply = await http.post(f"{stack.site}/_sandbox/orders", json=body)
                placed[str(reply.json()["number"])] = time.monotonic()

        load = asyncio.create_task(customers())
        deadline = started + spread + drain
        while time.monotonic() < deadline and not (load.done() and len(seen) == orders):
            for number in await _deal_numbers(http, stack.bitrix24):
                if number in placed and number not in seen:
                    seen[number] = time.monotonic()
            await asyncio.sleep(PROBE)
        await load
        row.samples = [seen[n] - placed[n] for n in seen]
        row.missing = orders - len(seen)
        after = await _site_requests(http, stack)
        if before is not None and after is not None:
            row.site_requests = after - before


async def _site_requests(http: httpx.AsyncClient, stack: Stack) -> int | None:
    reply = await http.get(f"{stack.site}/_sandbox/rest/calls")
    return sum(reply.json().values()) if reply.status_code == 200 else None


def _table(rows: list[Row]) -> str:
    head = f"{'mode':<9} {'path':<28} {'poll':>6} {'orders':>6} {'p50':>8} {'p99':>8} {'max':>8}  goal"
    lines = [head, "-" * len(head)]
    for r in rows:
        if r.samples:
            p50, p99, top = pct(r.samples, 50), pct(r.samples, 99), max(r.samples)
            cells = f"{p50:7.2f}s {p99:7.2f}s {top:7.2f}s"
        else:
            p50 = p99 = math.inf
            cells = f"{'-':>8} {'-':>8} {'-':>8}"
        if r.mode == "rest":
            met = not r.missing and p50 <= GOAL_P50 and p99 <= GOAL_P99
            goal = f"p50 ≤ {GOAL_P50:g} s, p99 ≤ {GOAL_P99:g} s: {'met' if met else 'NOT met'}"
        else:
            goal = f"bounded by the poll: p50 ≈ {r.interval / 2:g} s, p99 ≈ {r.interval:g} s"
        seen = f"{len(r.samples)}/{r.orders}" if r.missing else str(len(r.samples))
        lines.append(f"{r.mode:<9} {r.path:<28} {r.interval:5.0f}s {seen:>6} {cells}  {goal}")
    for r in rows:
        if r.site_requests and r.samples:
            lines.append(
                f"{r.mode}: {r.site_requests / max(1, len(r.samples)):.1f} site REST requests per order"
            )
    return "\n".join(lines)


async def run(args: argparse.Namespace) -> list[Row]:
    """Both modes, one after the other."""
    rng = random.Random(16)
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="obmen-bench-site-") as scratch:
        modes: list[tuple[Row, Callable[[], AbstractAsyncContextManager[Stack]], float, float]] = [
            (
                Row("rest", "events → REST read", args.rest_poll),
                lambda: rest_stack(
                    Path(scratch) / "rest", events="webhook", site_poll=args.rest_poll, limits=args.limits
                ),
                args.orders / args.rate,
                15.0,
            ),
            (
                Row("exchange", "1c_exchange.php query", args.exchange_interval),
                lambda: running_stack(
                    Path(scratch) / "exchange",
                    tuning=Tuning(limits=args.limits, site_poll=args.exchange_interval),
                ),
                args.exchange_interval * args.exchange_rounds,
                args.exchange_interval + 30.0,
            ),
        ]
        for row, stack_of, spread, drain in modes:
            if row.mode not in args.modes:
                continue
            orders = row.orders = args.orders if row.mode == "rest" else args.exchange_orders
            print(f"{row.mode}: {orders} orders over {spread:.0f} s …", flush=True)
            async with stack_of() as stack:
                await _measure(stack, row, orders=orders, spread=spread, drain=drain, rng=rng)
            rows.append(row)
    return rows


def main(argv: list[str]) -> None:
    """`python -m bench site_modes …`: print the table."""
    parser = argparse.ArgumentParser(prog="python -m bench site_modes")
    parser.add_argument("--orders", type=int, default=20, help="orders in rest mode")
    parser.add_argument("--rate", type=float, default=0.5, help="orders per second in rest mode")
    parser.add_argument(
        "--limits", default="enterprise", help="the portal's plan (a latency run, not a cloud throughput one)"
    )
    parser.add_argument("--modes", nargs="+", default=["rest", "exchange"], choices=["rest", "exchange"])
    parser.add_argument("--rest-poll", type=float, default=5.0, help="rest mode's modification poll, s")
    parser.add_argument("--exchange-interval", type=float, default=60.0, help="exchange poll interval, s")
    parser.add_argument("--exchange-rounds", type=float, default=2.0, help="intervals the orders spread over")
    parser.add_argument("--exchange-orders", type=int, default=12, help="orders in exchange mode")
    parser.add_argument("--quick", action="store_true", help="a short run: 20 s interval, fewer orders")
    args = parser.parse_args(argv)
    if args.quick:
        args.orders, args.rate, args.exchange_interval, args.exchange_orders = 10, 1.0, 20.0, 8
    rows = asyncio.run(run(args))
    print()
    print(_table(rows))
