"""`bench flows`' rows for the partners' two modes, side by side (issue 16's goals).

- site order → deal: `site.mode = "rest"` (the site's sale events, then a REST read) beside `"exchange"`
  polled at a production interval (`--exchange-interval`, real sites are polled every few minutes because a
  round exports every changed order as XML); measured as `bench/site_modes.py` does;
- 1C price → Bitrix24: `onec.mode = "odata"` with the ObmenPing extension's ping beside the exchange, whose
  change-only run is started the moment the price is typed: its figure is the run and the propagation
  alone, and a real 1C first waits for its schedule (one 1C schedule, 5–60 minutes); measured as
  `bench/onec_modes.py` does.

Goals: rest p50 ≤ 1 s and p99 ≤ 2 s; odata ≤ 5 s. The exchange rows are the comparison, not a goal.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
from dataclasses import dataclass
from pathlib import Path

from bench import onec_modes, site_modes
from obmen.demo.stack import Tuning

__all__ = ["ModeRow", "measure", "table"]


@dataclass
class ModeRow:
    """One flow in one mode."""

    flow: str
    mode: str
    path: str
    samples: list[float]
    missing: int
    waits: str
    goal: tuple[float, float] | None = None


def _site(args: argparse.Namespace) -> list[ModeRow]:
    options = argparse.Namespace(
        orders=args.mode_orders,
        rate=0.5,
        limits="enterprise",
        modes=["rest", "exchange"],
        rest_poll=5.0,
        exchange_interval=args.exchange_interval,
        exchange_rounds=1.0,
        exchange_orders=args.exchange_orders,
    )
    out = []
    for row in asyncio.run(site_modes.run(options)):
        rest = row.mode == "rest"
        waits = "nothing (events)" if rest else f"the poll, every {row.interval:g} s"
        goal = (site_modes.GOAL_P50, site_modes.GOAL_P99) if rest else None
        out.append(ModeRow("site order → deal", row.mode, row.path, row.samples, row.missing, waits, goal))
    return out


async def _onec(samples: int) -> list[ModeRow]:
    tuning = Tuning(worker_poll=0.2)
    out = []
    for mode, path, exchange in (
        ("odata + ping", "ping → OData read", False),
        ("exchange", "change-only catalog run", True),
    ):
        with tempfile.TemporaryDirectory() as tmp:
            async with onec_modes._stack(mode, Path(tmp) / "state", tuning, 2.0) as stack:
                found = await onec_modes._samples(stack, samples, exchange=exchange, limit=60)
        seen = [s for s in found if s != float("inf")]
        waits = "nothing (pinged)" if not exchange else f"one 1C schedule ({onec_modes.SCHEDULE})"
        goal = (onec_modes.GOAL, onec_modes.GOAL) if not exchange else None
        out.append(ModeRow("1C price → Bitrix24", mode, path, seen, len(found) - len(seen), waits, goal))
    return out


def measure(args: argparse.Namespace) -> list[ModeRow]:
    """Both flows in both modes, one stack after another."""
    rows = _site(args)
    rows += asyncio.run(_onec(args.mode_samples))
    return rows


def _verdict(row: ModeRow) -> str:
    if row.goal is None:
        return "—"
    if not row.samples or row.missing:
        return "NO"
    p50, p99 = row.goal
    return (
        "yes" if site_modes.pct(row.samples, 50) <= p50 and site_modes.pct(row.samples, 99) <= p99 else "NO"
    )


def table(rows: list[ModeRow]) -> str:
    """The rows, side by side by flow."""
    line = "{:<20} {:<13} {:<28} {:>5} {:>8} {:>8} {:>8}  {:<34} {:>13} {:>4}"
    heads = ("flow", "mode", "path", "n", "p50", "p99", "max", "+ waits for", "goal p50/p99", "met")
    out = [line.format(*heads)]
    for r in rows:
        if r.samples:
            cells = [f"{site_modes.pct(r.samples, q):.2f}s" for q in (50, 99)] + [f"{max(r.samples):.2f}s"]
        else:
            cells = ["-", "-", "-"]
        n = f"{len(r.samples)}" + (f"/{len(r.samples) + r.missing}" if r.missing else "")
        goal = f"{r.goal[0]:g}/{r.goal[1]:g} s" if r.goal else "—"
        out.append(line.format(r.flow, r.mode, r.path, n, *cells, r.waits, goal, _verdict(r)))
    return "\n".join(out)
