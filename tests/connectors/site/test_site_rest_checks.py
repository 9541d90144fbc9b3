"""`obmen check` in `site.mode = "rest"`: the webhook, its scopes and an order read, against the sandbox."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from obmen.connectors.site.rest.checks import rest_checks
from obmen.connectors.site.rest.client import SiteRest
from obmen_sandbox.serving import free_port, serve_in_thread
from obmen_sandbox.site import SiteSandbox


@pytest.fixture
def site() -> Iterator[tuple[SiteSandbox, str]]:
    sandbox = SiteSandbox("obmen", "secret", webhook="1/goodcode")
    sandbox.state.rest.add(2, "catalogonly", frozenset({"catalog"}))
    with serve_in_thread(sandbox.app) as url:
        yield sandbox, url


async def _verdicts(webhook: str) -> dict[str, tuple[bool, str]]:
    client = SiteRest(webhook, attempts=1)
    try:
        return {c.name: (c.ok, c.detail) for c in await rest_checks(client, events="the outgoing webhook")}
    finally:
        await client.aclose()


async def test_a_working_webhook_with_the_sale_scope_passes_every_check(
    site: tuple[SiteSandbox, str],
) -> None:
    found = await _verdicts(f"{site[1]}/rest/1/goodcode/")
    assert [ok for ok, _ in found.values()] == [True, True, True], found
    assert "sale" in found["webhook scopes / права вебхука"][1]
    assert "orders" in found["orders / заказы"][1]


async def test_an_unknown_webhook_fails_and_says_what_to_fix(site: tuple[SiteSandbox, str]) -> None:
    found = await _verdicts(f"{site[1]}/rest/1/wrongcode/")
    assert list(found) == ["REST webhook / вебхук"]
    ok, detail = found["REST webhook / вебхук"]
    assert not ok
    assert "INVALID_CREDENTIALS" in detail


async def test_a_webhook_without_the_sale_scope_fails_the_scope_check(site: tuple[SiteSandbox, str]) -> None:
    found = await _verdicts(f"{site[1]}/rest/2/catalogonly/")
    assert found["REST webhook / вебхук"][0]
    ok, detail = found["webhook scopes / права вебхука"]
    assert not ok
    assert "missing sale" in detail
    assert "orders / заказы" not in found


async def test_a_site_that_does_not_answer_fails_the_webhook_check() -> None:
    found = await _verdicts(f"http://127.0.0.1:{free_port()}/rest/1/code/")
    ok, detail = found["REST webhook / вебхук"]
    assert not ok
    assert "Unreachable" in detail  # a TransientError that also opens the site's breaker (§2.13)
