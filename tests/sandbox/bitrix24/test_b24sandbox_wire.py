"""Wire level: bracket bodies, envelopes, PHP-style JSON, auth, error statuses (docs/protocols/bitrix24.md).

See §1, §2.
"""

from __future__ import annotations

from typing import Any

import httpx
from b24sandbox_support import HOOK, Rest
from hypothesis import given
from hypothesis import strategies as st

from obmen_sandbox.bitrix24.events import flatten
from obmen_sandbox.bitrix24.wire import dumps, parse_query


def test_bracket_notation_nests_maps_and_lists() -> None:
    parsed = parse_query(
        "fields%5BTITLE%5D=A%26B&fields[PHONE][0][VALUE]=1&fields[PHONE][0][VALUE_TYPE]=WORK"
        "&fields[PHONE][1][VALUE]=2&select[]=ID&select[]=TITLE&filter[%3E%3DID]=5&broken[x=1"
    )
    assert parsed == {
        "fields": {"TITLE": "A&B", "PHONE": [{"VALUE": "1", "VALUE_TYPE": "WORK"}, {"VALUE": "2"}]},
        "select": ["ID", "TITLE"],
        "filter": {">=ID": "5"},
        "broken_x": "1",
    }


def test_an_unencoded_equals_sign_in_a_key_splits_it_as_php_does() -> None:
    # parse_str splits at the first "=": clients must encode operators such as ">=" in filter keys.
    assert parse_query("filter[>=ID]=5") == {"filter_>": "ID]=5"}


def test_non_sequential_indexes_stay_a_map() -> None:
    assert parse_query("fields[PHONE][n0][VALUE]=1&fields[PHONE][5][VALUE]=2") == {
        "fields": {"PHONE": {"n0": {"VALUE": "1"}, "5": {"VALUE": "2"}}}
    }


_keys = st.text(alphabet="abcXYZ_09", min_size=1, max_size=5).filter(lambda k: not k.isdigit())
_trees = st.recursive(
    st.text(alphabet="абв xyz&=%[]", max_size=6),
    lambda children: st.dictionaries(_keys, children, min_size=1, max_size=3),
    max_leaves=12,
)


@given(st.dictionaries(_keys, _trees, min_size=1, max_size=4))
def test_flatten_then_parse_round_trips(tree: dict[str, Any]) -> None:
    from urllib.parse import urlencode

    assert parse_query(urlencode(flatten(tree))) == tree


def test_php_json_writes_empty_maps_as_lists_and_escapes() -> None:
    assert dumps({"a": {}, "b": "x/y", "c": "Ж"}) == b'{"a":[],"b":"x\\/y","c":"\\u0416"}'


async def test_form_body_json_body_and_query_string_agree(rest: Rest, http: httpx.AsyncClient) -> None:
    form = await http.post(
        f"/rest/{HOOK}/crm.contact.add",
        data={"fields[NAME]": "Иван", "fields[PHONE][0][VALUE]": "+79001234567"},
    )
    assert form.status_code == 200
    assert form.json()["result"] == 1
    multipart = await http.post(
        f"/rest/{HOOK}/crm.contact.add",
        files={"fields[NAME]": (None, "Пётр")},
        data={"fields[LAST_NAME]": "П"},
    )
    assert multipart.json()["result"] == 2
    got = await http.get(f"/rest/{HOOK}/crm.contact.get.json?ID=1")
    assert got.json()["result"]["NAME"] == "Иван"
    assert got.json()["result"]["PHONE"][0]["VALUE"] == "+79001234567"
    assert (await rest.result("crm.contact.get", {"id": 2}))["NAME"] == "Пётр"


async def test_get_ignores_a_json_body(http: httpx.AsyncClient) -> None:
    response = await http.request(
        "GET",
        f"/rest/{HOOK}/crm.deal.get",
        content=b'{"id": 1}',
        headers={"content-type": "application/json"},
    )
    assert response.status_code == 400
    assert response.json() == {"error": "", "error_description": "ID is not defined or invalid."}


async def test_envelope_has_time_and_list_total_next(rest: Rest) -> None:
    for n in range(51):
        await rest.call("crm.deal.add", {"fields": {"TITLE": f"D{n}"}})
    body = await rest.call("crm.deal.list", {"select": ["ID"]})
    assert body["total"] == 51
    assert body["next"] == 50
    assert len(body["result"]) == 50
    assert set(body["time"]) == {"start", "finish", "duration", "processing", "date_start", "date_finish"}
    last = await rest.call("crm.deal.list", {"select": ["ID"], "start": 50})
    assert "next" not in last
    assert [row["ID"] for row in last["result"]] == ["51"]
    fast = await rest.call("crm.deal.list", {"select": ["ID"], "start": -1})
    assert fast["total"] == 0
    assert "next" not in fast
    assert len(fast["result"]) == 50


async def test_wrong_webhook_is_no_auth_found(http: httpx.AsyncClient) -> None:
    response = await http.post("/rest/1/wrong/crm.deal.list", json={})
    assert response.status_code == 401
    assert response.json()["error"] == "NO_AUTH_FOUND"
    other_user = await http.post("/rest/2/sandboxtoken/crm.deal.list", json={})
    assert other_user.status_code == 401


async def test_unknown_method_and_app_only_methods(rest: Rest) -> None:
    missing = await rest.raw("crm.deal.nonsense")
    assert (missing.status_code, missing.json()["error"]) == (404, "ERROR_METHOD_NOT_FOUND")
    bind = await rest.raw("event.bind", {"event": "ONCRMDEALADD", "handler": "http://h.test/"})
    assert (bind.status_code, bind.json()["error"]) == (403, "WRONG_AUTH_TYPE")


async def test_method_names_are_case_insensitive(rest: Rest) -> None:
    assert await rest.result("CRM.Deal.Add", {"FIELDS": {"TITLE": "x"}}) == 1


async def test_invalid_json_body_is_a_clear_error(http: httpx.AsyncClient) -> None:
    response = await http.post(
        f"/rest/{HOOK}/crm.deal.add", content=b"{nope", headers={"content-type": "application/json"}
    )
    assert response.status_code == 400
    assert response.json()["error"] == "INVALID_REQUEST"


def test_nesting_deeper_than_php_allows_is_dropped() -> None:
    deep = "a" + "[x]" * 100
    assert parse_query(f"{deep}=1&b[c]=2") == {"b": {"c": "2"}}


@given(st.text(alphabet="ab[]=&%5BD0x", max_size=40))
def test_any_query_string_parses_without_error(query: str) -> None:
    parsed = parse_query(query)
    assert isinstance(parsed, dict)
    dumps(parsed)
