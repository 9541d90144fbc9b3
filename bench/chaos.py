"""The chaos run of issue 13: a shop's load while obmen is killed -9 and the portal misbehaves.

`obmen.testing.chaos` on a fresh stack (the three sandboxes and obmen, each in a process of its own): 1C
uploads a generated catalog (2,000 products with 3,000 offers: 5,000 entities, `bench/commerceml.py`'s
generator), customers place 1,000 site orders while obmen is killed with SIGKILL twenty times (during a 1C
upload, during a site exchange round, at any moment) and restarted on the same state, the portal fails
10 % of its calls (500 pages, hangs ending in 504, answers lost after the call was carried out) and loses
20 % of its events, duplicating and reordering others. Then every system is counted against the others
until they agree. Goal: 0 lost, 0 duplicated, 100 % converged. The first row is the bounded plan CI runs
(`tests/integration/test_chaos.py`).

    python -m bench chaos [--orders 1000] [--kills 20] [--products 2000] [--rate 5] [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path

from bench.commerceml import generate
from obmen.testing.chaos import Plan, Report, run_chaos

#: The bounded plan `tests/integration/test_chaos.py` runs.
CI = Plan(orders=100, kills=3, rate=5.0, converge_timeout=240.0)


def _run(label: str, plan: Plan, products: int, verbose: bool) -> tuple[str, Report, float]:
    with tempfile.TemporaryDirectory(prefix="bench-chaos-") as tmp:
        fixture = None
        if products:
            fixture = Path(tmp) / "catalog"
            fixture.mkdir()
            generate(fixture, products)
        plan = Plan(**{**vars(plan), "fixture": fixture})
        say = (lambda line: print(f"  {line}", flush=True)) if verbose else (lambda _: None)
        started = time.monotonic()
        report = asyncio.run(run_chaos(plan, Path(tmp) / "state", say))
        return label, report, time.monotonic() - started


def _print(rows: list[tuple[str, Report, float]]) -> None:
    head = "{:<30} {:>6} {:>6} {:>8} {:>8} {:>7} {:>6} {:>5} {:>6} {:>5} {:>10} {:>7}"
    print(
        head.format(
            "run",
            "orders",
            "deals",
            "invoices",
            "contacts",
            "1C ord",
            "dup",
            "lost",
            "parked",
            "kills",
            "converge s",
            "total s",
        )
    )
    for label, r, total in rows:
        c = r.census
        converged = f"{r.converge_seconds:.1f}" if r.converge_seconds is not None else "no"
        print(
            head.format(
                label,
                c.orders,
                c.deals,
                c.invoices,
                c.contacts,
                c.onec_orders,
                c.duplicates,
                c.lost,
                c.parked,
                len(r.kills),
                converged,
                f"{total:.0f}",
            )
        )
    for label, r, _ in rows:
        during = {k.kind: 0 for k in r.kills}
        for k in r.kills:
            during[k.kind] += k.during
        kinds = ", ".join(f"{kind} {n}/{sum(k.kind == kind for k in r.kills)}" for kind, n in during.items())
        print(
            f"[{label}] placed {len(r.census.placed)} (refused {r.refused}) in {r.load_seconds:.1f} s,"
            f" catalog {r.catalog_seconds:.1f} s, restarts {r.restarts}; kills landed during what they"
            f" were timed to: {kinds}; customers {min(r.plan.customers, r.plan.orders)}"
        )
        if r.census.problems:
            print(f"  problems: {'; '.join(r.census.problems[:12])}")


def main(argv: list[str]) -> None:
    """The bounded plan CI runs, then the full one; print the table."""
    parser = argparse.ArgumentParser(prog="bench chaos")
    parser.add_argument("--orders", type=int, default=1000)
    parser.add_argument("--kills", type=int, default=20)
    parser.add_argument("--products", type=int, default=2000, help="generated 1C products (0: the demo's)")
    parser.add_argument("--rate", type=float, default=5.0, help="site orders per second")
    parser.add_argument("--limits", choices=("cloud", "enterprise", "off"), default="enterprise")
    parser.add_argument("--converge-timeout", type=float, default=900.0)
    parser.add_argument("--no-ci-row", action="store_true", help="skip the bounded CI plan")
    parser.add_argument("--verbose", action="store_true", help="say each kill as it lands")
    parser.add_argument("--quick", action="store_true", help="only the bounded CI plan")
    args = parser.parse_args(argv)
    rows = [] if args.no_ci_row else [_run("bounded (CI: 100 orders, 3 kills)", CI, 0, args.verbose)]
    if not args.quick:
        plan = Plan(
            orders=args.orders,
            kills=args.kills,
            rate=args.rate,
            limits=args.limits,
            converge_timeout=args.converge_timeout,
        )
        label = f"full ({args.orders} orders, {args.kills} kills)"
        rows.append(_run(label, plan, args.products, args.verbose))
    _print(rows)


__all__ = ["main"]
