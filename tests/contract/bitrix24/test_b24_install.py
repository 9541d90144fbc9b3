"""The install handler takes only the configured application on the configured portal (issue 13, row 1).

Each attack of the issue against obmen's real install route, with the portal's own `POST /_sandbox/apps`
making the attacker's application: another application on the same portal, another portal on the same
host (another port), and an attacker-chosen `application_token`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
from b24_support import build_client
from starlette.applications import Starlette

from obmen.connectors.base import Change
from obmen.connectors.bitrix24.client.auth import OAuth, TokenFile, Tokens
from obmen.connectors.bitrix24.client.rest import Bitrix24Client
from obmen.connectors.bitrix24.events.hooks import Bitrix24Hooks, routes
from obmen.connectors.bitrix24.install import AppInstaller, origin
from obmen_sandbox.bitrix24 import Bitrix24Sandbox

OBMEN = "http://obmen.test"
INSTALL = f"{OBMEN}/hooks/bitrix24/install"
ADMIN = "operator-secret-token"


class _ByPort(httpx.AsyncBaseTransport):
    """Two portals on one host: port 8443 is the attacker's, the default port the real one."""

    def __init__(self, real: Bitrix24Sandbox, other: Bitrix24Sandbox) -> None:
        self.real = httpx.ASGITransport(real.app)
        self.other = httpx.ASGITransport(other.app)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        target = self.other if request.url.port == 8443 else self.real
        return await target.handle_async_request(request)


class Obmen:
    """obmen's install and event routes over a token file, configured for the real portal's app."""

    def __init__(self, tmp: Path, real: Bitrix24Sandbox, other: Bitrix24Sandbox, client_id: str) -> None:
        self.tokens = TokenFile(tmp / "bitrix24-tokens.json")
        self.queued: list[Change] = []
        transport = _ByPort(real, other)

        def client_factory(auth: OAuth) -> Bitrix24Client:
            return build_client(real, auth=auth, transport=transport)

        self.installer = AppInstaller(
            portal="https://portal.test",
            client_id=client_id,
            client_secret="",
            save=self.tokens.save,
            load=self.tokens.load,
            handler=f"{OBMEN}/hooks/bitrix24",
            client_factory=client_factory,
        )
        self.application_token = ""

        async def install(tokens: Tokens, operator: bool) -> None:
            await self.installer(tokens, operator=operator)
            stored = await self.tokens.load()
            assert stored is not None
            self.application_token = stored.application_token

        async def enqueue(changes: Any) -> int:
            self.queued.extend(changes)
            return len(changes)

        hooks = Bitrix24Hooks(
            application_token=lambda: self.application_token,
            enqueue=enqueue,
            install=install,
            admin_token=ADMIN,
        )
        self.app = Starlette(routes=routes(hooks))

    async def event(self, token: str) -> int:
        form = {"event": "ONCRMDEALUPDATE", "data[FIELDS][ID]": "5", "auth[application_token]": token}
        async with httpx.AsyncClient(transport=httpx.ASGITransport(self.app), base_url=OBMEN) as http:
            return (await http.post("/hooks/bitrix24", data=form)).status_code


def _portals(obmen_app: Any) -> tuple[Bitrix24Sandbox, Bitrix24Sandbox]:
    transport = httpx.ASGITransport(obmen_app)
    real = Bitrix24Sandbox(webhook="1/hook", domain="portal.test", event_transport=transport)
    other = Bitrix24Sandbox(
        webhook="1/hook",
        domain="portal.test:8443",
        base_url="https://portal.test:8443",
        event_transport=transport,
    )
    return real, other


async def _new_app(sandbox: Bitrix24Sandbox, handler: str | None) -> dict[str, Any]:
    """`POST /_sandbox/apps` on a portal: what its administrator (or an attacker there) can do."""
    async with httpx.AsyncClient(transport=httpx.ASGITransport(sandbox.app), base_url="http://sb") as http:
        answer = (await http.post("/_sandbox/apps", json={"handler": handler})).json()
    await sandbox.drain_events()
    return dict(answer)


async def _setup(tmp_path: Path) -> tuple[Obmen, Bitrix24Sandbox, Bitrix24Sandbox]:
    """obmen configured for the real portal's application, installed there by its administrator."""
    holder: dict[str, Starlette] = {}

    async def forward(scope: Any, receive: Any, send: Any) -> None:
        await holder["app"](scope, receive, send)

    real, other = _portals(forward)
    ours = real.install_app(handler=None)
    obmen = Obmen(tmp_path, real, other, ours["client_id"])
    holder["app"] = obmen.app
    real.portal.events.post_raw(INSTALL, _install_payload(real, ours))
    await real.drain_events()
    assert obmen.application_token == ours["application_token"]
    return obmen, real, other


def _install_payload(sandbox: Bitrix24Sandbox, app: dict[str, Any], **auth: str) -> dict[str, Any]:
    installed = sandbox.portal.auth.apps[app["client_id"]]
    block = sandbox.portal.events.auth_block(installed, refresh=True) | auth
    return {"event": "ONAPPINSTALL", "data": {"VERSION": "1"}, "auth": block}


def _statuses(sandbox: Bitrix24Sandbox) -> list[int]:
    return [status for url, _, status in sandbox.portal.events.delivered if url == INSTALL]


async def test_the_configured_application_installs(tmp_path: Path) -> None:
    obmen, real, _ = await _setup(tmp_path)
    stored = await obmen.tokens.load()
    assert stored is not None
    assert stored.client_id == obmen.installer._client_id
    assert _statuses(real) == [200]
    assert await obmen.event(obmen.application_token) == 200


async def test_another_application_on_the_same_portal_is_refused(tmp_path: Path) -> None:
    obmen, real, _ = await _setup(tmp_path)
    before = await obmen.tokens.load()
    attacker = await _new_app(real, INSTALL)  # its ONAPPINSTALL goes to obmen's install handler
    assert _statuses(real) == [200, 403]
    assert await obmen.tokens.load() == before
    assert await obmen.event(attacker["application_token"]) == 403
    assert await obmen.event(obmen.application_token) == 200  # the real portal's events still pass


async def test_another_portal_on_the_same_host_is_refused(tmp_path: Path) -> None:
    obmen, _, other = await _setup(tmp_path)
    before = await obmen.tokens.load()
    attacker = await _new_app(other, INSTALL)
    assert _statuses(other) == [403]
    assert await obmen.tokens.load() == before
    assert other.portal.events.bindings == []  # obmen bound nothing on the attacker's portal
    assert await obmen.event(attacker["application_token"]) == 403
    assert origin("https://portal.test:8443/rest/") != origin("https://portal.test")


async def test_an_attacker_chosen_application_token_is_refused(tmp_path: Path) -> None:
    obmen, real, _ = await _setup(tmp_path)
    before = await obmen.tokens.load()
    attacker = await _new_app(real, None)  # genuine tokens of another app, posted by hand
    form = {
        "event": "ONAPPINSTALL",
        "auth[access_token]": attacker["access_token"],
        "auth[refresh_token]": attacker["refresh_token"],
        "auth[client_endpoint]": "https://portal.test/rest/",
        "auth[member_id]": attacker["member_id"],
        "auth[application_token]": "chosen-by-the-attacker",
    }
    async with httpx.AsyncClient(transport=httpx.ASGITransport(obmen.app), base_url=OBMEN) as http:
        assert (await http.post("/hooks/bitrix24/install", data=form)).status_code == 403
        # Even the operator's token does not make another application obmen's.
        operator = {"authorization": f"Bearer {ADMIN}"}
        assert (await http.post("/hooks/bitrix24/install", data=form, headers=operator)).status_code == 403
    assert await obmen.tokens.load() == before
    assert await obmen.event("chosen-by-the-attacker") == 403


async def test_an_install_for_another_member_needs_the_operator(tmp_path: Path) -> None:
    obmen, real, _ = await _setup(tmp_path)
    ours = real.portal.auth.apps[obmen.installer._client_id]
    access, refresh = real.portal.auth.issue(ours)
    form = {
        "event": "ONAPPINSTALL",
        "auth[access_token]": access,
        "auth[refresh_token]": refresh,
        "auth[client_endpoint]": "https://portal.test/rest/",
        "auth[member_id]": "another-member",
        "auth[application_token]": "new-token",
    }
    async with httpx.AsyncClient(transport=httpx.ASGITransport(obmen.app), base_url=OBMEN) as http:
        assert (await http.post("/hooks/bitrix24/install", data=form)).status_code == 403
        wrong = {"authorization": "Bearer not-the-token"}
        assert (await http.post("/hooks/bitrix24/install", data=form, headers=wrong)).status_code == 403
        assert obmen.application_token == ours.application_token
        operator = {"authorization": f"Bearer {ADMIN}"}
        assert (await http.post("/hooks/bitrix24/install", data=form, headers=operator)).status_code == 200
    assert obmen.application_token == "new-token"


async def test_a_configured_member_id_must_match(tmp_path: Path) -> None:
    obmen, real, _ = await _setup(tmp_path)
    obmen.installer.member_id = "not-this-portal"
    again = real.portal.auth.apps[obmen.installer._client_id]
    real.portal.events.post_raw(INSTALL, _install_payload(real, {"client_id": again.client_id}))
    await real.drain_events()
    assert _statuses(real) == [200, 403]
    obmen.installer.member_id = real.portal.member_id
    real.portal.events.post_raw(INSTALL, _install_payload(real, {"client_id": again.client_id}))
    await real.drain_events()
    assert _statuses(real) == [200, 403, 200]  # the same application reinstalled: fine


async def test_the_first_install_of_another_app_is_refused_too(tmp_path: Path) -> None:
    holder: dict[str, Starlette] = {}

    async def forward(scope: Any, receive: Any, send: Any) -> None:
        await holder["app"](scope, receive, send)

    real, other = _portals(forward)
    ours = real.install_app(handler=None)
    obmen = Obmen(tmp_path, real, other, ours["client_id"])
    holder["app"] = obmen.app
    await _new_app(real, INSTALL)
    await _new_app(other, INSTALL)
    assert _statuses(real) == _statuses(other) == [403]
    assert await obmen.tokens.load() is None
