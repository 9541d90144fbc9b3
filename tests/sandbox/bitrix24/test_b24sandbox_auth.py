"""OAuth applications: install, token rotation, expiry by the sandbox clock, auth in query or body (§1.2)."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx

from obmen_sandbox.bitrix24 import Bitrix24Sandbox


async def _install(http: httpx.AsyncClient, **body: Any) -> dict[str, Any]:
    response = await http.post("/_sandbox/apps", json={"handler": None, "events_handler": None, **body})
    assert response.status_code == 200
    answer: dict[str, Any] = response.json()
    return answer


async def _refresh(http: httpx.AsyncClient, app: dict[str, Any], token: str) -> httpx.Response:
    query = {
        "grant_type": "refresh_token",
        "client_id": app["client_id"],
        "client_secret": app["client_secret"],
        "refresh_token": token,
    }
    return await http.get("/oauth/token/", params=query)


async def test_auth_in_query_or_body(http: httpx.AsyncClient) -> None:
    app = await _install(http)
    tokens = {"client_id", "client_secret", "access_token", "refresh_token", "application_token"}
    assert set(app) == tokens | {"member_id", "domain"}
    in_body = await http.post(
        "/rest/crm.deal.add.json", json={"auth": app["access_token"], "fields": {"TITLE": "x"}}
    )
    assert in_body.json()["result"] == 1
    in_query = await http.get("/rest/crm.deal.get", params={"auth": app["access_token"], "id": 1})
    assert in_query.json()["result"]["TITLE"] == "x"
    missing = await http.post("/rest/crm.deal.get", json={"id": 1})
    assert (missing.status_code, missing.json()["error"]) == (401, "NO_AUTH_FOUND")
    forged = await http.post("/rest/crm.deal.get", json={"id": 1, "auth": "forged"})
    assert (forged.status_code, forged.json()["error"]) == (401, "invalid_token")


async def test_access_token_expires_after_an_hour(http: httpx.AsyncClient, sandbox: Bitrix24Sandbox) -> None:
    app = await _install(http)
    sandbox.clock.advance(3599)
    ok = await http.post("/rest/user.current", json={"auth": app["access_token"]})
    assert ok.status_code == 200
    sandbox.clock.advance(1)
    expired = await http.post("/rest/user.current", json={"auth": app["access_token"]})
    assert expired.status_code == 401
    assert expired.json() == {
        "error": "expired_token",
        "error_description": "The access token provided has expired.",
    }


async def test_refresh_rotates_and_the_old_refresh_token_dies(http: httpx.AsyncClient) -> None:
    app = await _install(http)
    first = await _refresh(http, app, app["refresh_token"])
    assert first.status_code == 200
    tokens = first.json()
    assert tokens["refresh_token"] != app["refresh_token"]
    assert (tokens["expires_in"], tokens["member_id"]) == (3600, app["member_id"])
    assert tokens["client_endpoint"] == "http://portal.test/rest/"
    again = await _refresh(http, app, app["refresh_token"])
    assert (again.status_code, again.json()["error"]) == (400, "invalid_grant")
    works = await http.post("/rest/user.current", json={"auth": tokens["access_token"]})
    assert works.json()["result"]["ID"] == "1"
    second = await _refresh(http, app, tokens["refresh_token"])
    assert second.status_code == 200
    wrong_secret = await http.get(
        "/oauth/token/",
        params={"grant_type": "refresh_token", "client_id": app["client_id"], "client_secret": "x"},
    )
    assert wrong_secret.json()["error"] == "invalid_client"


async def test_authorization_code_lives_thirty_seconds(
    http: httpx.AsyncClient, sandbox: Bitrix24Sandbox
) -> None:
    app = await _install(http, handler="https://app.test/install")
    redirect = await http.get("/oauth/authorize/", params={"client_id": app["client_id"], "state": "s1"})
    assert redirect.status_code == 302
    location = urlsplit(redirect.headers["location"])
    query = parse_qs(location.query)
    assert (location.netloc, query["state"], query["domain"]) == ("app.test", ["s1"], ["portal.test"])
    grant = {
        "grant_type": "authorization_code",
        "client_id": app["client_id"],
        "client_secret": app["client_secret"],
    }
    token = await http.post("/oauth/token/", data={**grant, "code": query["code"][0]})
    assert token.status_code == 200
    reused = await http.post("/oauth/token/", data={**grant, "code": query["code"][0]})
    assert reused.json()["error"] == "invalid_grant"
    late = parse_qs(
        urlsplit(
            (await http.get("/oauth/authorize/", params={"client_id": app["client_id"]})).headers["location"]
        ).query
    )
    sandbox.clock.advance(31)
    assert (await http.post("/oauth/token/", data={**grant, "code": late["code"][0]})).json()[
        "error"
    ] == "invalid_grant"


async def test_app_info_and_scope(http: httpx.AsyncClient) -> None:
    app = await _install(http)
    info = await http.post("/rest/app.info", json={"auth": app["access_token"]})
    assert info.json()["result"]["CODE"] == app["client_id"]
    scopes = await http.post("/rest/scope", json={"auth": app["access_token"]})
    assert {"crm", "catalog", "user"} <= set(scopes.json()["result"])
    methods = await http.post("/rest/methods", json={"auth": app["access_token"]})
    assert "crm.item.list" in methods.json()["result"]
