"""Writes through the connector survive 5xx pages, the leaky bucket and the operating-time limit."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from b24_support import build_client, make_sandbox, rows

from obmen.config.mapping import PipelineMap
from obmen.connectors.base import Create, Update, WriteOp
from obmen.connectors.bitrix24.client.rest import Retry
from obmen.connectors.bitrix24.connector import Bitrix24Connector
from obmen.connectors.bitrix24.crm.orders import OrderMapping
from obmen.errors import TransientError
from obmen_sandbox.bitrix24 import Bitrix24Sandbox


def _order(n: int, status: str = "N") -> dict[str, Any]:
    line = {
        "offer": None,
        "name": f"Товар {n}",
        "quantity": "1",
        "price": {"amount": str(100 + n), "currency": "RUB"},
        "discount": None,
        "vat_rate": None,
        "vat_included": True,
    }
    return {"status": status, "comment": f"#{n}", "lines": [line]}


async def test_no_write_is_lost_or_doubled_under_5xx_503_and_429() -> None:
    sandbox = make_sandbox("cloud")
    # Each nested crm.item.add costs 10 s of the 480 s budget: the 49th add in ten minutes gets 429.
    sandbox.portal.limits.costs["crm.item.add"] = 10.0
    sandbox.portal.faults.error_rate = 0.25
    sandbox.portal.faults.rng.seed(3)
    start = sandbox.clock.now()
    async with build_client(sandbox, limits="cloud", retry=Retry(attempts=10, base=0.5, cap=5.0)) as client:
        pipeline = PipelineMap(status_to_stage={"N": "NEW", "P": "PREPARATION"})
        b24 = Bitrix24Connector(
            client, mapping=OrderMapping(pipelines={"default": pipeline}), write_rounds=12
        )
        creates = [Create("order", f"{n:032x}", _order(n)) for n in range(150)]
        made = await _as_the_queue_would(sandbox, b24, creates)
        updates = [Update("order", made[c.canonical_id], _order(n, "P")) for n, c in enumerate(creates)]
        await _as_the_queue_would(sandbox, b24, updates)
        assert client.retries > 0
    # 150 adds cost 1500 s of a 480 s / 10 min budget: the writes waited for two basket resets, in the queue.
    assert sandbox.clock.now() - start > 1200
    deals = rows(sandbox, "crm.deal")
    assert sorted(d["ORIGIN_ID"] for d in deals) == sorted(c.canonical_id for c in creates)
    assert {d["STAGE_ID"] for d in deals} == {"PREPARATION"}
    # Each order is a deal and one invoice linked to it, each with the order's one row.
    invoices = rows(sandbox, "crm.smart_invoice")
    assert sorted(i["PARENT_ID_2"] for i in invoices) == sorted(d["ID"] for d in deals)
    for owner in ("D", "SI"):
        product_rows = [r for r in rows(sandbox, "crm.productrow") if r["ownerType"] == owner]
        assert sorted(r["productName"] for r in product_rows) == sorted(f"Товар {n}" for n in range(150))


async def _as_the_queue_would(
    sandbox: Bitrix24Sandbox, b24: Bitrix24Connector, ops: list[Create] | list[Update]
) -> dict[str, str]:
    """Write, and write what failed again after the wait its error asks for, as the queue does (§2.6).

    The connector takes only short waits itself: an operating-time limit comes back as `RateLimited`
    with its reset, and nothing in the client or the connector sleeps that long.
    """
    made: dict[str, str] = {}
    pending: list[tuple[str, WriteOp]] = [
        (op.canonical_id if isinstance(op, Create) else op.external_id, op) for op in ops
    ]
    for _ in range(10):
        results = await b24.write([op for _, op in pending])
        failed = []
        for (key, op), r in zip(pending, results, strict=True):
            if r.ok:
                made[key] = str(r.external_id)
            elif isinstance(op, Create) and r.external_id:
                # Made before a later step failed: finished as an update (the engine finds it by origin).
                failed.append(((key, Update(op.entity, r.external_id, op.fields)), r))
            else:
                failed.append(((key, op), r))
        assert all(isinstance(r.error, TransientError) for _, r in failed), failed[:3]
        if not failed:
            return made
        waits = [r.error.retry_after or 1.0 for _, r in failed if r.error is not None]
        assert max(waits) > b24.client.retry.max_wait  # only long waits were left to the queue
        sandbox.clock.advance(max(waits))
        pending = [entry for entry, _ in failed]
    raise AssertionError("the writes never all landed")


class _AnswerLost(httpx.AsyncBaseTransport):
    """The batches numbered in `lose` reach the portal and are applied, but no answer comes back."""

    def __init__(self, inner: httpx.AsyncBaseTransport, lose: set[int]) -> None:
        self.inner = inner
        self.lose = lose
        self.batches = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self.inner.handle_async_request(request)
        if request.url.path.endswith("/batch"):
            self.batches += 1
            if self.batches in self.lose:
                raise httpx.ReadTimeout("answer lost", request=request)
        return response


@pytest.mark.parametrize("entity", ["order", "counterparty", "product"])
async def test_creates_whose_answer_was_lost_are_found_not_repeated(entity: str) -> None:
    sandbox = make_sandbox()
    # The first write batch (the first 50 creates) and a later one (a lookup or a resend) are lost.
    transport = _AnswerLost(httpx.ASGITransport(sandbox.app), lose={2, 4})
    async with build_client(sandbox, transport=transport) as client:
        b24 = Bitrix24Connector(client)
        fields: dict[str, dict[str, Any]] = {
            "order": _order(0),
            "counterparty": {"kind": "person", "name": "Ольга", "phones": ["+79001112233"]},
            "product": {"name": "Мяч", "xml_id": None, "active": True},
        }
        made = await b24.write([Create(entity, f"{n:032x}", fields[entity]) for n in range(60)])
        assert [r.error for r in made if not r.ok] == []
        assert len({r.external_id for r in made}) == 60
        assert transport.batches >= 4
    table = {"order": "crm.deal", "counterparty": "crm.contact", "product": "catalog.product"}[entity]
    assert len(rows(sandbox, table)) == 60  # each create landed exactly once
    if entity == "order":
        assert len(rows(sandbox, "crm.productrow")) == 120  # the deal's row and the invoice's
        assert len({i["PARENT_ID_2"] for i in rows(sandbox, "crm.smart_invoice")}) == 60
        assert len(rows(sandbox, "crm.smart_invoice")) == 60
