"""Our REST client against the sandbox: batches, paging, limits, faults, tokens (docs/protocols/bitrix24.md).

See §1–§4.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from b24_support import BASE, HOOK, build_client, make_sandbox, rows

from obmen.connectors.bitrix24.client.auth import OAuth, TokenFile, Tokens, Webhook
from obmen.connectors.bitrix24.client.rest import Bitrix24Client, Retry
from obmen.connectors.bitrix24.client.wire import MethodNotFound
from obmen.errors import AccessRefused, AuthError, NotFound, RateLimited, TransientError
from obmen_sandbox.bitrix24 import Bitrix24Sandbox

Build = Callable[..., Bitrix24Client]


async def test_call_and_legacy_string_values(client: Bitrix24Client) -> None:
    created = await client.call("crm.deal.add", {"fields": {"TITLE": "Заказ №1", "OPPORTUNITY": 1500}})
    deal = (await client.call("crm.deal.get", {"id": created.result})).result
    assert deal["TITLE"] == "Заказ №1"
    assert deal["ID"] == str(
        created.result
    )  # legacy methods answer strings (docs/protocols/bitrix24.md §2.2)
    with pytest.raises(NotFound):
        await client.call("crm.deal.get", {"id": 999_999})
    with pytest.raises(MethodNotFound):
        await client.call("crm.nonsense.list")


async def test_a_wrong_webhook_refuses_the_whole_portal(sandbox: Bitrix24Sandbox, client_for: Build) -> None:
    async with client_for(sandbox, auth=Webhook(f"{BASE}/rest/1/wrongcode/")) as client:
        with pytest.raises(AccessRefused) as refused:
            await client.call("crm.deal.list")
    # An outage of the portal (its breaker opens, docs/architecture.md §2.13), and still an AuthError.
    assert isinstance(refused.value, AuthError)
    assert refused.value.system == "bitrix24"


async def test_call_many_splits_at_50_and_keeps_order(client: Bitrix24Client) -> None:
    calls = [("crm.contact.add", {"fields": {"NAME": f"n{i}"}}) for i in range(120)]
    ids = await client.call_many(calls)
    assert client.requests == 3  # 50 + 50 + 20 commands, one request each
    assert ids == sorted(ids)
    assert len(set(ids)) == 120


async def test_keyset_listing_walks_every_page(client: Bitrix24Client) -> None:
    await client.call_many([("crm.contact.add", {"fields": {"NAME": f"n{i}"}}) for i in range(120)])
    before = client.requests
    rows = [row async for row in client.list_all("crm.contact.list", {"select": ["ID", "NAME"]})]
    assert [r["NAME"] for r in rows] == [f"n{i}" for i in range(120)]
    assert client.requests - before == 3  # 50, 50, 20: the short page ends the walk


async def test_batch_chaining_and_per_command_errors(client: Bitrix24Client) -> None:
    reply = await client.batch(
        {
            "deal": ("crm.item.add", {"entityTypeId": 2, "fields": {"title": "chained"}}),
            "rows": (
                "crm.item.productrow.set",
                {
                    "ownerType": "D",
                    "ownerId": "$result[deal][item][id]",
                    "productRows": [{"productName": "x", "price": 5, "quantity": 2}],
                },
            ),
            "bad": ("crm.deal.get", {"id": 424242}),
        }
    )
    deal_id = reply.results["deal"]["item"]["id"]
    rows = (
        await client.call("crm.item.productrow.list", {"filter": {"=ownerType": "D", "=ownerId": deal_id}})
    ).result
    assert [(r["productName"], r["quantity"]) for r in rows["productRows"]] == [("x", 2)]
    assert isinstance(reply.errors["bad"], NotFound)


async def test_cloud_limits_are_respected_without_a_single_503(client_for: Build) -> None:
    sandbox = make_sandbox("cloud")
    async with client_for(sandbox, limits="cloud") as client:
        results = await asyncio.gather(
            *(client.call("crm.contact.add", {"fields": {"NAME": str(i)}}) for i in range(120))
        )
    assert len({r.result for r in results}) == 120
    assert client.retries == 0  # our bucket waited before the portal's overflowed


async def test_503_and_html_are_absorbed_and_nothing_is_duplicated(
    sandbox: Bitrix24Sandbox, client_for: Build
) -> None:
    sandbox.portal.faults.error_rate = 0.3
    sandbox.portal.faults.rng.seed(7)
    async with client_for(sandbox) as client:
        for i in range(30):
            await client.call("crm.contact.add", {"fields": {"NAME": f"c{i}"}}, repeat=True)
        assert client.retries > 0
    sandbox.portal.faults.error_rate = 0.0
    names = sorted(c["NAME"] for c in rows(sandbox, "crm.contact"))
    assert names == sorted(f"c{i}" for i in range(30))


async def test_a_short_operating_time_hold_is_waited_out_a_long_one_goes_to_the_queue(
    sandbox: Bitrix24Sandbox, client_for: Build
) -> None:
    # Each call costs a minute of server time: the ninth call within ten minutes would be refused.
    strict = make_sandbox("cloud")
    strict.portal.limits.costs["crm.deal.list"] = 60.0
    start = strict.clock.now()
    patient = Retry(attempts=4, base=0.1, cap=1.0, max_wait=700.0, max_total=1400.0)
    async with client_for(strict, limits="cloud", retry=patient) as client:
        for _ in range(12):
            await client.call("crm.deal.list", {"start": -1})
    # The budget (480 s per 10 minutes) holds 8 calls; the rest waited for the oldest basket to drop.
    assert strict.clock.now() - start >= 600

    strict = make_sandbox("cloud")
    strict.portal.limits.costs["crm.deal.list"] = 60.0
    start = strict.clock.now()
    async with client_for(strict, limits="cloud", retry=Retry(attempts=4, base=0.1, cap=1.0)) as client:
        for _ in range(8):
            await client.call("crm.deal.list", {"start": -1})
        sent = client.requests
        with pytest.raises(RateLimited) as refused:
            await client.call("crm.deal.list", {"start": -1})
    # Not slept under a lease, not even sent: the error carries the wait for the queue (§2.6).
    assert client.requests == sent
    assert (refused.value.retry_after or 0) > 60
    assert strict.clock.now() - start < 60


async def test_token_expiry_refreshes_once_under_concurrency(
    sandbox: Bitrix24Sandbox, client_for: Build
) -> None:
    app = sandbox.install_app()
    saved: list[Tokens] = []

    async def save(tokens: Tokens) -> None:
        saved.append(tokens)

    tokens = Tokens(app["access_token"], app["refresh_token"], f"{BASE}/rest/")
    oauth = OAuth(
        tokens,
        client_id=app["client_id"],
        client_secret=app["client_secret"],
        save=save,
        auth_url=f"{BASE}/oauth/token/",
    )
    async with client_for(sandbox, auth=oauth) as client:
        await client.call("crm.deal.list")
        sandbox.clock.advance(3601)
        await asyncio.gather(*(client.call("crm.deal.list") for _ in range(20)))
        assert oauth.refreshes == 1
        assert len(saved) == 1
        assert saved[0].refresh_token != app["refresh_token"]
    # The old refresh token died with the rotation (docs/protocols/bitrix24.md §1.2).
    async with httpx.AsyncClient(transport=httpx.ASGITransport(sandbox.app), base_url=BASE) as raw:
        answer = await raw.get(
            "/oauth/token/",
            params={
                "grant_type": "refresh_token",
                "client_id": app["client_id"],
                "client_secret": app["client_secret"],
                "refresh_token": app["refresh_token"],
            },
        )
    assert "error" in answer.json()


class _Moved(httpx.AsyncBaseTransport):
    """The portal was renamed: the old address answers 302 to the new one (docs/protocols/bitrix24.md).

    See §1.3.
    """

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self.inner = inner
        self.redirected = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.host == "old.test":
            self.redirected += 1
            new = request.url.copy_with(host="portal.test")
            return httpx.Response(302, headers={"Location": str(new)})
        return await self.inner.handle_async_request(request)


async def test_a_302_move_repeats_the_post_at_the_new_address(sandbox: Bitrix24Sandbox) -> None:
    transport = _Moved(httpx.ASGITransport(sandbox.app))
    async with Bitrix24Client(
        Webhook(f"http://old.test/rest/{HOOK}/"), limits="off", transport=transport
    ) as client:
        first = await client.call("crm.contact.add", {"fields": {"NAME": "moved"}})
        second = await client.call("crm.contact.add", {"fields": {"NAME": "after"}})
        assert client.endpoint.startswith("http://portal.test/")
    assert transport.redirected == 1
    assert sorted(int(c["ID"]) for c in rows(sandbox, "crm.contact")) == sorted([first.result, second.result])


async def test_timeouts_on_a_create_are_not_repeated(sandbox: Bitrix24Sandbox, client_for: Build) -> None:
    class _Slow(httpx.AsyncBaseTransport):
        async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
            raise httpx.ReadTimeout("read timed out", request=request)

    async with Bitrix24Client(
        Webhook(f"{BASE}/rest/1/x/"), limits="off", transport=_Slow(), retry=Retry(attempts=5, base=0, cap=0)
    ) as client:
        with pytest.raises(TransientError):
            await client.call("crm.deal.add", {"fields": {}})
        assert client.requests == 1  # it may have landed: the engine recovers it by origin instead
        with pytest.raises(TransientError):
            await client.call("crm.deal.list")
        assert client.requests == 1 + 5  # reads are safe to repeat


async def test_two_processes_sharing_a_token_file_refresh_once(tmp_path: Path) -> None:
    sandbox = make_sandbox()
    app = sandbox.install_app()
    store = TokenFile(tmp_path / "tokens.json")
    await store.save(Tokens(app["access_token"], app["refresh_token"], f"{BASE}/rest/"))

    async def oauth() -> OAuth:
        tokens = await store.load()
        assert tokens is not None
        return OAuth(
            tokens,
            client_id=app["client_id"],
            client_secret=app["client_secret"],
            save=store.save,
            load=store.load,
            auth_url=f"{BASE}/oauth/token/",
        )

    first, second = await oauth(), await oauth()
    sandbox.clock.advance(3601)
    async with build_client(sandbox, auth=first) as a, build_client(sandbox, auth=second) as b:
        await asyncio.gather(*(c.call("crm.deal.list") for c in (a, b) for _ in range(5)))
    assert first.refreshes + second.refreshes == 1
    assert first.tokens == second.tokens == await store.load()


async def test_an_application_follows_a_renamed_portal_and_stores_the_new_address() -> None:
    sandbox = make_sandbox()
    app = sandbox.install_app()
    saved: list[Tokens] = []

    async def save(tokens: Tokens) -> None:
        saved.append(tokens)

    oauth = OAuth(
        Tokens(app["access_token"], app["refresh_token"], f"{BASE}/rest/"),
        client_id=app["client_id"],
        client_secret=app["client_secret"],
        save=save,
    )
    sandbox.portal.faults.moved_to = (
        "renamed.test"  # the old address answers 302 (docs/protocols/bitrix24.md §1.3)
    )
    async with build_client(sandbox, auth=oauth) as client:
        made = await client.call("crm.contact.add", {"fields": {"NAME": "после переезда"}})
        assert client.endpoint == "http://renamed.test/rest/"
    assert [t.client_endpoint for t in saved] == ["http://renamed.test/rest/"]
    assert [c["NAME"] for c in rows(sandbox, "crm.contact")] == ["после переезда"]
    assert made.result == rows(sandbox, "crm.contact")[0]["ID"]
