"""`POST /hooks/onec`: 1C's ping is checked and turned into keys (docs/protocols/onec.md §A2.1)."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from starlette.applications import Starlette

from obmen.config.settings import Settings
from obmen.connectors.base import SetupContext
from obmen.connectors.onec.odata.connector import ODataConnector
from obmen.connectors.onec.odata.hooks import routes
from obmen.connectors.onec.setup import odata_integration
from obmen.errors import ObmenError, TransientError
from obmen.store import tables
from obmen.store.database import Database


async def test_a_ping_is_enqueued_only_with_the_token_and_a_readable_body() -> None:
    seen: list[Sequence[Mapping[str, Any]]] = []
    down = False

    async def enqueue(items: Sequence[Mapping[str, Any]]) -> int:
        if down:
            raise TransientError("1C unreachable")
        seen.append(items)
        return len(items)

    app = Starlette(routes=routes("s3cret", enqueue))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://obmen") as http:
        ping = {"node": "obmen", "changes": [{"type": "Document_ЗаказКлиента", "ref": "x"}]}
        assert (await http.post("/hooks/onec", json=ping)).status_code == 403
        wrong = await http.post("/hooks/onec", json=ping, headers={"Authorization": "Bearer nope"})
        assert wrong.status_code == 403
        good = {"Authorization": "Bearer s3cret"}
        assert (await http.post("/hooks/onec", content=b"{", headers=good)).status_code == 400
        assert (await http.post("/hooks/onec", json={"changes": "x"}, headers=good)).status_code == 400
        assert seen == []
        reply = await http.post("/hooks/onec", json=ping, headers=good)
        assert reply.json() == {"queued": 1}
        assert seen == [ping["changes"]]
        down = True
        assert (await http.post("/hooks/onec", json=ping, headers=good)).status_code == 503


async def test_a_ping_costs_no_odata_call_it_queues_what_it_names_and_wakes_the_feed(
    db: Database, tmp_path: Path
) -> None:
    calls: list[str] = []

    def refuse(request: httpx.Request) -> httpx.Response:
        calls.append(str(request.url))
        return httpx.Response(500)

    settings = Settings(
        state_dir=tmp_path,
        onec={
            "mode": "odata",
            "odata_url": "http://1c/trade/odata/standard.odata",
            "odata_login": "obmen",
            "odata_password": "p",
            "hook_token": "s3cret",
        },
    )
    ctx = SetupContext(
        db=db,
        tenant="default",
        state_dir=tmp_path,
        clock=lambda: 1000.0,
        wake=lambda: None,
        attach=lambda c: None,
    )
    integration = odata_integration(settings, ctx, transport=httpx.MockTransport(refuse))
    assert isinstance(integration.connector, ODataConnector)
    app = Starlette(routes=integration.routes)
    product, order = str(uuid.uuid4()), str(uuid.uuid4())
    ping = {
        "node": "obmen",
        "changes": [
            {"type": "Document_ЗаказКлиента", "ref": order},
            {"type": "InformationRegister_ЦеныНоменклатуры25", "Номенклатура_Key": product},
            # A product (or a group) needs a read to tell which: the woken feed makes it, not the ping.
            {"type": "Catalog_Номенклатура", "ref": str(uuid.uuid4())},
        ],
    }
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://obmen") as http:
            reply = await http.post("/hooks/onec", json=ping, headers={"Authorization": "Bearer s3cret"})
        assert reply.status_code == 200, reply.text
        assert reply.json() == {"queued": 2}
        assert calls == []  # nothing was asked of 1C while 1C waited for the answer
        async with db.begin() as conn:
            keys = {r.key for r in await conn.execute(sa.select(tables.work_items.c.key))}
        assert keys == {f"order@onec:{order}", f"offer@onec:{product}"}
        # The feed reads at once at the scheduler's next round, even before its interval is up.
        feed = integration.connector.feed
        feed._last = feed._clock()
        with pytest.raises(ObmenError):
            await integration.connector.changes(None, 10)
        assert calls, "the woken feed asked 1C for its changes"
    finally:
        for close in integration.closers:
            await close()
