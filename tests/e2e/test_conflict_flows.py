"""Flow 8 with the operator's policy `[field_policy] "order.comment" = "conflict"`: a person decides.

Its own stack (three sandboxes and obmen on loopback) with that one override in obmen's settings.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest

from obmen.demo import Tuning, running_stack
from obmen.demo_activity import Activity, _first_offer

pytestmark = pytest.mark.slow

#: Only the portal's events tell obmen of its changes (no scan between the two edits).
CONFLICT = Tuning(b24_poll_every=600, extra_env={"OBMEN_FIELD_POLICY__ORDER.COMMENT": "conflict"})


async def test_the_same_comment_edited_on_two_sides_is_recorded_as_a_conflict(tmp_path: Path) -> None:
    async with (
        running_stack(tmp_path / "state", tuning=CONFLICT) as stack,
        httpx.AsyncClient(timeout=60) as http,
    ):
        day = Activity(stack, http, timeout=60)
        await day.catalog()
        offer = _first_offer(await day.onec("GET", "/products"))
        await day.on_sale(offer)
        placed = await day.order(offer)
        deal_id, site_id = placed["deal"]["ID"], placed["site"]["id"]
        await day.quiet()

        conflict = await day.comment_conflict(deal_id, site_id, "Позвонить до обеда", "Оставить у консьержа")
        assert conflict["entity"] == "order", conflict
        status = await day.obmen_status()
        assert status["conflicts"]["total"] == 1, status["conflicts"]
        # Nobody's value is forced: each side keeps its own until a person resolves the conflict.
        await asyncio.sleep(2)
        deal = next(d for d in await day.portal("crm.deal") if str(d["ID"]) == str(deal_id))
        assert deal["COMMENTS"] == "Позвонить до обеда"
        assert (await day.site("GET", f"/orders/{site_id}"))["comment"] == "Оставить у консьержа"
        # The operator's page shows it too (what `obmen status` prints).
        page = (await http.get(stack.obmen)).text
        assert "Конфликты / Conflicts (1)" in page
