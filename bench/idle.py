"""An idle obmen: CPU and SQL statements per second of a running stack with nothing to do.

The stack is `obmen.demo.stack.running_stack` (the three sandboxes and obmen, each in a process of its
own, as `obmen run`) at the production defaults of every poll interval (`obmen.config.settings`), once on
SQLite and once on PostgreSQL. After the start-up work has drained, obmen's `/metrics` is read at the
start and the end of `--seconds` of nothing happening: `process_cpu_seconds_total` gives its CPU share of
one core, `obmen_sql_statements` its statements. The statements of one scrape (read twice back to back
at the end) are taken off. Goals (issue 14): ≤ 2 % of a core and ≤ 5 statements/s.

    python -m bench idle [--seconds 30] [--pg postgresql://postgres@127.0.0.1:5432/test] [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import sqlalchemy as sa
from pydantic import BaseModel

from bench.flows import _database
from obmen.config.settings import Bitrix24Settings, SiteSettings, WorkerSettings
from obmen.demo.stack import Tuning, running_stack

#: Issue 14's goals for an idle obmen.
CPU_GOAL, STATEMENTS_GOAL = 0.02, 5.0


@dataclass
class Row:
    database: str
    seconds: float
    cpu: float
    statements: float

    @property
    def share(self) -> float:
        return self.cpu / self.seconds

    @property
    def rate(self) -> float:
        return self.statements / self.seconds


async def _read(http: httpx.AsyncClient, obmen: str) -> tuple[float, float]:
    """obmen's CPU seconds and SQL statements so far, from its `/metrics`."""
    cpu = statements = 0.0
    for line in (await http.get(f"{obmen}/metrics")).text.splitlines():
        if line.startswith("process_cpu_seconds_total "):
            cpu = float(line.split()[-1])
        elif line.startswith("obmen_sql_statements "):
            statements = float(line.split()[-1])
    return cpu, statements


#: How long the start-up syncs may take to drain.
SETTLE = 120.0


async def _settled(http: httpx.AsyncClient, obmen: str) -> None:
    """Wait until obmen's queue is empty (the start-up syncs are done)."""
    until = time.monotonic() + SETTLE
    while time.monotonic() < until:
        if int((await http.get(f"{obmen}/api/status")).json()["depth"]) == 0:
            return
        await asyncio.sleep(0.5)
    raise TimeoutError(f"obmen's queue did not drain in {SETTLE:.0f} s")


def _default(section: type[BaseModel], name: str) -> float:
    return float(section.model_fields[name].default)


async def _idle(label: str, env: dict[str, str], seconds: float) -> Row:
    tuning = Tuning(
        processes=True,
        worker_poll=_default(WorkerSettings, "poll_interval"),
        site_poll=_default(SiteSettings, "poll_interval"),
        b24_poll_every=_default(Bitrix24Settings, "poll_every"),
        extra_env=env,
    )
    with tempfile.TemporaryDirectory(prefix="bench-idle-") as tmp:
        async with (
            running_stack(Path(tmp) / "state", tuning=tuning) as stack,
            httpx.AsyncClient(timeout=30) as http,
        ):
            await _settled(http, stack.obmen)
            await asyncio.sleep(2.0)  # what the drain left behind (a last commit, a lease renewal)
            cpu0, statements0 = await _read(http, stack.obmen)
            began = time.monotonic()
            await asyncio.sleep(seconds)
            cpu1, statements1 = await _read(http, stack.obmen)
            wall = time.monotonic() - began
            _, statements2 = await _read(http, stack.obmen)
            scrape = statements2 - statements1
            return Row(label, wall, cpu1 - cpu0, max(0.0, statements1 - statements0 - scrape))


def _print(rows: list[Row]) -> None:
    print(f"{'database':<11} {'seconds':>8} {'CPU s':>7} {'of a core':>10} {'vs goal':>8} "
          f"{'statements':>11} {'per s':>7} {'vs goal':>8}")  # fmt: skip
    for r in rows:
        print(
            f"{r.database:<11} {r.seconds:>8.1f} {r.cpu:>7.2f} {r.share:>10.1%} {r.share / CPU_GOAL:>7.2f}× "
            f"{r.statements:>11.0f} {r.rate:>7.1f} {r.rate / STATEMENTS_GOAL:>7.2f}×"
        )
    print(f"(goals: ≤ {CPU_GOAL:.0%} of a core, ≤ {STATEMENTS_GOAL:.0f} statements/s; ≤ 1.00× meets them)")


def main(argv: list[str]) -> None:
    """Measure an idle obmen on SQLite, then on PostgreSQL, and print the table."""
    parser = argparse.ArgumentParser(prog="bench idle")
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument(
        "--pg", default=os.environ.get("OBMEN_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")
    )
    parser.add_argument("--quick", action="store_true", help="--seconds 10 (what `python -m bench` runs)")
    args = parser.parse_args(argv)
    if args.quick:
        args.seconds = min(args.seconds, 10.0)
    rows = [asyncio.run(_idle("sqlite", {}, args.seconds))]
    try:
        with _database(args.pg) as env:
            rows.append(asyncio.run(_idle("postgresql", env, args.seconds)))
    except sa.exc.OperationalError as exc:
        print(f"(PostgreSQL skipped: {type(exc).__name__}: no server at {args.pg})")
    _print(rows)


__all__ = ["main"]
