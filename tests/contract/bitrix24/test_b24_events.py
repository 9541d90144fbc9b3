"""Events end to end: install, online delivery to /hooks/bitrix24, the offline queue, echo exclusion."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import httpx
import pytest
from b24_support import BASE, build_client, make_sandbox
from starlette.applications import Starlette

from obmen.connectors.base import Change, Create
from obmen.connectors.bitrix24.client.auth import OAuth, TokenFile, Tokens
from obmen.connectors.bitrix24.client.rest import Bitrix24Client
from obmen.connectors.bitrix24.connector import Bitrix24Connector
from obmen.connectors.bitrix24.events.hooks import Bitrix24Hooks, routes
from obmen.connectors.bitrix24.events.notices import OfflineQueue
from obmen.connectors.bitrix24.install import AppInstaller
from obmen.errors import TransientError
from obmen_sandbox.bitrix24 import Bitrix24Sandbox

OBMEN = "http://obmen.test"


class Obmen:
    """obmen's web side as the portal reaches it: hooks and install callback, tokens in a file."""

    def __init__(self, tmp: Path) -> None:
        self.queued: list[Change] = []
        self.tokens = TokenFile(tmp / "bitrix24-tokens.json")
        self.application_token = ""
        self.sandbox: Bitrix24Sandbox | None = None
        self.installer: AppInstaller | None = None
        self.rings = 0
        #: What the runtime does before enqueueing (runtime._hooks): drop echoes of obmen's writes.
        self.drop: Callable[[Sequence[Change]], list[Change]] = list
        hooks = Bitrix24Hooks(
            application_token=lambda: self.application_token,
            enqueue=self.enqueue,
            install=self.install,
            wake=self.ring,
        )
        self.app = Starlette(routes=routes(hooks))

    def ring(self) -> None:
        self.rings += 1

    async def enqueue(self, changes: Sequence[Change]) -> int:
        changes = self.drop(changes)
        self.queued.extend(changes)
        return len(changes)

    async def install(self, tokens: Tokens, operator: bool) -> None:
        assert self.installer is not None
        await self.installer(tokens, operator=operator)
        stored = await self.tokens.load()
        assert stored is not None
        self.application_token = stored.application_token


def _oauth(obmen: Obmen, tokens: Tokens, app: dict[str, str]) -> OAuth:
    return OAuth(
        tokens,
        client_id=app["client_id"],
        client_secret=app["client_secret"],
        save=obmen.tokens.save,
        load=obmen.tokens.load,
        auth_url=f"{BASE}/oauth/token/",
    )


async def _installed(tmp_path: Path) -> tuple[Bitrix24Sandbox, Obmen, dict[str, str]]:
    obmen = Obmen(tmp_path)
    sandbox = make_sandbox(event_transport=httpx.ASGITransport(obmen.app))
    obmen.sandbox = sandbox
    credentials: dict[str, str] = {}

    def client_factory(auth: OAuth) -> Bitrix24Client:
        return build_client(sandbox, auth=auth)

    app = sandbox.install_app(handler=f"{OBMEN}/hooks/bitrix24/install")  # ONAPPINSTALL sent on drain
    obmen.installer = AppInstaller(
        portal="portal.test",
        client_id=app["client_id"],
        client_secret="",
        save=obmen.tokens.save,
        load=obmen.tokens.load,
        handler=f"{OBMEN}/hooks/bitrix24",
        connector="obmen",
        auth_url=f"{BASE}/oauth/token/",
        client_factory=client_factory,
    )
    credentials.update(client_id=app["client_id"], client_secret=app["client_secret"])
    await sandbox.drain_events()
    return sandbox, obmen, credentials


async def test_install_stores_tokens_and_binds_online_and_offline_events(tmp_path: Path) -> None:
    sandbox, obmen, _ = await _installed(tmp_path)
    stored = await obmen.tokens.load()
    assert stored is not None
    assert stored.application_token == obmen.application_token != ""
    assert (tmp_path / "bitrix24-tokens.json").stat().st_mode & 0o777 == 0o600
    bindings = sandbox.portal.events.bindings
    assert {b.event for b in bindings if b.offline} >= {"ONCRMDEALUPDATE", "CATALOG.PRODUCT.ON.UPDATE"}
    assert {b.handler for b in bindings if not b.offline} == {f"{OBMEN}/hooks/bitrix24"}
    assert "ONOFFLINEEVENT" in {b.event for b in bindings if not b.offline}


async def test_a_forged_install_and_a_forged_event_are_refused(tmp_path: Path) -> None:
    _, obmen, _ = await _installed(tmp_path)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(obmen.app), base_url=OBMEN) as http:
        forged = {
            "event": "ONAPPINSTALL",
            "auth[access_token]": "f" * 32,
            "auth[refresh_token]": "f" * 32,
            "auth[client_endpoint]": "https://portal.test/rest/",
            "auth[application_token]": "attacker",
        }
        assert (await http.post("/hooks/bitrix24/install", data=forged)).status_code == 403
        elsewhere = {**forged, "auth[client_endpoint]": "https://evil.example/rest/"}
        assert (await http.post("/hooks/bitrix24/install", data=elsewhere)).status_code == 403
        event = {"event": "ONCRMDEALUPDATE", "data[FIELDS][ID]": "1", "auth[application_token]": "attacker"}
        assert (await http.post("/hooks/bitrix24", data=event)).status_code == 403
    assert obmen.application_token != "attacker"
    assert obmen.queued == []


async def test_events_lost_online_come_back_from_the_offline_queue(tmp_path: Path) -> None:
    sandbox, obmen, app = await _installed(tmp_path)
    stored = await obmen.tokens.load()
    assert stored is not None
    async with (
        build_client(sandbox) as someone,
        build_client(sandbox, auth=_oauth(obmen, stored, app)) as ours,
    ):
        made = await someone.call("crm.deal.add", {"fields": {"TITLE": "from the portal"}})
        await sandbox.drain_events()
        assert Change("order", str(made.result)) in obmen.queued  # delivered online
        assert obmen.rings == 1  # and the offline queue's doorbell rang
        sandbox.portal.events.faults.drop = 1.0
        lost = await someone.call("crm.deal.update", {"id": made.result, "fields": {"TITLE": "changed"}})
        assert lost.result is True
        second = await someone.call("crm.contact.add", {"fields": {"NAME": "Пётр"}})
        await sandbox.drain_events()
        before = len(obmen.queued)
        feed = OfflineQueue(ours, connector="obmen")
        page = await feed.changes(None, 500)
        # The deal's add and update coalesce into one record per object (docs/protocols/bitrix24.md §6.5).
        assert set(page.changes) == {
            Change("order", str(made.result)),
            Change("counterparty", f"C{second.result}"),
        }
        assert page.cursor is not None
        assert len(obmen.queued) == before  # nothing arrived online while delivery was failing
        # The next read acknowledges the batch the caller committed; the queue is then empty.
        empty = await feed.changes(page.cursor, 500)
        assert (empty.changes, empty.cursor) == ([], None)


async def test_our_own_writes_do_not_come_back(tmp_path: Path) -> None:
    sandbox, obmen, app = await _installed(tmp_path)
    stored = await obmen.tokens.load()
    assert stored is not None
    async with build_client(sandbox, auth=_oauth(obmen, stored, app), auth_connector="obmen") as ours:
        b24 = Bitrix24Connector(ours)
        [made] = await b24.write([Create("order", "e" * 32, {"status": "N", "comment": "from 1C"})])
        assert made.ok, made.error
        page = await OfflineQueue(ours, connector="obmen").changes(None, 500)
        assert page.changes == []


async def test_online_echoes_are_dropped_and_a_change_by_someone_else_still_arrives(tmp_path: Path) -> None:
    sandbox, obmen, app = await _installed(tmp_path)
    stored = await obmen.tokens.load()
    assert stored is not None
    async with (
        build_client(sandbox) as someone,
        build_client(sandbox, auth=_oauth(obmen, stored, app), auth_connector="obmen") as ours,
    ):
        b24 = Bitrix24Connector(ours, offline=OfflineQueue(ours, connector="obmen"))
        obmen.drop = b24.drop_echoes
        order, party = await b24.write(
            [
                Create("order", "e" * 32, {"status": "N", "comment": "from 1C"}),
                Create("counterparty", "f" * 32, {"kind": "person", "name": "Ива", "phones": ["+79120001"]}),
            ]
        )
        assert order.ok, order.error
        assert party.ok, party.error
        await sandbox.drain_events()
        assert obmen.queued == []  # the deal, its invoice and the contact: all our own
        assert b24.echoes.dropped >= 3
        # A manager edits that deal a moment later: online it looks like an echo and is dropped...
        await someone.call("crm.deal.update", {"id": order.external_id, "fields": {"TITLE": "manager"}})
        await sandbox.drain_events()
        assert obmen.queued == []
        # ...but the doorbell rings and the offline queue, which holds no write of ours, carries it.
        assert obmen.rings == 1
        page = await OfflineQueue(ours, connector="obmen").changes(None, 500)
        assert page.changes == [Change("order", str(order.external_id))]
        # An object obmen did not write comes online at once.
        other = await someone.call("crm.deal.add", {"fields": {"TITLE": "from the portal"}})
        await sandbox.drain_events()
        assert obmen.queued == [Change("order", str(other.result))]


class _LostAnswer(httpx.AsyncBaseTransport):
    """The first offline read reaches the portal, but its answer never comes back."""

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self.inner = inner
        self.lost = False

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self.inner.handle_async_request(request)
        if request.url.path.endswith("event.offline.get") and not self.lost:
            self.lost = True
            raise httpx.ReadTimeout("answer lost", request=request)
        return response


async def test_a_batch_reserved_by_a_lost_answer_is_found_again(tmp_path: Path) -> None:
    sandbox, obmen, app = await _installed(tmp_path)
    stored = await obmen.tokens.load()
    assert stored is not None
    transport = _LostAnswer(httpx.ASGITransport(sandbox.app))
    async with (
        build_client(sandbox) as someone,
        build_client(sandbox, auth=_oauth(obmen, stored, app), transport=transport) as ours,
    ):
        made = await someone.call("crm.deal.add", {"fields": {"TITLE": "x"}})
        feed = OfflineQueue(ours, connector="obmen")
        with pytest.raises(TransientError):
            await feed.changes(None, 500)  # reserved under a process_id we never saw
        page = await feed.changes(None, 500)
        assert page.changes == [Change("order", str(made.result))]
        assert page.more
        rest = await feed.changes(page.cursor, 500)
        assert (rest.changes, rest.cursor) == ([], None)
