"""Change → visible latency per flow under a steady order load, the three sandboxes and obmen on loopback.

The stack is `obmen.demo.stack.running_stack`: the sandboxes on real sockets, each in a process of its own as
the real systems are (`--threads` puts them in threads of obmen's process, sharing its interpreter
lock), and obmen in one more (as `obmen run`; with `--threads`, on this loop).
It is warmed with the 1C catalog through a real exchange; then customers order on the site at `--rate`
per second for `--seconds` while, in parallel, a manager moves deal stages in the CRM (REST, as a browser
would), customers pay on the site and 1C runs its sale exchange on a schedule. Each change is timed
until it is visible on the other side, read through the sandboxes' control APIs (the portal's
`/_sandbox/dump`, the site's `/_sandbox/orders/{id}`, 1C's `/_sandbox/orders`), so watching spends none
of the portal's REST budget (docs/protocols/bitrix24.md §3). A sample's time is taken when the probe's answer
arrives,
an upper bound: the portal probe's period is printed beside the table.

Goals (issue 5): p50 ≤ 200 ms and p99 ≤ 1 s on push paths (Bitrix24 events); on poll paths the same plus
one poll interval (the change waits at most one interval for the poll that carries it). A change not
seen by the end of the drain counts as missing and fails its goal.

50 orders/s needs ~7.5 requests/s at 0.15 requests per order; a cloud portal drains 2/s
(docs/protocols/bitrix24.md §3),
so the load runs against an `enterprise` portal (`--limits`) and a short cloud row follows for honesty.

Then the rows of the partners' two modes, side by side (`bench/_modes.py`): site order → deal with
`site.mode = "rest"` beside `"exchange"` at a production poll interval, and 1C price → Bitrix24 with
`onec.mode = "odata"` beside the exchange (plus one 1C schedule).

    python -m bench flows [--rate 50] [--seconds 20] [--limits enterprise] [--cloud-seconds 10] [--quick]
                          [--no-modes | --modes-only] [--exchange-interval 180] [--mode-orders 20]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import re
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import sqlalchemy as sa

from bench._modes import measure, table
from obmen.demo.activity import Activity
from obmen.demo.stack import Stack, Tuning, running_stack
from obmen.store.database import sync_url

#: The deal's title «Заказ №N» (connectors/bitrix24/orders.py): how a person finds a site order's deal.
TITLE_NUMBER = re.compile(r"№\s*(\S+)")
#: SQL statements per order obmen may send at 10 orders/s, every flow included (issue 14).
SQL_GOAL = 6.0
#: The stage a manager moves to, and the site status the configured mapping gives it (as the demo).
STAGE, STATUS = "PREPARATION", "P"
PUSH_GOAL, PUSH_GOAL_P99 = 0.2, 1.0
METHOD_LINE = re.compile(r'obmen_bitrix24_commands\{method="([^"]+)"\} (\S+)')


@dataclass
class Flow:
    """One flow's samples, what it is bounded by, and its goal."""

    name: str
    path: str
    interval: float = 0.0  # the poll interval the path waits on (0 on push paths)
    samples: list[float] = field(default_factory=list)
    missing: int = 0

    @property
    def goals(self) -> tuple[float, float]:
        """(p50, p99) goals: the push goals plus one poll interval on poll paths."""
        return PUSH_GOAL + self.interval, PUSH_GOAL_P99 + self.interval

    def met(self) -> bool:
        """Every change seen, and both percentiles within their goals."""
        p50, p99 = self.goals
        return (
            bool(self.samples)
            and not self.missing
            and pct(self.samples, 50) <= p50
            and pct(self.samples, 99) <= p99
        )


def pct(values: list[float], q: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    return ordered[min(len(ordered), max(1, math.ceil(q / 100 * len(ordered)))) - 1]


@dataclass
class Placed:
    """A site order and when it was placed."""

    number: str
    site_id: Any
    at: float
    deal: Any = None


@dataclass
class Run:
    """One load run over one stack: the changes made, the ones awaited, and the flows' samples."""

    stack: Stack
    act: Activity
    rate: float
    seconds: float
    side_rate: float
    onec_every: float
    probe: float
    offers: list[str]
    site_poll: float
    #: `site.mode`: its orders and payments come by the exchange's poll, or by its events ("rest").
    site_mode: str = "exchange"
    placed: dict[str, Placed] = field(default_factory=dict)
    offered: int = 0
    refused: int = 0
    load_seconds: float = 0.0
    moved: dict[str, tuple[Placed, float]] = field(default_factory=dict)  # number → (order, moved at)
    paid: dict[str, tuple[Placed, float]] = field(default_factory=dict)
    in_onec: set[str] = field(default_factory=set)
    dumps: list[float] = field(default_factory=list)
    flows: dict[str, Flow] = field(default_factory=dict)
    loading: bool = True
    siding: bool = True  # the manager and the customers are still making changes
    refusal: str = ""
    started: float = 0.0
    last_deal: float = 0.0

    def __post_init__(self) -> None:
        rest = self.site_mode == "rest"
        site, poll = ("push", 0.0) if rest else ("poll", self.site_poll)
        for flow in (
            Flow("site order → deal in CRM", site, poll),
            Flow("deal stage (CRM) → site status", "push"),
            Flow("site payment → invoice paid", site, poll),
            Flow("site order → order in 1C", "poll", poll + self.onec_every),
        ):
            self.flows[flow.name] = flow

    def sustained(self) -> float:
        """Deals made per second, from the first order to the last deal seen: what obmen kept up with."""
        made = len(self.flow(0).samples)
        return made / (self.last_deal - self.started) if made and self.last_deal > self.started else 0.0

    def flow(self, index: int) -> Flow:
        """The flows in table order."""
        return list(self.flows.values())[index]

    # -- the changes ---------------------------------------------------------------------------------

    async def orders(self) -> None:
        """Customers order at `rate` per second (open loop: a slow answer does not slow the arrivals)."""
        count = max(1, int(self.rate * self.seconds))
        started = self.started = time.monotonic()
        inflight: set[asyncio.Task[None]] = set()
        for i in range(count):
            await asyncio.sleep(max(0.0, started + i / self.rate - time.monotonic()))
            self.offered += 1
            task = asyncio.create_task(self._order(i))
            inflight.add(task)
            task.add_done_callback(inflight.discard)
        await asyncio.wait_for(asyncio.gather(*inflight), timeout=60)
        self.load_seconds = time.monotonic() - started
        self.loading = False

    async def _order(self, i: int) -> None:
        body = {
            "customer": {
                "name": f"Покупатель {i % 200}",
                "email": f"buyer{i % 200}@example.ru",
                "phone": f"+7 912 {i % 200:07d}",
            },
            "items": [{"offer": self.offers[i % len(self.offers)], "quantity": 1 + i % 3}],
            "delivery": {"service": "Курьер", "price": 300},
            "payment": {"system": "Банковская карта", "paid": False},
        }
        at = time.monotonic()
        try:
            reply = await self.act.http.post(f"{self.stack.site}/_sandbox/orders", json=body)
        except httpx.HTTPError as exc:
            self.refused += 1
            self.refusal = self.refusal or f"{type(exc).__name__}: {exc}"
            return
        if reply.status_code != 201:
            self.refused += 1
            self.refusal = self.refusal or f"{reply.status_code} {reply.text[:200]}"
            return
        placed = reply.json()
        self.placed[str(placed["number"])] = Placed(str(placed["number"]), placed["id"], at)

    async def manager_and_payer(self, until: float, least: int) -> None:
        """While the load runs, a manager moves deals and customers pay (`side_rate` changes per second);
        when deals come late, on until `least` changes are made (bounded by `until`)."""
        turn = 0
        while time.monotonic() < until and (self.loading or turn < least):
            await asyncio.sleep(1 / self.side_rate)
            taken = self.moved.keys() | self.paid.keys()
            order = next((p for p in self.placed.values() if p.deal and p.number not in taken), None)
            if order is None:
                continue
            turn += 1
            if turn % 2:
                # The manager's click shares the portal's bucket with obmen (docs/protocols/bitrix24.md §3).
                self.moved[order.number] = (order, time.monotonic())
                await self.act.b24("crm.deal.update", {"id": order.deal, "fields": {"STAGE_ID": STAGE}})
            else:
                self.paid[order.number] = (order, time.monotonic())
                await self.act.site("PATCH", f"/orders/{order.site_id}", {"paid": True})
        self.siding = False

    # -- the watchers ------------------------------------------------------------------------------------

    async def watch_portal(self, until: float) -> None:
        """Deals of site orders, and paid invoices, as a person looking at the portal would find them."""
        deals, paid_flow = self.flow(0), self.flow(2)
        paid_seen: set[str] = set()
        while time.monotonic() < until and (self.siding or self._portal_pending(paid_seen)):
            asked = time.monotonic()
            reply = await self.act.http.get(
                f"{self.stack.bitrix24}/_sandbox/dump", params={"tables": "crm.deal,crm.smart_invoice"}
            )
            tables = (await asyncio.to_thread(json.loads, reply.content))["tables"]
            now = time.monotonic()
            self.dumps.append(now - asked)
            by_deal: dict[str, Placed] = {}
            for deal in tables.get("crm.deal", []):
                found = TITLE_NUMBER.search(str(deal.get("TITLE") or ""))
                order = self.placed.get(found.group(1)) if found else None
                if order is not None:
                    by_deal[str(deal["ID"])] = order
                    if order.deal is None:
                        order.deal, self.last_deal = deal["ID"], now
                        deals.samples.append(now - order.at)
            for invoice in tables.get("crm.smart_invoice", []):
                order = by_deal.get(str(invoice.get("PARENT_ID_2")))
                waited = order and order.number in self.paid and order.number not in paid_seen
                if order and waited and str(invoice.get("STAGE_ID")).endswith(":P"):
                    paid_seen.add(order.number)
                    paid_flow.samples.append(now - self.paid[order.number][1])
            await asyncio.sleep(max(0.0, self.probe - (time.monotonic() - asked)))
        deals.missing = sum(1 for p in self.placed.values() if p.deal is None)
        paid_flow.missing = len(self.paid) - len(paid_seen)

    def _portal_pending(self, paid_seen: set[str]) -> bool:
        return any(p.deal is None for p in self.placed.values()) or len(paid_seen) < len(self.paid)

    async def watch_site(self, until: float) -> None:
        """Site statuses of the moved deals' orders."""
        flow, seen = self.flow(1), set[str]()
        while time.monotonic() < until and (self.siding or len(seen) < len(self.moved)):
            for number, (order, moved) in list(self.moved.items()):
                if number in seen:
                    continue
                if (await self.act.site("GET", f"/orders/{order.site_id}"))["status"] == STATUS:
                    seen.add(number)
                    flow.samples.append(time.monotonic() - moved)
            await asyncio.sleep(0.05)
        flow.missing = len(self.moved) - len(seen)

    async def watch_onec(self, until: float) -> None:
        """1C runs its sale exchange every `onec_every` seconds; each run's new orders are samples."""
        flow = self.flow(3)
        while time.monotonic() < until and (self.loading or len(self.in_onec) < len(self.placed)):
            await asyncio.sleep(self.onec_every)
            await self.act.onec("POST", "/exchange/sale")
            listed = await self.act.onec("GET", "/orders")
            now = time.monotonic()
            for row in listed["orders"] if isinstance(listed, dict) else listed:
                order = self.placed.get(str(row.get("number")))
                if order is not None and order.number not in self.in_onec:
                    self.in_onec.add(order.number)
                    flow.samples.append(now - order.at)
        flow.missing = len(self.placed) - len(self.in_onec)


async def _offers(act: Activity) -> list[str]:
    listed = await act.onec("GET", "/products")
    products = listed["products"] if isinstance(listed, dict) else listed
    ids = [str(o.get("id") or o.get("xml_id")) for p in products for o in p.get("offers") or []]
    ids = ids or [str(p.get("id") or p.get("xml_id")) for p in products]
    # The catalog step sees the site's products; their offers may land a round later (bounded wait).
    for _ in range(600):
        known = [
            i
            for i in ids
            if (await act.http.get(f"{act.stack.site}/_sandbox/offers/{quote(i, safe='')}")).is_success
        ]
        if len(known) == len(ids):
            return ids
        await asyncio.sleep(0.1)
    raise RuntimeError(f"the site knows {len(known)} of 1C's {len(ids)} offers after 60 s")


@dataclass
class Result:
    """What one run printed: its label, flows, load and portal requests."""

    label: str
    run: Run
    requests: int
    warm: float
    depth: int  # obmen's queue when the run ended
    methods: Counter[str]  # portal commands by method (batched ones under their own method)
    cpu: float  # obmen's CPU seconds over the run (its own process; 0 when it shares the bench's)
    wall: float  # the run's seconds, load and drain
    statements: float = 0.0  # SQL statements obmen sent over the run (its `obmen_sql_statements`)


@contextlib.contextmanager
def _database(server: str | None) -> Iterator[dict[str, str]]:
    """A fresh PostgreSQL database on `server` for one run (dropped after), or SQLite in the state dir."""
    if not server:
        yield {}
        return
    admin = sa.create_engine(sync_url(server), isolation_level="AUTOCOMMIT")
    name = f"obmen_flows_{uuid.uuid4().hex[:8]}"
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    url = sa.make_url(server).set(database=name).render_as_string(hide_password=False)
    try:
        yield {"OBMEN_DATABASE__URL": url}
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def _run(label: str, limits: str, args: argparse.Namespace, seconds: float) -> Result:
    with _database(args.pg) as env:
        tuning = Tuning(
            limits=limits,
            site_poll=args.site_poll,
            worker_poll=args.worker_poll,
            worker_concurrency=args.workers,
            b24_poll_every=args.b24_poll_every,
            processes=not args.threads,
            extra_env=env,
            site_mode=args.site_mode,
        )
        where = f"{'PostgreSQL' if env else 'SQLite'}, site {args.site_mode}"
        return asyncio.run(_load(f"{label}, {where}", tuning, args, seconds))


async def _load(label: str, tuning: Tuning, args: argparse.Namespace, seconds: float) -> Result:
    with tempfile.TemporaryDirectory(prefix="bench-flows-") as tmp:
        async with (
            running_stack(Path(tmp) / "state", tuning=tuning) as stack,
            httpx.AsyncClient(timeout=60, limits=httpx.Limits(max_connections=200)) as http,
        ):
            act = Activity(stack, http, timeout=args.warm_timeout)
            started = time.monotonic()
            await act.catalog()
            warm = time.monotonic() - started
            run = Run(
                stack,
                act,
                args.rate,
                seconds,
                args.side_rate,
                args.onec_every,
                args.probe,
                await _offers(act),
                tuning.site_poll,
                tuning.site_mode,
            )
            before, methods_before, cpu_before, sql_before = await _portal_counters(http, stack.obmen)
            began = time.monotonic()
            until = time.monotonic() + seconds + args.drain
            await asyncio.gather(
                run.orders(),
                run.manager_and_payer(until - args.drain / 2, least=10),
                run.watch_portal(until),
                run.watch_site(until),
                run.watch_onec(until),
            )
            after, methods_after, cpu_after, sql_after = await _portal_counters(http, stack.obmen)
            requests, methods = after - before, methods_after - methods_before
            depth = int((await http.get(f"{stack.obmen}/api/status")).json()["depth"])
            wall = time.monotonic() - began
            # In-process (`--threads`) the CPU counter is the sandboxes' and the bench's too: not shown.
            cpu = cpu_after - cpu_before if stack.runtime is None else 0.0
            return Result(label, run, requests, warm, depth, methods, cpu, wall, sql_after - sql_before)


async def _portal_counters(http: httpx.AsyncClient, obmen: str) -> tuple[int, Counter[str], float, float]:
    """obmen's portal requests, commands by method, CPU seconds and SQL statements so far, from its
    `/metrics` (it may run in another process)."""
    text = (await http.get(f"{obmen}/metrics")).text
    requests, methods, cpu, statements = 0, Counter[str](), 0.0, 0.0
    for line in text.splitlines():
        if line.startswith("obmen_bitrix24_requests "):
            requests = int(float(line.split()[-1]))
        elif line.startswith("process_cpu_seconds_total "):
            cpu = float(line.split()[-1])
        elif line.startswith("obmen_sql_statements "):
            statements = float(line.split()[-1])
        elif found := METHOD_LINE.match(line):
            methods[found.group(1)] = int(float(found.group(2)))
    return requests, methods, cpu, statements


def _print(results: list[Result]) -> None:
    heads = ("flow", "path", "n", "lost", "p50", "p99", "max", "goal p50/p99", "met", "p50/int")
    line = "{:<34} {:<5} {:>5} {:>5} {:>7} {:>7} {:>7} {:>13} {:>4} {:>7}"
    for r in results:
        run = r.run
        accepted = len(run.placed)
        achieved = accepted / run.load_seconds if run.load_seconds else 0.0
        dump = pct(run.dumps, 50) if run.dumps else 0.0
        sustained = run.sustained()
        print(
            f"\n[{r.label}] offered {run.offered} orders at {run.rate:g}/s over {run.seconds:g} s,"
            f" accepted {accepted} ({achieved:.1f}/s), refused {run.refused} {run.refusal};"
            f" deals made {sustained:.1f}/s ({sustained / run.rate:.2f}× offered), queue left {r.depth};"
            f" portal requests by obmen {r.requests} ({r.requests / max(1, accepted):.3f}/order,"
            f" {r.requests / max(1, len(run.flow(0).samples)):.2f}/deal made);"
            f" catalog warm-up {r.warm:.1f} s; portal probe p50 {dump * 1000:.0f} ms per dump"
        )
        per_order = ", ".join(f"{m} {n / max(1, accepted):.2f}" for m, n in r.methods.most_common(8))
        print(f"portal commands per order: {per_order}")
        if r.statements and accepted:
            sql = r.statements / accepted
            print(
                f"SQL statements per order: {sql:.1f} (every flow's included; goal ≤ {SQL_GOAL:g},"
                f" {sql / SQL_GOAL:.2f}× of it)"
            )
        made = len(run.flow(0).samples)
        if r.cpu and made:
            print(
                f"obmen's process: {r.cpu:.1f} CPU s in {r.wall:.1f} s ({r.cpu / r.wall:.0%} of one core),"
                f" {r.cpu / made * 1000:.0f} ms per deal made (every flow's work included)"
            )
        print(line.format(*heads))
        for f in run.flows.values():
            if not f.samples:
                print(line.format(f.name, f.path, 0, f.missing, "-", "-", "-", _goal(f), "no", "-"))
                continue
            p50, p99, top = pct(f.samples, 50), pct(f.samples, 99), max(f.samples)
            ratio = f"{p50 / f.interval:.2f}" if f.interval else "-"
            cells = (f"{v:.3f}" for v in (p50, p99, top))
            print(line.format(f.name, f.path, len(f.samples), f.missing, *cells, _goal(f), _yes(f), ratio))


def _goal(f: Flow) -> str:
    p50, p99 = f.goals
    return f"{p50:.2f}/{p99:.2f}"


def _yes(f: Flow) -> str:
    return "yes" if f.met() else "no"


def main(argv: list[str]) -> None:
    """Run the load against a portal without the cloud bucket, then a short cloud row; print the table."""
    parser = argparse.ArgumentParser(prog="bench flows")
    parser.add_argument("--rate", type=float, default=50.0, help="site orders per second")
    parser.add_argument("--seconds", type=float, default=20.0, help="how long the load runs")
    parser.add_argument("--limits", choices=("enterprise", "off"), default="enterprise")
    parser.add_argument("--cloud-seconds", type=float, default=10.0, help="the cloud row (0 skips it)")
    parser.add_argument("--side-rate", type=float, default=2.0, help="stage moves + payments per second")
    parser.add_argument("--onec-every", type=float, default=5.0, help="1C's sale exchange interval, s")
    parser.add_argument(
        "--site-poll", type=float, help="[site] poll_interval, s (1 in exchange mode, 5 with the events)"
    )
    parser.add_argument(
        "--site-mode",
        choices=("exchange", "rest"),
        default="exchange",
        help="[site] mode: orders by the exchange's poll, or by the site's events and REST",
    )
    parser.add_argument("--worker-poll", type=float, default=0.2, help="[worker] poll_interval, s")
    parser.add_argument("--workers", type=int, default=2, help="[worker] concurrency")
    parser.add_argument("--b24-poll-every", type=float, default=5.0, help="[bitrix24] poll_every, s")
    parser.add_argument("--probe", type=float, default=0.1, help="portal probe period, s")
    parser.add_argument("--drain", type=float, default=30.0, help="how long to wait after the load, s")
    parser.add_argument("--warm-timeout", type=float, default=180.0, help="catalog warm-up bound, s")
    parser.add_argument(
        "--threads", action="store_true", help="serve the sandboxes from threads of obmen's process"
    )
    parser.add_argument("--pg", help="run obmen on PostgreSQL (a fresh database on this server)")
    parser.add_argument("--quick", action="store_true", help="a smoke run: 10/s for 5 s, cloud 3 s")
    modes = parser.add_argument_group("the partners' modes side by side (bench/_modes.py)")
    modes.add_argument("--no-modes", action="store_true", help="skip the rows of both modes")
    modes.add_argument("--modes-only", action="store_true", help="only the rows of both modes")
    modes.add_argument("--mode-orders", type=int, default=20, help="site orders in rest mode")
    modes.add_argument("--exchange-orders", type=int, default=12, help="site orders in exchange mode")
    modes.add_argument(
        "--exchange-interval", type=float, default=180.0, help="the site exchange's production poll, s"
    )
    modes.add_argument("--mode-samples", type=int, default=5, help="1C price changes per mode")
    args = parser.parse_args(argv)
    if args.site_poll is None:
        args.site_poll = 5.0 if args.site_mode == "rest" else 1.0
    if args.quick:
        args.rate, args.seconds, args.drain = 10.0, 5.0, 15.0
        args.cloud_seconds = min(args.cloud_seconds, 3.0)
        args.mode_orders, args.exchange_orders, args.exchange_interval = 8, 6, 20.0
        args.mode_samples = 3
    if not args.modes_only:
        _flows(args)
    if not args.no_modes:
        print("\nthe site's and 1C's modes, side by side", flush=True)
        print(table(measure(args)))


def _flows(args: argparse.Namespace) -> None:
    results = [_run(f"{args.limits} portal", args.limits, args, args.seconds)]
    _print(results)
    if args.cloud_seconds > 0:
        results.append(_run("cloud portal", "cloud", args, args.cloud_seconds))
        print("\nside by side")
        _print(results)
