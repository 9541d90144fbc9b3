"""fast-bitrix24 (leshchenko1979/fast_bitrix24) drives the sandbox over HTTPS through a webhook URL.

FB POSTs JSON to `<webhook><method lower-cased>`, pages `get_all` with `start` offsets packed into
`batch` commands, packs `call` items 50 to a batch (`cmd` keys `order0000000000`…, an extra `__order`
parameter in every command) and `get_by_ID` 50 ids to a batch keyed by the id (docs/protocols/bitrix24.md
§7.2).
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import httpx
import pytest
from fast_bitrix24 import BitrixAsync
from fidelity_support import Served

DEALS = 130  # three pages of 50 and three batches of `call`


@pytest.fixture
async def session(served: Served) -> AsyncIterator[aiohttp.ClientSession]:
    """FB's own aiohttp session type, trusting the throwaway certificate (verification stays on)."""
    connector = aiohttp.TCPConnector(ssl=served.ssl_context())
    async with aiohttp.ClientSession(connector=connector, raise_for_status=True) as client:
        yield client


def _bitrix(served: Served, session: aiohttp.ClientSession) -> BitrixAsync:
    return BitrixAsync(served.webhook_url, verbose=False, client=session)


async def _add_deals(bitrix: BitrixAsync) -> list[int]:
    items = [
        {"fields": {"TITLE": f"FB deal {number:03}", "OPPORTUNITY": 100 + number}} for number in range(DEALS)
    ]
    ids = await bitrix.call("crm.deal.add", items)
    assert isinstance(ids, tuple)
    assert len(ids) == DEALS
    assert all(isinstance(deal_id, int) for deal_id in ids)
    assert len(set(ids)) == DEALS
    return list(ids)


async def test_call_with_130_items_is_batched_and_creates_every_deal(
    served: Served, session: aiohttp.ClientSession
) -> None:
    bitrix = _bitrix(served, session)
    ids = await _add_deals(bitrix)
    deals = await bitrix.get_all("crm.deal.list", {"select": ["ID", "TITLE", "OPPORTUNITY"]})
    assert sorted(int(deal["ID"]) for deal in deals) == sorted(ids)
    assert sorted(deal["TITLE"] for deal in deals) == [f"FB deal {number:03}" for number in range(DEALS)]
    # Legacy methods answer strings (docs/protocols/bitrix24.md §2.2), whatever FB sent.
    assert {deal["OPPORTUNITY"] for deal in deals} == {f"{100 + number}.00" for number in range(DEALS)}


async def test_get_all_follows_three_pages_of_50(served: Served, session: aiohttp.ClientSession) -> None:
    bitrix = _bitrix(served, session)
    ids = await _add_deals(bitrix)
    # The sandbox really pages by 50 (so FB had to follow `total` across three pages) ...
    async with httpx.AsyncClient(verify=served.ssl_context()) as raw:
        first = (await raw.post(served.webhook_url + "crm.deal.list", json={"select": ["ID"]})).json()
    assert (len(first["result"]), first["total"], first["next"]) == (50, DEALS, 50)
    # ... and FB's get_all put the pages back together without losing or repeating a deal.
    deals = await bitrix.get_all("crm.deal.list", {"select": ["ID"], "filter": {">OPPORTUNITY": 0}})
    assert len(deals) == DEALS
    assert {int(deal["ID"]) for deal in deals} == set(ids)


async def test_get_by_id_returns_each_deal_under_its_id(
    served: Served, session: aiohttp.ClientSession
) -> None:
    bitrix = _bitrix(served, session)
    ids = sorted(await _add_deals(bitrix))
    wanted = ids[:60]  # more than one batch of 50
    deals = await bitrix.get_by_ID("crm.deal.get", wanted)
    assert set(deals) == {str(deal_id) for deal_id in wanted}
    assert all(deals[str(deal_id)]["ID"] == str(deal_id) for deal_id in wanted)
    titles = {deals[str(deal_id)]["TITLE"] for deal_id in wanted}
    assert len(titles) == len(wanted)
    assert all(title.startswith("FB deal ") for title in titles)


async def test_a_missing_id_inside_the_batch_surfaces_as_the_legacy_error(
    served: Served, session: aiohttp.ClientSession
) -> None:
    """FB#262: one missing id makes get_by_ID raise with the batch's `result_error` ("" / Not found)."""
    from fast_bitrix24.server_response import ErrorInServerResponseException

    bitrix = _bitrix(served, session)
    ids = sorted(await _add_deals(bitrix))
    with pytest.raises(ErrorInServerResponseException) as raised:
        await bitrix.get_by_ID("crm.deal.get", [ids[0], 999_999])
    assert raised.value.args[0] == {"999999": {"error": "", "error_description": "Not found"}}
