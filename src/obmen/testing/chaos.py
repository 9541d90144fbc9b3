"""The chaos run (issue 13): a shop's load while obmen is killed -9 and the network misbehaves.

The three sandboxes and obmen run in processes of their own (`obmen.demo.stack`, whose supervisor restarts
obmen on the same state when it dies). 1C uploads its catalog, customers place site orders at a steady
rate and 1C runs its sale exchange on a schedule, while the portal fails a share of its calls (500 pages,
hangs ending in 504, calls carried out whose answer is lost), loses, duplicates and reorders its events
(docs/protocols/bitrix24.md §3, §6.4), and obmen's process is killed with SIGKILL at random moments: one
of them during a 1C upload (the catalog, then sale runs) and one during a site exchange round (held in
the middle by the site sandbox's delay fault). Afterwards the run waits until every system agrees with
the others (`chaos_census`) and tells how long that took. `python -m bench chaos` prints the table;
`tests/integration/test_chaos.py` runs a bounded plan and asserts 0 lost, 0 duplicated, converged.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx

from obmen.demo.stack import Stack, Tuning, running_stack
from obmen.testing.chaos_census import Census, take_census

__all__ = ["Kill", "Plan", "Report", "run_chaos"]

#: What a kill is timed to: a 1C upload, a site exchange round, or any moment.
KINDS = ("site", "any", "1c")
#: Uploads a kill timed to one may be tried on before it is told it landed outside every one of them.
_TRIES = 10


@dataclass(frozen=True)
class Plan:
    """The run's size and its faults; the defaults are the issue's full run but for the catalog."""

    orders: int = 1000
    kills: int = 20
    #: Site orders per second (open loop).
    rate: float = 5.0
    #: A folder of CommerceML files 1C's infobase is loaded from (the demo's dozen products if None).
    fixture: Path | None = None
    #: How many of 1C's offers the customers order (spread over the catalog).
    offers: int = 40
    customers: int = 200
    error_rate: float = 0.05
    timeout_rate: float = 0.025
    lost_rate: float = 0.025
    timeout_seconds: float = 2.0
    drop: float = 0.2
    duplicate: float = 0.1
    reorder: float = 0.1
    #: 1C's sale exchange schedule, seconds.
    onec_every: float = 5.0
    #: How long the systems may take to agree after the load, seconds.
    converge_timeout: float = 600.0
    limits: str = "enterprise"
    seed: int = 13

    def faults(self) -> dict[str, Any]:
        """The portal's `/_sandbox/faults` body."""
        return {
            "error_rate": self.error_rate,
            "timeout_rate": self.timeout_rate,
            "lost_rate": self.lost_rate,
            "timeout_seconds": self.timeout_seconds,
            "events": {"drop": self.drop, "duplicate": self.duplicate, "reorder": self.reorder},
            "seed": self.seed,
        }


@dataclass(frozen=True)
class Kill:
    """One kill -9: what it was timed to, and whether that was still under way when it landed."""

    kind: str
    at: float
    during: bool


@dataclass
class Report:
    """What the run did and what every system held at its end."""

    plan: Plan
    census: Census
    kills: list[Kill] = field(default_factory=list)
    restarts: int = 0
    catalog_seconds: float = 0.0
    load_seconds: float = 0.0
    #: From the last order and the last kill until every system agreed (None: not within the bound).
    converge_seconds: float | None = None
    refused: int = 0


@dataclass
class _Run:
    plan: Plan
    stack: Stack
    http: httpx.AsyncClient
    rng: random.Random
    say: Callable[[str], None]
    report: Report
    placed: set[str] = field(default_factory=set)
    onec_lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    sale_seconds: float = 0.5
    #: How long 1C's last catalog upload took, answered or not (the next kill timed to one is timed by it).
    catalog_call_seconds: float = 0.3
    started: float = field(default_factory=time.monotonic)

    # -- kills --------------------------------------------------------------------------------------

    async def kill(self, kind: str, during: asyncio.Task[bool] | bool = True) -> None:
        """kill -9 obmen's process; wait until the supervisor runs it again on the same state.

        `during` is what the kill was timed to: a task still running when it lands, or a known answer.
        """
        restarts, pid = self.stack.restarts, self.stack.pids["obmen"]
        os.kill(pid, signal.SIGKILL)
        under_way = during if isinstance(during, bool) else not during.done()
        landed = Kill(kind, time.monotonic() - self.started, under_way)
        self.report.kills.append(landed)
        self.say(f"kill -9 obmen (pid {pid}) during {kind}: {'yes' if landed.during else 'no'}")
        deadline = time.monotonic() + 60
        while self.stack.restarts == restarts:
            if time.monotonic() > deadline:
                raise RuntimeError("obmen was not restarted within 60 s of its kill")
            await asyncio.sleep(0.1)
        self.report.restarts = self.stack.restarts

    async def kill_during_sale(self) -> None:
        """A kill while 1C's sale run talks to obmen (timed by the last runs; tried up to `_TRIES` times)."""
        for _ in range(_TRIES):
            async with self.onec_lock:
                task = asyncio.create_task(self._onec("sale"))
                await asyncio.sleep(self.sale_seconds * self.rng.uniform(0.2, 0.8))
                if not task.done():
                    await self.kill("1c", task)
                    await asyncio.gather(task, return_exceptions=True)
                    return
                await task
        await self.kill("1c", False)

    async def kill_during_site_round(self) -> None:
        """A kill while obmen waits for the site's answer in the middle of an exchange round."""
        faults = f"{self.stack.site}/_sandbox/faults"
        mode = self.rng.choice(("query", "success"))
        fault = {"kind": "delay", "seconds": 3.0, "type": "sale", "mode": mode, "times": 1}
        await self.http.post(faults, json=fault)
        armed = await self._until_taken(faults, time.monotonic() + 30)
        await self.http.delete(faults)
        await self.kill(f"site {mode}", not armed)

    async def _until_taken(self, faults: str, deadline: float) -> bool:
        """Wait until the armed fault is taken by a request; False once taken (True: still armed)."""
        armed = True
        while armed and time.monotonic() < deadline:
            armed = bool((await self.http.get(faults)).json())
            await asyncio.sleep(0.05 if armed else 0)
        return armed

    async def killer(self, count: int, seconds: float) -> None:
        """`count` kills at random moments over `seconds`, each timed to a kind in turn."""
        begun = time.monotonic()
        for i in range(count):
            at = begun + seconds * (i + self.rng.random()) / count
            await asyncio.sleep(max(0.0, at - time.monotonic()))
            kind = KINDS[i % len(KINDS)]
            if kind == "site":
                await self.kill_during_site_round()
            elif kind == "1c":
                await self.kill_during_sale()
            else:
                await self.kill("any moment")

    # -- 1C ------------------------------------------------------------------------------------------

    async def _onec(self, kind: str, body: Any = None) -> bool:
        started = time.monotonic()
        try:
            reply = await self.http.post(f"{self.stack.onec}/_sandbox/exchange/{kind}", json=body)
        except httpx.HTTPError:
            return False
        finally:
            if kind == "catalog":
                self.catalog_call_seconds = time.monotonic() - started
        if kind == "sale" and reply.status_code == 200:
            self.sale_seconds = time.monotonic() - started
        return reply.status_code == 200

    async def onec_schedule(self, stop: asyncio.Event) -> None:
        """1C's scheduled sale exchange; a failed run (obmen was killed) waits for the next."""
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=self.plan.onec_every)
            async with self.onec_lock:
                await self._onec("sale")

    async def catalog(self) -> None:
        """1C's full catalog upload, killed once on the way (as 1C would, it runs again until it passes)."""
        started, delay = time.monotonic(), 0.3
        if self.plan.kills:
            for _ in range(_TRIES):
                task = asyncio.create_task(self._onec("catalog", {"changes_only": False}))
                await asyncio.sleep(delay)
                if not task.done():
                    await self.kill("1c catalog", task)
                    await asyncio.gather(task, return_exceptions=True)
                    break
                await task
                # It ended before the kill (a small catalog, or one sent again and not read): the next
                # kill lands inside the next upload, timed by how long this one took.
                delay = self.catalog_call_seconds * self.rng.uniform(0.2, 0.6)
            else:
                await self.kill("1c catalog", False)
        for _ in range(20):
            if await self._onec("catalog", {"changes_only": False}):
                break
            await asyncio.sleep(1)
        else:
            raise RuntimeError("1C's catalog upload failed 20 times")
        self.report.catalog_seconds = time.monotonic() - started

    async def offers(self) -> list[str]:
        """The offers customers order, once the storefront sells each of them."""
        products = (await self.http.get(f"{self.stack.onec}/_sandbox/products")).json()
        products = products["products"] if isinstance(products, dict) else products
        ids = [str(o.get("id") or o.get("xml_id")) for p in products for o in p.get("offers") or []]
        step = max(1, len(ids) // self.plan.offers)
        chosen = ids[::step][: self.plan.offers]
        deadline = time.monotonic() + self.plan.converge_timeout
        waiting = set(chosen)
        while waiting:
            if time.monotonic() > deadline:
                missing = sorted(waiting)[:3]
                raise RuntimeError(f"{len(waiting)} offers are not on sale on the site: {missing}")
            for offer in list(waiting):
                reply = await self.http.get(f"{self.stack.site}/_sandbox/offers/{quote(offer, safe='')}")
                if reply.status_code == 200 and reply.json().get("prices"):
                    waiting.discard(offer)
            await asyncio.sleep(0.5 if waiting else 0)
        return chosen

    # -- the load ------------------------------------------------------------------------------------

    async def orders(self, offers: list[str]) -> None:
        """Customers order at `plan.rate` per second; each order is placed once (the site is not faulted)."""
        begun = time.monotonic()
        for i in range(self.plan.orders):
            await asyncio.sleep(max(0.0, begun + i / self.plan.rate - time.monotonic()))
            who = i % self.plan.customers
            body = {
                "customer": {
                    "name": f"Покупатель {who}",
                    "email": f"buyer{who}@example.ru",
                    "phone": f"+7 912 {who:07d}",
                },
                "items": [{"offer": offers[i % len(offers)], "quantity": 1 + i % 3}],
                "delivery": {"service": "Курьер", "price": 300},
                "payment": {"system": "Банковская карта", "paid": False},
            }
            reply = await self.http.post(f"{self.stack.site}/_sandbox/orders", json=body)
            if reply.status_code != 201:
                self.report.refused += 1
                continue
            self.placed.add(str(reply.json()["number"]))
        self.report.load_seconds = time.monotonic() - begun

    async def converge(self) -> Census:
        """Census every two seconds until every system agrees, or the plan's bound passes."""
        begun, seen = time.monotonic(), list[int]()
        while True:
            census = await take_census(self.http, self.stack, self.placed)
            if census.converged:
                self.report.converge_seconds = time.monotonic() - begun
                # The catalog is counted once, at the end: 1C's upload was killed on its way.
                return await take_census(self.http, self.stack, self.placed, catalog=True)
            if time.monotonic() - begun > self.plan.converge_timeout:
                return census
            if len(seen) % 5 == 0:
                self.say(f"{time.monotonic() - begun:.0f} s: {_progress(census)}")
            seen.append(census.lost)
            await asyncio.sleep(2)


def _progress(census: Census) -> str:
    """Where the systems stand: what is missing where, and obmen's queue."""
    missing = ", ".join(f"no {what} {n}" for what, n in census.missing.items() if n) or "-"
    return (
        f"deals {census.deals}, invoices {census.invoices}, 1C orders {census.onec_orders},"
        f" lost {census.lost} ({missing}), duplicates {census.duplicates}, parked {census.parked},"
        f" obmen's queue {census.depth}"
    )


async def run_chaos(plan: Plan, state_dir: Path, say: Callable[[str], None] = lambda _: None) -> Report:
    """Run `plan` on a fresh stack in `state_dir`; the report holds the final census."""
    tuning = Tuning(limits=plan.limits, processes=True)
    async with (
        running_stack(state_dir, fixture=plan.fixture, tuning=tuning, say=say) as stack,
        httpx.AsyncClient(timeout=120, limits=httpx.Limits(max_connections=50)) as http,
    ):
        report = Report(plan, Census(set()))
        run = _Run(plan, stack, http, random.Random(plan.seed), say, report)
        (await http.post(f"{stack.bitrix24}/_sandbox/faults", json=plan.faults())).raise_for_status()
        await run.catalog()
        say(f"catalog uploaded in {report.catalog_seconds:.1f} s")
        offers = await run.offers()
        stop = asyncio.Event()
        schedule = asyncio.create_task(run.onec_schedule(stop))
        try:
            seconds = plan.orders / plan.rate
            await asyncio.gather(run.orders(offers), run.killer(max(0, plan.kills - 1), seconds))
            say(f"{len(run.placed)} orders placed in {report.load_seconds:.1f} s; waiting for agreement")
            report.census = await run.converge()
        finally:
            stop.set()
            await schedule
        return report
