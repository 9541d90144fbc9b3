"""Flow 8 with the operator's policy `[field_policy] "order.comment" = "conflict"`: a person decides.

Its own stack (three sandboxes and obmen on loopback) with that one override in obmen's settings.
"""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from obmen.demo.activity import Activity, _first_offer
from obmen.demo.stack import Tuning, running_stack

pytestmark = pytest.mark.slow

#: Only the portal's events tell obmen of its changes (no scan between the two edits).
CONFLICT = Tuning(b24_poll_every=600, extra_env={"OBMEN_FIELD_POLICY__ORDER.COMMENT": "conflict"})


async def _placed(day: Activity) -> tuple[str, str]:
    """The catalog loaded and one order placed and agreed everywhere: its deal and site ids."""
    await day.catalog()
    offer = _first_offer(await day.onec("GET", "/products"))
    await day.on_sale(offer)
    placed = await day.order(offer)
    await day.quiet()
    return placed["deal"]["ID"], placed["site"]["id"]


async def test_the_same_comment_edited_on_two_sides_is_recorded_as_a_conflict(tmp_path: Path) -> None:
    async with (
        running_stack(tmp_path / "state", tuning=CONFLICT) as stack,
        httpx.AsyncClient(timeout=60) as http,
    ):
        day = Activity(stack, http, timeout=60)
        deal_id, site_id = await _placed(day)

        conflict = await day.comment_conflict(deal_id, site_id, "Позвонить до обеда", "Оставить у консьержа")
        assert conflict["entity"] == "order", conflict
        status = await day.obmen_status()
        assert status["conflicts"]["total"] == 1, status["conflicts"]
        # Nobody's value is forced: each side keeps its own until a person resolves the conflict.
        await asyncio.sleep(2)
        deal = next(d for d in await day.portal("crm.deal") if str(d["ID"]) == str(deal_id))
        assert deal["COMMENTS"] == "Позвонить до обеда"
        assert (await day.site("GET", f"/orders/{site_id}"))["comment"] == "Оставить у консьержа"
        # The operator's page shows it too (what `obmen status` prints)…
        page = (await http.get(f"{stack.obmen}/conflicts")).text
        assert "Позвонить до обеда" in page
        assert "Оставить у консьержа" in page
        # …and a person decides it there (the API the page's buttons call): the portal takes the site's value.
        url = f"{stack.obmen}/api/conflicts/{conflict['id']}/resolve"
        assert (await http.post(url, json={"side": "site"})).status_code == 200

        async def deal_follows() -> bool:
            deal = next(d for d in await day.portal("crm.deal") if str(d["ID"]) == str(deal_id))
            return bool(deal["COMMENTS"] == "Оставить у консьержа")

        await day.until("8 decided", "the deal takes the site's comment", deal_follows, time.monotonic())
        await day.settled()
        assert (await day.obmen_status())["conflicts"]["total"] == 0


#: The portal's change is found by its poll within a second (its events are lost meanwhile).
CONTESTED = Tuning(b24_poll_every=1, extra_env={"OBMEN_FIELD_POLICY__ORDER.COMMENT": "conflict"})


async def test_a_site_edit_made_before_obmens_queued_change_reached_it_is_a_conflict(tmp_path: Path) -> None:
    """The site changed the comment while the CRM's value waited for the site's next round (§2.11).

    The site's next `query` is held for 10 s. The shop edits first, at once, so its edit is in that query's
    answer however slow the machine (an edit made after the answer but before obmen's documents of the same
    round would be overwritten by them, as a real site does); the manager edits next, and obmen hears of it
    by its 1 s poll and queues it for the site while the query is held. The query then brings the site's
    own edit. Before the outbox remembered such a contest, the site's value looked like a change made after
    the CRM's and won in silence.
    """
    async with (
        running_stack(tmp_path / "state", tuning=CONTESTED) as stack,
        httpx.AsyncClient(timeout=60) as http,
    ):
        day = Activity(stack, http, timeout=60)
        deal_id, site_id = await _placed(day)
        after = max((entry["id"] for entry in await day.journal()), default=0)
        started = time.monotonic()
        hold = {"kind": "delay", "type": "sale", "mode": "query", "seconds": 10, "times": 1}
        assert (await http.post(f"{stack.site}/_sandbox/faults", json=hold)).status_code == 201
        await day.site("PATCH", f"/orders/{site_id}", {"comment": "Оставить у консьержа"})
        await http.post(f"{stack.bitrix24}/_sandbox/faults", json={"events": {"drop": 1.0}})
        await day.b24("crm.deal.update", {"id": deal_id, "fields": {"COMMENTS": "Позвонить до обеда"}})

        async def recorded() -> dict[str, Any] | None:
            conflicts = (await day.obmen_status())["conflicts"]["items"]
            return next((c for c in conflicts if "comment" in str(c)), None)

        conflict = await day.until("8 both sides", "the comment conflict in obmen status", recorded, started)
        await http.post(f"{stack.bitrix24}/_sandbox/faults", json={"events": {"drop": 0.0}})
        candidates = json.loads(conflict["candidates"])
        assert candidates["bitrix24"] == "Позвонить до обеда", conflict
        assert candidates["site"] == "Оставить у консьержа", conflict
        # obmen had queued the CRM's comment for the site before it heard of the site's edit…
        queued = [e for e in await day.journal(after) if e.get("target_system") == "site"]
        assert any("comment" in e["changed"] and e["source_system"] == "bitrix24" for e in queued), queued
        # …and the round that brought the site's edit pushed nothing over it.
        await asyncio.sleep(2)
        assert (await day.site("GET", f"/orders/{site_id}"))["comment"] == "Оставить у консьержа"
        deal = next(d for d in await day.portal("crm.deal") if str(d["ID"]) == str(deal_id))
        assert deal["COMMENTS"] == "Позвонить до обеда"
