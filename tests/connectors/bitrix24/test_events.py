"""Event payloads become keys; forged ones are refused (docs/protocols/bitrix24.md §6.3)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence

import httpx
import pytest
from starlette.applications import Starlette

from obmen.connectors.base import Change
from obmen.connectors.bitrix24.client.auth import Tokens
from obmen.connectors.bitrix24.events.hooks import Bitrix24Hooks, routes
from obmen.connectors.bitrix24.events.notices import change_of, parse_form

TOKEN = "51856fefc120afa4b628cc82d3935cce"


def _form(event: str, ident: str, token: str = TOKEN, **extra: str) -> dict[str, str]:
    return {
        "event": event,
        "event_handler_id": "201",
        "data[FIELDS][ID]": ident,
        **{f"data[FIELDS][{k}]": v for k, v in extra.items()},
        "ts": "1736405807",
        "auth[domain]": "portal.bitrix24.ru",
        "auth[member_id]": "a223c6b3710f85df22e9377d6c4f7553",
        "auth[application_token]": token,
    }


def test_parse_form_nests_brackets() -> None:
    assert parse_form([("data[FIELDS][ID]", "7"), ("event", "X")]) == {
        "data": {"FIELDS": {"ID": "7"}},
        "event": "X",
    }


@pytest.mark.parametrize(
    ("event", "fields", "change"),
    [
        ("ONCRMDEALUPDATE", {"ID": "759"}, Change("order", "759")),
        ("ONCRMCONTACTADD", {"ID": "12"}, Change("counterparty", "C12")),
        ("ONCRMCOMPANYDELETE", {"ID": "4"}, Change("counterparty", "CO4")),
        ("ONCRMDYNAMICITEMUPDATE", {"ID": "9", "ENTITY_TYPE_ID": "31"}, Change("invoice", "9")),
        ("ONCRMDYNAMICITEMUPDATE", {"ID": "9", "ENTITY_TYPE_ID": "128"}, None),  # a smart process, not ours
        ("ONCRMLEADADD", {"ID": "1"}, Change("lead", "1")),
        ("CATALOG.PRODUCT.ON.UPDATE", {"ID": "31", "TYPE": "4"}, Change("offer", "31")),
        ("ONCRMQUOTEADD", {"ID": "1"}, None),
        ("ONCRMDEALUPDATE", {"ID": "1; DROP"}, None),
    ],
)
def test_events_name_keys(event: str, fields: dict[str, str], change: Change | None) -> None:
    assert change_of(event, {"FIELDS": fields}) == change


@pytest.fixture
def hooks_app() -> tuple[Starlette, list[Change], list[Tokens]]:
    queued: list[Change] = []
    installed: list[Tokens] = []

    async def enqueue(changes: Sequence[Change]) -> int:
        queued.extend(changes)
        return len(changes)

    async def install(tokens: Tokens, operator: bool) -> None:
        installed.append(tokens)

    hooks = Bitrix24Hooks(application_token=lambda: TOKEN, enqueue=enqueue, install=install)
    return Starlette(routes=routes(hooks)), queued, installed


async def _post(app: Starlette, path: str, form: dict[str, str] | bytes) -> httpx.Response:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://obmen") as client:
        if isinstance(form, bytes):
            headers = {"content-type": "application/x-www-form-urlencoded"}
            return await client.post(path, content=form, headers=headers)
        return await client.post(path, data=form)


async def test_a_true_event_is_enqueued(hooks_app: tuple[Starlette, list[Change], list[Tokens]]) -> None:
    app, queued, _ = hooks_app
    response = await _post(app, "/hooks/bitrix24", _form("ONCRMDEALUPDATE", "759"))
    assert response.status_code == 200
    assert queued == [Change("order", "759")]


async def test_a_forged_event_is_refused_and_enqueues_nothing(
    hooks_app: tuple[Starlette, list[Change], list[Tokens]],
) -> None:
    app, queued, _ = hooks_app
    forged = await _post(app, "/hooks/bitrix24", _form("ONCRMDEALUPDATE", "759", token="0" * 32))
    missing = _form("ONCRMDEALUPDATE", "759")
    del missing["auth[application_token]"]
    anonymous = await _post(app, "/hooks/bitrix24", missing)
    assert (forged.status_code, anonymous.status_code) == (403, 403)
    assert queued == []


async def test_an_oversized_body_is_refused(hooks_app: tuple[Starlette, list[Change], list[Tokens]]) -> None:
    app, queued, _ = hooks_app
    response = await _post(app, "/hooks/bitrix24", b"event=X&pad=" + b"a" * 100_000)
    assert response.status_code == 413
    assert queued == []


async def test_install_hands_over_the_tokens(hooks_app: tuple[Starlette, list[Change], list[Tokens]]) -> None:
    app, _, installed = hooks_app
    form = {
        "event": "ONAPPINSTALL",
        "auth[access_token]": "a1",
        "auth[refresh_token]": "r1",
        "auth[client_endpoint]": "https://portal.bitrix24.ru/rest/",
        "auth[member_id]": "m1",
        "auth[application_token]": "t1",
    }
    assert (await _post(app, "/hooks/bitrix24/install", form)).status_code == 200
    assert installed[0].refresh_token == "r1"
    assert installed[0].application_token == "t1"
    broken = await _post(app, "/hooks/bitrix24/install", {"event": "ONAPPINSTALL"})
    assert broken.status_code == 400
    assert len(installed) == 1


class _Counted:
    """A chunked body of 300 MB that counts what the server read."""

    def __init__(self) -> None:
        self.sent = 0

    async def __aiter__(self) -> AsyncIterator[bytes]:
        while self.sent < 300 * 1024 * 1024:
            self.sent += 4096
            yield b"a" * 4096


@pytest.mark.parametrize("path", ["/hooks/bitrix24", "/hooks/bitrix24/install"])
async def test_a_chunked_body_far_over_the_cap_is_refused_while_streaming(
    hooks_app: tuple[Starlette, list[Change], list[Tokens]], path: str
) -> None:
    app, queued, installed = hooks_app
    body = _Counted()
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://obmen") as client:
        headers = {"content-type": "application/x-www-form-urlencoded"}
        response = await client.post(path, content=body, headers=headers)
    assert response.status_code == 413
    assert body.sent <= 64 * 1024 + 2 * 4096  # the handler stopped reading at the cap
    assert (queued, installed) == ([], [])


@pytest.mark.parametrize(
    "body",
    [
        b"event=ONCRMDEALUPDATE&" + b"&".join(b"f%d=1" % i for i in range(1001)),  # past MAX_FIELDS
        b"event=ONCRMDEALUPDATE&data%5BFIELDS%5D%5BID%5D=%FF",  # not UTF-8 once decoded
        b"event=ONCRMDEALUPDATE&data[FIELDS]=1&data[FIELDS][ID]=2",  # a plain value and a nested one
    ],
)
async def test_a_malformed_form_is_refused(
    hooks_app: tuple[Starlette, list[Change], list[Tokens]], body: bytes
) -> None:
    app, queued, _ = hooks_app
    response = await _post(app, "/hooks/bitrix24", body)
    assert response.status_code == 400
    assert response.json()["error"] == "bad_request"
    assert queued == []


async def test_a_multipart_event_is_read_too(hooks_app: tuple[Starlette, list[Change], list[Tokens]]) -> None:
    app, queued, _ = hooks_app
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://obmen") as client:
        fields = {k: (None, v) for k, v in _form("ONCRMDEALUPDATE", "31").items()}
        response = await client.post("/hooks/bitrix24", files=fields)
    assert response.json() == {"queued": 1}
    assert queued == [Change("order", "31")]
