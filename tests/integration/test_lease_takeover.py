"""A real `obmen run` killed with SIGKILL mid-round is taken over by its restart within seconds.

The site sandbox serves the exchange; obmen runs it as 1C would, in a process of its own. The site is made
to hang in the middle of a round (its `query` answer is delayed): the process's heartbeat keeps the lease,
so the round shows as stalled instead of silently holding the exchange. Then the process is killed with
SIGKILL and started again on the same state: a new holder (host:pid:tag), which takes the dead one's leases
over once they lapse, a ttl later, and moves the orders placed meanwhile (docs/operations.md §10).
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from obmen.store.keeper import STALL_TTLS
from obmen_sandbox.onec import OnecSandbox
from obmen_sandbox.serving import free_port, serve_in_thread
from obmen_sandbox.site import EXCHANGE_PATH, SiteSandbox

SMALL = Path(__file__).resolve().parents[1] / "fixtures" / "commerceml" / "ut11-small-2.07"
#: The leases' ttl here (`worker.tenant_lease_seconds`): short, so the test waits a few seconds, not 15.
TTL = 3.0
pytestmark = pytest.mark.slow

CUSTOMER = {"name": "Ольга Смирнова", "email": "olga@example.ru", "phone": "+79005550101"}


def _wait(what: str, predicate: Callable[[], Any], timeout: float) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = predicate()
        if found:
            return found
        time.sleep(0.1)
    pytest.fail(f"no {what} within {timeout:.0f} s")


class Obmen:
    """`obmen run` in a process of its own, on a state folder that outlives it."""

    def __init__(self, state: Path, site: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("OBMEN_")},
            "OBMEN_STATE_DIR": str(state),
            "OBMEN_WEB__PORT": str(self.port),
            "OBMEN_SITE__EXCHANGE_URL": site + EXCHANGE_PATH,
            "OBMEN_SITE__LOGIN": "obmen",
            "OBMEN_SITE__PASSWORD": "pw",
            "OBMEN_SITE__POLL_INTERVAL": "0.3",
            "OBMEN_ONEC__LOGIN": "1c",
            "OBMEN_ONEC__PASSWORD": "pw",
            "OBMEN_WORKER__POLL_INTERVAL": "0.2",
            "OBMEN_WORKER__TENANT_LEASE_SECONDS": str(TTL),
        }
        self.log = state.parent / "obmen.log"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> int:
        """Start `obmen run` and wait until it answers; its pid."""
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "obmen", "run"], env=self.env, stdout=log, stderr=log
            )
        _wait("ready obmen", self._ready, 60)
        return self.process.pid

    def _ready(self) -> bool:
        assert self.process is not None
        if self.process.poll() is not None:
            pytest.fail(
                f"obmen exited with {self.process.returncode}: {self.log.read_text(errors='replace')}"
            )
        try:
            return httpx.get(f"{self.url}/readyz", timeout=1).status_code == 200
        except httpx.TransportError:
            return False

    def status(self) -> dict[str, Any]:
        return dict(httpx.get(f"{self.url}/api/status", timeout=10).json())

    def lease(self, name: str) -> dict[str, Any]:
        return next((x for x in self.status()["leases"] if x["name"] == name), {})

    def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()


@pytest.fixture
def site() -> Iterator[str]:
    with serve_in_thread(SiteSandbox("obmen", "pw").app) as url:
        yield url


def _priced_offer(site: str) -> str | None:
    products = httpx.get(f"{site}/_sandbox/products", params={"limit": 500}).json()
    items = products["items"] if "items" in products else products["products"]
    return next((str(o["xml_id"]) for p in items for o in p["offers"] if o["prices"]), None)


def _place_order(site: str) -> dict[str, Any]:
    offer = _priced_offer(site)
    body = {
        "customer": CUSTOMER,
        "items": [{"offer": offer, "quantity": 1}],
        "delivery": {"service": "Курьер", "price": 300},
        "payment": {"system": "Наличные", "paid": False},
    }
    reply = httpx.post(f"{site}/_sandbox/orders", json=body)
    assert reply.status_code == 201, reply.text
    return dict(reply.json())


def _exported(site: str, order: dict[str, Any]) -> bool:
    return bool(httpx.get(f"{site}/_sandbox/orders/{order['id']}").json()["exported"])


def _for_1c(obmen: Obmen, order: dict[str, Any]) -> bool:
    """The worker has reconciled the order into what 1C collects at its next exchange."""
    found = httpx.get(f"{obmen.url}/api/timeline/order/site:{order['id']}", timeout=10)
    return found.status_code == 200 and any(
        e.get("target_system") == "onec" and e.get("status") == "applied" for e in found.json()["events"]
    )


def test_a_killed_obmen_is_taken_over_by_its_restart_within_seconds(tmp_path: Path, site: str) -> None:
    obmen = Obmen(tmp_path / "state", site)
    upgrade = [sys.executable, "-m", "obmen", "db", "upgrade"]
    subprocess.run(upgrade, env=obmen.env, check=True, capture_output=True)
    first = obmen.start()
    onec = OnecSandbox(f"{obmen.url}/exchange/1c", "1c", "pw", fixture=SMALL)
    try:
        # 1C uploads its catalog to obmen, which sends it on to the site, as in production.
        assert asyncio.run(onec.run_catalog())["ok"]
        _wait("the catalog on the site", lambda: _priced_offer(site), 60)
        before = _place_order(site)
        _wait("first order pulled", lambda: _exported(site, before), 30)
        held = _wait("site exchange lease", lambda: obmen.lease("site-exchange:default"), 10)
        assert held["holder"].split(":")[1] == str(first)
        assert held["state"] == "held"
        # The site hangs in a round's query for longer than 4 ttls: the heartbeat keeps the lease through
        # the long round, and the loop shows as stalled while it does not move.
        hang = STALL_TTLS * TTL + 5
        fault = {"kind": "delay", "seconds": hang, "type": "sale", "mode": "query", "times": 1}
        assert httpx.post(f"{site}/_sandbox/faults", json=fault).status_code == 201
        stuck = _wait(
            "stalled site exchange",
            lambda: (lease := obmen.lease("site-exchange:default"))["state"] == "stalled" and lease,
            hang + 5,
        )
        assert (stuck["holder"], stuck["since"], stuck["doing"]) == (
            held["holder"],
            held["since"],
            "pull: query",
        )
        assert obmen.status()["stalled"] == ["site-exchange:default"]
        # The site answers again: the same holder goes on, no longer stalled.
        _wait(
            "the round moving again",
            lambda: obmen.lease("site-exchange:default")["state"] == "held",
            hang + 10,
        )
        assert obmen.lease("site-exchange:default")["holder"] == held["holder"]
        # The site refuses its queries a while: an order placed now waits for the next round that succeeds.
        refuse = {"kind": "status", "status": 503, "type": "sale", "mode": "query", "times": 10_000}
        assert httpx.post(f"{site}/_sandbox/faults", json=refuse).status_code == 201
        after = _place_order(site)
        # SIGKILL mid-way: every lease is left held by a process that no longer exists.
        obmen.kill()
        killed = time.monotonic()
        assert httpx.delete(f"{site}/_sandbox/faults").status_code in (200, 204)
        second = obmen.start()
        assert second != first
        _wait("second order pulled by the restarted process", lambda: _exported(site, after), 6 * TTL + 10)
        moved = time.monotonic() - killed
        _wait("second order reconciled for 1C", lambda: _for_1c(obmen, after), 6 * TTL)
        assert asyncio.run(onec.run_sale())["ok"]
        leases = {x["name"]: x for x in obmen.status()["leases"]}
    finally:
        obmen.stop()
    # Within a few ttls of the kill (the process's start included), not the 600 s the exchange lease had.
    assert moved < 4 * TTL + 10, moved
    assert after["number"] in {o.number for o in onec.infobase.orders.values()}
    for name in ("site-exchange:default", "tenant:default", "scheduler:default"):
        assert leases[name]["holder"].split(":")[1] == str(second), leases[name]
        assert leases[name]["state"] == "held"
    print(f"\nkill -9 → the restarted process pulled the new order in {moved:.1f} s (ttl {TTL:.0f} s)")
