"""Writes through the connector survive 5xx pages, the leaky bucket and the operating-time limit."""

from __future__ import annotations

from typing import Any

from b24_support import build_client, make_sandbox, rows

from obmen.connectors.base import Create, Update
from obmen.connectors.bitrix24.client import Retry
from obmen.connectors.bitrix24.connector import Bitrix24Connector
from obmen.connectors.bitrix24.mapping import Pipeline


def _order(n: int, status: str = "N") -> dict[str, Any]:
    line = {
        "offer": None,
        "name": f"Товар {n}",
        "quantity": "1",
        "price": {"amount": str(100 + n), "currency": "RUB"},
        "discount": None,
        "vat_rate": None,
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
        pipeline = Pipeline(to_stage={"N": "NEW", "P": "PREPARATION"})
        b24 = Bitrix24Connector(client, pipeline=pipeline, write_rounds=12)
        creates = [Create("order", f"{n:032x}", _order(n)) for n in range(150)]
        made = await b24.write(creates)
        assert [r.error for r in made if not r.ok] == []
        updates = [Update("order", str(r.external_id), _order(n, "P")) for n, r in enumerate(made)]
        updated = await b24.write(updates)
        assert [r.error for r in updated if not r.ok] == []
        assert client.retries > 0
    # 150 adds cost 1500 s of a 480 s / 10 min budget: the writes waited for two basket resets.
    assert sandbox.clock.now() - start > 1200
    deals = rows(sandbox, "crm.deal")
    assert sorted(d["ORIGIN_ID"] for d in deals) == sorted(c.canonical_id for c in creates)
    assert {d["STAGE_ID"] for d in deals} == {"PREPARATION"}
    product_rows = rows(sandbox, "crm.productrow")
    assert sorted(r.get("PRODUCT_NAME", r.get("productName")) for r in product_rows) == sorted(
        f"Товар {n}" for n in range(150)
    )
