"""Cloud limits: the leaky bucket (503) and the per-method operating time (429) (docs/protocols/bitrix24.md).

See §3.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from b24sandbox_support import BASE, HOOK

from obmen_sandbox.bitrix24 import Bitrix24Sandbox


def _sandbox(limits: str) -> Bitrix24Sandbox:
    sandbox = Bitrix24Sandbox(webhook=HOOK, limits=limits)
    sandbox.clock.freeze(1_780_000_000.0)
    return sandbox


@pytest.fixture
def cloud() -> Bitrix24Sandbox:
    return _sandbox("cloud")


@pytest.fixture
async def cloud_http(cloud: Bitrix24Sandbox) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(cloud.app), base_url=BASE) as client:
        yield client


async def _hit(http: httpx.AsyncClient, method: str = "user.current") -> httpx.Response:
    return await http.post(f"/rest/{HOOK}/{method}", json={})


async def test_bucket_allows_a_burst_of_fifty_then_503(
    cloud: Bitrix24Sandbox, cloud_http: httpx.AsyncClient
) -> None:
    for _ in range(50):
        assert (await _hit(cloud_http)).status_code == 200
    refused = await _hit(cloud_http)
    assert refused.status_code == 503
    assert refused.content == b'{"error":"QUERY_LIMIT_EXCEEDED","error_description":"Too many requests"}'
    cloud.clock.advance(0.5)  # drains one request at 2 per second
    assert (await _hit(cloud_http)).status_code == 200
    assert (await _hit(cloud_http)).status_code == 503


async def test_enterprise_bucket_and_box_without_one() -> None:
    for plan, burst in (("enterprise", 250), ("off", 400)):
        sandbox = _sandbox(plan)
        async with httpx.AsyncClient(transport=httpx.ASGITransport(sandbox.app), base_url=BASE) as http:
            statuses = [(await _hit(http)).status_code for _ in range(burst)]
            assert set(statuses) == {200}
            last = (await _hit(http)).status_code
            assert last == (503 if plan == "enterprise" else 200)


async def test_a_batch_is_one_request(cloud_http: httpx.AsyncClient) -> None:
    commands = {f"c{n}": "user.current" for n in range(50)}
    for _ in range(50):
        response = await cloud_http.post(f"/rest/{HOOK}/batch", json={"cmd": commands})
        assert response.status_code == 200
    assert (await _hit(cloud_http)).status_code == 503


async def test_operating_time_blocks_one_method_until_its_baskets_expire(
    cloud: Bitrix24Sandbox, cloud_http: httpx.AsyncClient
) -> None:
    cloud.portal.limits.costs["crm.deal.list"] = 100.0
    times = []
    for _ in range(5):
        ok = await _hit(cloud_http, "crm.deal.list")
        assert ok.status_code == 200
        times.append(ok.json()["time"])
        cloud.clock.advance(1)
    assert times[-1]["operating"] == 500
    assert times[-1]["operating_reset_at"] == 1_780_000_000 + 600
    blocked = await _hit(cloud_http, "crm.deal.list")
    assert blocked.status_code == 429
    assert blocked.json() == {
        "error": "OPERATION_TIME_LIMIT",
        "error_description": "Method is blocked due to operation time limit.",
    }
    assert (await _hit(cloud_http, "crm.deal.fields")).status_code == 200
    cloud.clock.advance(600)
    assert (await _hit(cloud_http, "crm.deal.list")).status_code == 200


async def test_batch_commands_count_against_their_own_methods(
    cloud: Bitrix24Sandbox, cloud_http: httpx.AsyncClient
) -> None:
    cloud.portal.limits.costs["crm.deal.list"] = 250.0
    body = await cloud_http.post(
        f"/rest/{HOOK}/batch",
        json={"cmd": {"a": "crm.deal.list", "b": "crm.deal.list", "c": "crm.deal.list"}},
    )
    members = body.json()["result"]
    assert list(members["result"]) == ["a", "b"]
    assert members["result_error"]["c"]["error"] == "OPERATION_TIME_LIMIT"
    assert members["result_time"]["b"]["operating"] == 500
    assert body.json()["time"]["operating"] == 0


async def test_no_operating_keys_without_cloud_limits(http: httpx.AsyncClient) -> None:
    response = await _hit(http)
    assert "operating" not in response.json()["time"]
