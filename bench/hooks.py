"""The Bitrix24 event hook under load: events per second and answer latency from concurrent senders.

obmen's web app (as `obmen serve`, SQLite store) runs in a process of its own on loopback and takes
form-encoded events at `POST /hooks/bitrix24` the way the portal posts them (docs/protocols/bitrix24.md
§6.3): deal, contact and invoice events in turn, signed with the outgoing webhook's token. The handler
only checks, enqueues and answers; invoice events become their orders' keys later, in the worker
(engine/aliases.py), so no row makes a portal call. The senders are Debian's `wrk` (C, `make wrk`)
driven by bench/hooks.lua: a load generator written in Python would take the shared cores from the
server and inflate its latency. Each sender posts as fast as it is answered (a closed loop), so the
rate is the server's capacity and the latency its answer time at that capacity.

Two servers are measured, from the same code: *before*, on the pure-Python serving stack main had
(asyncio's loop, uvicorn's h11 parser); *after*, as `obmen serve` runs now (uvloop, httptools). Both
answer through the same handler and group commits (store/batching.py). CPU is the server process's own
time per event (all its threads), which other work on the machine disturbs less than the rate and the
latency do: on a shared machine, read the CPU column first.

Goal (issue 13): ≥ 1,000 events/s with p99 ≤ 50 ms from 50 concurrent senders.

    python -m bench hooks [--seconds 10] [--senders 10,50] [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import re
import secrets
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import psutil

from obmen.app.loop import run as run_loop
from obmen.app.runtime import serve
from obmen.config.load import load_settings
from obmen.store.database import upgrade
from obmen_sandbox.serving import free_port, run_in_process

GOAL_RATE, GOAL_P99 = 1000.0, 0.050
SCRIPT = Path(__file__).with_name("hooks.lua")
#: What `done` in hooks.lua prints.
_RESULT = re.compile(r"OBMEN-BENCH (.*)")


@dataclass(frozen=True)
class Variant:
    """One way of serving the hook."""

    name: str
    fast: bool  # uvloop and httptools; otherwise asyncio's loop and h11


VARIANTS = (
    Variant("before: asyncio loop, h11", False),
    Variant("after: as obmen serve", True),
)


@dataclass(frozen=True)
class Row:
    """One measured run."""

    variant: Variant
    senders: int
    events: int
    seconds: float
    p50: float
    p95: float
    p99: float
    cpu: float  # server CPU seconds over the run

    @property
    def rate(self) -> float:
        """Events answered per second."""
        return self.events / self.seconds


def _obmen(env: dict[str, str], fast: bool) -> None:
    """obmen's web app alone (as `obmen serve`), quiet."""
    logging.basicConfig(level=logging.WARNING)
    settings = load_settings(None, env=env)
    if fast:
        run_loop(serve(settings, loops=False, log_level="warning"))
        return
    asyncio.run(serve(settings, loops=False, log_level="warning", http="h11"))


def _wrk(port: int, token: str, senders: int, seconds: float) -> dict[str, int]:
    """One wrk run; the numbers hooks.lua printed."""
    command = [
        "wrk",
        "--threads",
        "1",
        "--connections",
        str(senders),
        "--duration",
        f"{max(1, round(seconds))}s",
        "--timeout",
        "10s",
        "--script",
        str(SCRIPT),
        f"http://127.0.0.1:{port}",
        "--",
        token,
    ]
    done = subprocess.run(command, capture_output=True, text=True, check=True, timeout=seconds + 60)
    found = _RESULT.search(done.stdout)
    if found is None:
        raise RuntimeError(f"wrk printed no result: {done.stdout[-500:]!r} {done.stderr[-500:]!r}")
    numbers = {k: int(v) for k, v in (pair.split("=") for pair in found.group(1).split())}
    failed = {k: numbers[k] for k in ("connect", "read", "write", "status", "timeout") if numbers[k]}
    if failed:
        raise RuntimeError(f"the hook failed requests: {failed}")
    return numbers


def _measure(variant: Variant, senders_list: list[int], seconds: float) -> list[Row]:
    token = secrets.token_hex(16)
    port = free_port()
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="obmen-bench-hooks-") as tmp:
        env = {
            "OBMEN_STATE_DIR": str(Path(tmp)),
            "OBMEN_WEB__PORT": str(port),
            "OBMEN_BITRIX24__PORTAL": "http://127.0.0.1:9",  # never called: the hook asks the portal nothing
            "OBMEN_BITRIX24__WEBHOOK_USER": "1",
            "OBMEN_BITRIX24__WEBHOOK_TOKEN": "bench",
            "OBMEN_BITRIX24__OUTGOING_TOKEN": token,
        }
        upgrade(str(load_settings(None, env=env).database.url))
        with run_in_process(_obmen, (env, variant.fast), "127.0.0.1", port) as pid:
            server = psutil.Process(pid)
            _wrk(port, token, 10, 1)  # warm-up: connections, compiled statements
            for senders in senders_list:
                before = server.cpu_times()
                n = _wrk(port, token, senders, seconds)
                after = server.cpu_times()
                cpu = (after.user - before.user) + (after.system - before.system)
                p50, p95, p99 = (n[k] / 1e6 for k in ("p50", "p95", "p99"))
                rows.append(Row(variant, senders, n["requests"], n["micros"] / 1e6, p50, p95, p99, cpu))
    return rows


def _print(rows: list[Row]) -> None:
    print(
        f"{'server':<32} {'senders':>7} {'events':>7} {'events/s':>9} {'p50 ms':>7} {'p95 ms':>7}"
        f" {'p99 ms':>7} {'CPU µs/event':>12}"
    )
    for r in rows:
        print(
            f"{r.variant.name:<32} {r.senders:>7} {r.events:>7} {r.rate:>9.0f} {r.p50 * 1e3:>7.1f}"
            f" {r.p95 * 1e3:>7.1f} {r.p99 * 1e3:>7.1f} {r.cpu / r.events * 1e6:>12.0f}"
        )
    old = {r.senders: r for r in rows if not r.variant.fast}
    for r in rows:
        b = old.get(r.senders)
        if r.variant.fast and b is not None:
            cpu = (r.cpu / r.events) / (b.cpu / b.events)
            print(
                f"{'after ÷ before':<32} {r.senders:>7} {'':>7} {r.rate / b.rate:>8.2f}×"
                f" {r.p50 / b.p50:>6.2f}× {r.p95 / b.p95:>6.2f}× {r.p99 / b.p99:>6.2f}× {cpu:>11.2f}×"
            )
    goal = [r for r in rows if r.variant.fast and r.senders == 50]
    for r in goal:
        met = r.rate >= GOAL_RATE and r.p99 <= GOAL_P99
        print(f"goal at 50 senders (≥ 1000 events/s, p99 ≤ 50 ms): {'met' if met else 'not met'}")


def main(argv: list[str]) -> None:
    """Run the rows and print the table."""
    parser = argparse.ArgumentParser(prog="python -m bench hooks")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--senders", default="10,50")
    parser.add_argument("--quick", action="store_true", help="3 s rows (a smoke run)")
    args = parser.parse_args(argv)
    if shutil.which("wrk") is None:
        print("skipped: wrk is not installed (`make wrk` installs Debian's package)")
        return
    seconds = 3.0 if args.quick else args.seconds
    senders = [int(s) for s in args.senders.split(",") if s.strip()]
    rows = [row for variant in VARIANTS for row in _measure(variant, senders, seconds)]
    _print(rows)
