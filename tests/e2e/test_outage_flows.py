"""Issue 13, row 8, end to end: the portal refuses every call (a free plan: 403 ACCESS_DENIED).

An outage is not an item's failure (docs/architecture.md §2.13): nothing is parked, the portal is called
only on the probe schedule, and once it answers again the held change arrives by itself.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from obmen.demo.activity import Activity, _first_offer
from obmen.demo.stack import Tuning, running_stack

pytestmark = pytest.mark.slow

#: Probes after 2 s, then 4 and 8 s at most: a test's minute holds a real hour's schedule.
QUICK = Tuning(extra_env={"OBMEN_WORKER__PROBE_FIRST": "2", "OBMEN_WORKER__PROBE_MAX": "8"})
WATCH = 24.0


async def test_a_refusing_portal_parks_nothing_is_probed_on_schedule_and_the_change_arrives_after(
    tmp_path: Path,
) -> None:
    async with (
        running_stack(tmp_path / "state", tuning=QUICK) as stack,
        httpx.AsyncClient(timeout=60) as http,
    ):
        assert stack.runtime is not None
        day = Activity(stack, http, timeout=60)
        await day.catalog()
        placed = await day.order(_first_offer(await day.onec("GET", "/products")))
        deal_id, site_id = placed["deal"]["ID"], placed["site"]["id"]

        await http.post(f"{stack.bitrix24}/_sandbox/faults", json={"free_plan": True})
        await day.site("PATCH", f"/orders/{site_id}", {"comment": "Доставить после 18:00"})
        status = await _until(day, lambda s: s["outages"] or None)
        [outage] = status["outages"]
        assert outage["system"] == "bitrix24"
        assert "ACCESS_DENIED" in outage["reason"]

        counters = stack.runtime.counters
        assert counters is not None
        before = counters()
        assert before is not None
        await asyncio.sleep(WATCH)
        after = counters()
        assert after is not None
        status = await day.obmen_status()
        # Probes 2, 4, 8, 8… s apart: at most 5 in the watch, one request each (not one every 0.65 s).
        assert after.requests - before.requests <= 5, after.requests - before.requests
        assert status["parked"]["total"] == 0, status["parked"]
        assert status["outages"][0]["probes"] >= 2

        await http.post(f"{stack.bitrix24}/_sandbox/faults", json={"free_plan": False})

        async def comment() -> Any:
            deal = next(d for d in await day.portal("crm.deal") if str(d["ID"]) == str(deal_id))
            return deal["COMMENTS"] if deal["COMMENTS"] == "Доставить после 18:00" else None

        await day.until("8 outage", "the held comment in the deal", comment, time.monotonic())
        status = await _until(day, lambda s: s if not s["outages"] and not s["depth"] else None)
        assert status["parked"]["total"] == 0


async def _until(day: Activity, probe: Any, within: float = 60.0) -> dict[str, Any]:
    deadline = time.monotonic() + within
    while True:
        status = await day.obmen_status()
        if probe(status):
            return status
        assert time.monotonic() < deadline, status
        await asyncio.sleep(0.3)
