"""1C price change → Bitrix24 latency, `onec.mode = "odata"` beside `"exchange"`, side by side.

Each mode gets a stack of its own (the three sandboxes and obmen on loopback, `obmen.demo.stack`):

- `odata + ping`: the ObmenPing extension pings obmen, which re-reads the offer through OData;
- `odata, polled`: no extension; obmen finds the change by its own poll (`onec.odata_poll_interval`);
- `exchange`: 1C's change-only catalog exchange is started the moment the price is typed, so the figure
  is the run and the propagation alone; in production the change first waits for 1C's schedule
  («Использовать периодический обмен данными», typically 5–60 minutes, docs/protocols/onec.md §A2), which
  the table adds as its own column.

A sample is the time from the price typed in 1C (its control API) to the new price read in the portal's
`/_sandbox/dump` (no REST budget spent on watching). Goal (issue 16): ≤ 5 s in odata mode.

    python -m bench onec_modes [--samples 5] [--poll 2.0] [--processes]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import statistics
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx

from obmen.demo.activity import Activity
from obmen.demo.stack import Stack, Tuning, running_stack
from obmen.testing.odata_stack import OdataTuning, odata_stack

GOAL = 5.0
SCHEDULE = "5–60 min"


async def _price_seen(day: Activity, price: str, started: float, limit: float) -> float:
    while time.monotonic() - started < limit:
        rows = await day.portal("catalog.price")
        if any(f"{float(r['price']):g}" == f"{float(price):g}" for r in rows):
            return time.monotonic() - started
        await asyncio.sleep(0.05)
    return float("inf")


async def _loaded(day: Activity, exchange: bool) -> list[dict[str, Any]]:
    cards: list[dict[str, Any]] = await day.onec("GET", "/products")
    if exchange:
        await day.catalog()
    else:
        # obmen's first full read of 1C brings the catalog; no exchange runs.
        await day.until("1 catalog", "catalog", lambda: _all_in_b24(day, len(cards)), time.monotonic())
    await day.settled()
    return cards


async def _all_in_b24(day: Activity, count: int) -> bool:
    return len(await day.b24_products()) >= count


async def _samples(stack: Stack, n: int, *, exchange: bool, limit: float) -> list[float]:
    async with httpx.AsyncClient(timeout=60) as http:
        day = Activity(stack, http, timeout=120)
        cards = await _loaded(day, exchange)
        offers = [o["id"] for c in cards for o in c["offers"]]
        out: list[float] = []
        for i in range(n):
            offer, price = offers[i % len(offers)], str(7000 + i)
            await day.quiet(0.5)
            started = time.monotonic()
            await day.onec(
                "PATCH", f"/products/{offer.replace('#', '%23')}", {"prices": {"Розничная": price}}
            )
            if exchange:
                await day.onec("POST", "/exchange/catalog", {"changes_only": True})
            out.append(await _price_seen(day, price, started, limit))
        return out


@contextlib.asynccontextmanager
async def _stack(mode: str, state: Path, tuning: Tuning, poll: float) -> AsyncIterator[Stack]:
    if mode == "exchange":
        async with running_stack(state, tuning=tuning) as stack:
            yield stack
        return
    odata = OdataTuning(extension=mode == "odata + ping", poll_interval=poll)
    async with odata_stack(state, tuning=tuning, odata=odata) as stack:
        yield stack


def _row(mode: str, samples: list[float], goal: str, wait: str, met: bool | None) -> str:
    seen = [s for s in samples if s != float("inf")]
    p50 = f"{statistics.median(seen):.2f} s" if seen else "—"
    worst = f"{max(seen):.2f} s" if seen else "—"
    verdict = "—" if met is None else ("yes" if met else "NO")
    missing = len(samples) - len(seen)
    count = f"{len(samples)} ({missing} lost)"
    return f"| {mode:<14} | {count:<12} | {p50:>8} | {worst:>8} | {wait:>15} | {goal:>6} | {verdict:>3} |"


async def run(samples: int, poll: float, processes: bool) -> None:
    """Every mode, then the table."""
    tuning = Tuning(processes=processes, worker_poll=0.2)
    results: dict[str, list[float]] = {}
    runs: list[tuple[str, Callable[[Stack], Awaitable[list[float]]]]] = [
        ("odata + ping", lambda s: _samples(s, samples, exchange=False, limit=30)),
        ("odata, polled", lambda s: _samples(s, samples, exchange=False, limit=30 + poll)),
        ("exchange", lambda s: _samples(s, samples, exchange=True, limit=60)),
    ]
    for mode, measure in runs:
        with tempfile.TemporaryDirectory() as tmp:
            async with _stack(mode, Path(tmp) / "state", tuning, poll) as stack:
                results[mode] = await measure(stack)
        print(f"{mode}: {', '.join(f'{s:.2f}' for s in results[mode])} s", flush=True)
    print()
    print("1C price change → Bitrix24 (a price typed in 1C until the portal holds it)")
    print("| mode           | samples      |      p50 |      max |     + waits for |   goal | met |")
    print("|----------------|--------------|----------|----------|-----------------|--------|-----|")
    for mode in ("odata + ping", "odata, polled"):
        ok = all(s <= GOAL for s in results[mode])
        wait = "nothing" if mode == "odata + ping" else f"≤ {poll:g} s poll"
        print(_row(mode, results[mode], f"{GOAL:g} s", wait, ok))
    print(_row("exchange", results["exchange"], "—", f"{SCHEDULE} sched.", None))
    print(f"(exchange: the run was started at once; a real 1C first waits for its schedule, {SCHEDULE})")


def main(argv: list[str]) -> None:
    """`python -m bench onec_modes [--samples N] [--poll S] [--processes]`."""
    parser = argparse.ArgumentParser(prog="bench onec_modes")
    parser.add_argument("--samples", type=int, default=5)
    parser.add_argument("--poll", type=float, default=2.0, help="onec.odata_poll_interval of the polled row")
    parser.add_argument(
        "--processes", action="store_true", help="sandboxes and obmen in processes of their own"
    )
    parser.add_argument("--quick", action="store_true", help="--samples 3 (what `python -m bench` runs)")
    args = parser.parse_args(argv)
    if args.quick:
        args.samples = min(args.samples, 3)
    asyncio.run(run(args.samples, args.poll, args.processes))


if __name__ == "__main__":
    main([])
