"""Both Python clients page `crm.item.list`, whose rows sit under `result.items` (docs/protocols/bitrix24.md).

See §2.2.

fast-bitrix24 unwraps the one-key `{"items": [...]}` of every page, in the first answer and inside
batch results; b24pysdk's `as_list_fast` chains `>id` filters through `$result[n][items][49][id]`.
"""

from __future__ import annotations

import aiohttp
import pytest
from b24pysdk import BitrixWebhook, Client
from fast_bitrix24 import BitrixAsync
from fidelity_support import WEBHOOK, Served

LEADS = 111


async def _add_leads(served: Served, session: aiohttp.ClientSession) -> list[int]:
    bitrix = BitrixAsync(served.webhook_url, verbose=False, client=session)
    items = [{"entityTypeId": 1, "fields": {"title": f"Lead {n:03}", "opportunity": n}} for n in range(LEADS)]
    answers = await bitrix.call("crm.item.add", items)
    assert len(answers) == LEADS
    ids = [answer["id"] for answer in answers]
    assert all(isinstance(lead_id, int) for lead_id in ids)
    return ids


async def test_fast_bitrix24_get_all_unwraps_items_across_pages(served: Served) -> None:
    connector = aiohttp.TCPConnector(ssl=served.ssl_context())
    async with aiohttp.ClientSession(connector=connector, raise_for_status=True) as session:
        ids = await _add_leads(served, session)
        bitrix = BitrixAsync(served.webhook_url, verbose=False, client=session)
        leads = await bitrix.get_all(
            "crm.item.list", {"entityTypeId": 1, "select": ["id", "title", "opportunity"]}
        )
    assert sorted(lead["id"] for lead in leads) == sorted(ids)
    # crm.item.* answer typed values, unlike the legacy methods (docs/protocols/bitrix24.md §2.2).
    assert {lead["opportunity"] for lead in leads} == set(range(LEADS))


async def test_b24pysdk_as_list_fast_chains_through_the_items_wrapper(
    served: Served, monkeypatch: pytest.MonkeyPatch
) -> None:
    connector = aiohttp.TCPConnector(ssl=served.ssl_context())
    async with aiohttp.ClientSession(connector=connector, raise_for_status=True) as session:
        ids = await _add_leads(served, session)
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", served.cert)
    client = Client(BitrixWebhook(domain=served.host, webhook_token=WEBHOOK))
    leads = list(client.crm.item.list(entity_type_id=1, select=["id", "title"]).as_list_fast().result)
    assert [lead["id"] for lead in leads] == sorted(ids)
    assert {lead["title"] for lead in leads} == {f"Lead {n:03}" for n in range(LEADS)}
