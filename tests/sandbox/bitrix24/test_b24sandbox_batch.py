"""`batch`: inner URL-encoding, chaining, halt, members, limits of 50 and nesting.

See §4 (docs/protocols/bitrix24.md).
"""

from __future__ import annotations

import httpx
from b24sandbox_support import HOOK, Rest


async def test_inner_query_strings_are_url_encoded_and_chained(rest: Rest) -> None:
    body = await rest.result(
        "batch",
        {
            "halt": 0,
            "cmd": {
                "deal": "crm.deal.add?fields[TITLE]=John%26Martin&fields[OPPORTUNITY]=10",
                "again": "crm.deal.add?fields%5BTITLE%5D=second",
                "got": "crm.deal.get?id=$result[deal]",
                "list": "crm.deal.list?select[]=ID&select[]=TITLE&order[ID]=DESC",
                "first": "crm.deal.get?id=$result[list][0][ID]",
                "title": "crm.deal.add?fields[TITLE]=copy of $result[got][TITLE]",
            },
        },
    )
    assert body["result"]["deal"] == 1
    assert body["result"]["got"]["TITLE"] == "John&Martin"
    assert body["result"]["first"]["TITLE"] == "second"
    assert body["result_total"] == {"list": 2}
    assert body["result_error"] == []
    assert body["result_next"] == []
    assert set(body["result_time"]) == {"deal", "again", "got", "list", "first", "title"}
    assert (await rest.result("crm.deal.get", {"id": body["result"]["title"]}))[
        "TITLE"
    ] == "copy of John&Martin"


async def test_a_batch_sent_as_a_form_is_double_encoded(http: httpx.AsyncClient) -> None:
    response = await http.post(
        f"/rest/{HOOK}/batch",
        data={
            "halt": "0",
            "cmd[a]": "crm.deal.add?fields[TITLE]=A%26B",
            "cmd[b]": "crm.deal.get?id=$result[a]",
        },
    )
    assert response.json()["result"]["result"]["b"]["TITLE"] == "A&B"


async def test_failures_go_to_result_error_and_halt_stops(rest: Rest) -> None:
    commands = {"bad": "crm.deal.get?id=42", "good": "crm.deal.add?fields[TITLE]=x", "nope": "no.such.method"}
    lenient = await rest.result("batch", {"halt": 0, "cmd": commands})
    assert lenient["result_error"] == {
        "bad": {"error": "", "error_description": "Not found"},
        "nope": {"error": "ERROR_METHOD_NOT_FOUND", "error_description": "Method not found!"},
    }
    assert lenient["result"] == {"good": 1}
    strict = await rest.result("batch", {"halt": 1, "cmd": commands})
    assert strict["result"] == []
    assert list(strict["result_error"]) == ["bad"]
    assert (await rest.result("crm.deal.list"))[-1]["ID"] == "1"  # halt ran nothing after "bad"


async def test_list_cmd_answers_lists(rest: Rest) -> None:
    body = await rest.result(
        "batch", {"cmd": ["crm.deal.add?fields[TITLE]=a", "crm.deal.add?fields[TITLE]=b"]}
    )
    assert body["result"] == [1, 2]


async def test_more_than_fifty_commands_are_refused(rest: Rest) -> None:
    response = await rest.raw("batch", {"cmd": {f"c{n}": "user.current" for n in range(51)}})
    assert response.status_code == 400
    assert response.json()["error"] == "ERROR_BATCH_LENGTH_EXCEEDED"
    assert await rest.result("crm.deal.list") == []
    full = await rest.result("batch", {"cmd": {f"c{n}": "crm.deal.add?fields[TITLE]=x" for n in range(50)}})
    assert len(full["result"]) == 50


async def test_no_nested_batch(rest: Rest) -> None:
    body = await rest.result("batch", {"cmd": {"inner": "batch?cmd[x]=user.current"}})
    assert body["result_error"]["inner"]["error"] == "ERROR_BATCH_METHOD_NOT_ALLOWED"


async def test_paging_members_for_list_commands(rest: Rest) -> None:
    await rest.call("batch", {"cmd": {f"c{n}": "crm.deal.add?fields[TITLE]=x" for n in range(50)}})
    await rest.call("crm.deal.add", {"fields": {"TITLE": "last"}})
    body = await rest.result(
        "batch", {"cmd": {"p1": "crm.deal.list?select[]=ID", "fast": "crm.deal.list?start=-1"}}
    )
    assert body["result_next"] == {"p1": 50}
    assert body["result_total"] == {"p1": 51, "fast": 0}
