"""`limits` settings → the client's bucket: the stock plans, and a box's own `custom` rate and burst."""

from __future__ import annotations

import pytest

from obmen.connectors.bitrix24.client.auth import Webhook
from obmen.connectors.bitrix24.client.limits import Plan, plan_for
from obmen.connectors.bitrix24.client.rest import Bitrix24Client


def test_stock_plans_and_custom() -> None:
    assert plan_for("cloud") == Plan(rate=2.0, burst=50)
    assert plan_for("enterprise") == Plan(rate=5.0, burst=250)
    assert plan_for("off") is None
    assert plan_for("custom", 3, 80) == Plan(rate=3.0, burst=80)
    for wrong in ((None, 80), (3, None), (0, 80), (3, 0)):
        with pytest.raises(ValueError, match="custom"):
            plan_for("custom", *wrong)
    with pytest.raises(ValueError, match="unknown Bitrix24 limits 'turbo'"):
        plan_for("turbo")


async def test_the_client_takes_a_custom_bucket() -> None:
    async with Bitrix24Client(
        Webhook("http://portal.test/rest/1/x/"), limits="custom", rate=3, burst=80
    ) as c:
        assert c.bucket.plan == Plan(rate=3.0, burst=80)
