"""The wire format and the one place Bitrix24 errors are classified (docs/protocols/bitrix24.md §2, §4)."""

from __future__ import annotations

from urllib.parse import parse_qsl

import pytest

from obmen.connectors.bitrix24.client.wire import (
    ApiError,
    MethodNotFound,
    TokenExpired,
    encode_query,
    flatten,
    parse_reply,
)
from obmen.errors import AuthError, NotFound, ProtocolError, RateLimited, TransientError


def test_flatten_uses_php_brackets_for_nested_maps_and_lists() -> None:
    pairs = flatten({"fields": {"TITLE": "x", "PHONE": [{"VALUE": "+7", "VALUE_TYPE": "WORK"}]}, "id": 5})
    assert pairs == [
        ("fields[TITLE]", "x"),
        ("fields[PHONE][0][VALUE]", "+7"),
        ("fields[PHONE][0][VALUE_TYPE]", "WORK"),
        ("id", "5"),
    ]


def test_batch_command_values_are_encoded_once() -> None:
    # docs/protocols/bitrix24.md §4: inside a JSON batch the inner query string is URL-encoded exactly once.
    query = encode_query({"fields": {"TITLE": "John&Martin = 100%"}})
    assert query == "fields[TITLE]=John%26Martin%20%3D%20100%25"
    assert parse_qsl(query) == [("fields[TITLE]", "John&Martin = 100%")]


def test_chain_references_survive_encoding_readably() -> None:
    query = encode_query({"ownerId": "$result[o0a][item][id]"})
    assert parse_qsl(query) == [("ownerId", "$result[o0a][item][id]")]


def test_success_envelope() -> None:
    reply = parse_reply(
        200, "application/json", b'{"result": [1], "total": 120, "next": 50, "time": {}}', "m"
    )
    assert (reply.result, reply.total, reply.next) == ([1], 120, 50)


@pytest.mark.parametrize(
    ("status", "body", "expected"),
    [
        (503, b'{"error":"QUERY_LIMIT_EXCEEDED","error_description":"Too many requests"}', RateLimited),
        (429, b'{"error":"OPERATION_TIME_LIMIT","error_description":"Method is blocked"}', RateLimited),
        (401, b'{"error":"expired_token","error_description":"The access token expired"}', TokenExpired),
        (401, b'{"error":"NO_AUTH_FOUND","error_description":"Wrong authorization data"}', AuthError),
        (403, b'{"error":"WRONG_AUTH_TYPE","error_description":"Application context required"}', AuthError),
        (400, b'{"error":"","error_description":"Not found"}', NotFound),
        (400, b'{"error":"NOT_FOUND","error_description":"Item not found"}', NotFound),
        (404, b'{"error":"ERROR_METHOD_NOT_FOUND","error_description":"Method not found!"}', MethodNotFound),
        (500, b'{"error":"INTERNAL_SERVER_ERROR","error_description":""}', TransientError),
        (400, b'{"error":"INVALID_ARG_VALUE","error_description":"Invalid filter"}', ApiError),
    ],
)
def test_errors_map_to_the_obmen_tree(status: int, body: bytes, expected: type[Exception]) -> None:
    with pytest.raises(expected) as caught:
        parse_reply(status, "application/json", body, "crm.deal.get")
    assert "crm.deal.get" in str(caught.value)


def test_invalid_arg_keeps_its_code() -> None:
    with pytest.raises(ApiError) as caught:
        parse_reply(400, "application/json", b'{"error":"INVALID_ARG_VALUE","error_description":"x"}', "m")
    assert (caught.value.code, caught.value.status) == ("INVALID_ARG_VALUE", 400)
    assert not isinstance(caught.value, NotFound)


def test_html_from_a_proxy_is_transient() -> None:
    # docs/protocols/bitrix24.md §2.3 / I#FB-216: proxies answer HTML on timeouts; try again later.
    with pytest.raises(TransientError, match="HTML"):
        parse_reply(502, "text/html", b"<html><body>Bad Gateway</body></html>", "crm.deal.list")
    with pytest.raises(TransientError):
        parse_reply(200, "text/html; charset=utf-8", b"<!DOCTYPE html><p>maintenance</p>", "crm.deal.list")


def test_garbage_json_is_a_protocol_error() -> None:
    with pytest.raises(ProtocolError):
        parse_reply(200, "application/json", b'"just a string"', "m")
