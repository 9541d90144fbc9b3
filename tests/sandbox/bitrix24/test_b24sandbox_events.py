"""Events: online delivery to handlers, never retried; the offline queue (docs/protocols/bitrix24.md §6)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from b24sandbox_support import BASE, HOOK
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from obmen_sandbox.bitrix24 import Bitrix24Sandbox


class Recorder:
    """A handler application that records every POST (and answers `status`)."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, str], str]] = []
        self.status = 200

        async def handle(request: Request) -> Response:
            form = await request.form()
            fields = {k: str(v) for k, v in form.multi_items()}
            self.calls.append((request.url.path, fields, request.headers["content-type"]))
            return Response("ok", self.status)

        self.app = Starlette(routes=[Route("/{path:path}", handle, methods=["POST"])])


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture
def portal(recorder: Recorder) -> Bitrix24Sandbox:
    sandbox = Bitrix24Sandbox(webhook=HOOK, event_transport=httpx.ASGITransport(recorder.app))
    sandbox.clock.freeze(1_780_000_000.0)
    return sandbox


@pytest.fixture
async def web(portal: Bitrix24Sandbox) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(portal.app), base_url=BASE) as client:
        yield client


class AppClient:
    def __init__(self, web: httpx.AsyncClient, app: dict[str, Any]) -> None:
        self.web = web
        self.app = app

    async def call(self, method: str, **params: Any) -> httpx.Response:
        return await self.web.post(f"/rest/{method}", json={"auth": self.app["access_token"], **params})

    async def result(self, method: str, **params: Any) -> Any:
        response = await self.call(method, **params)
        assert response.status_code == 200, response.text
        return response.json()["result"]


@pytest.fixture
async def app(web: httpx.AsyncClient) -> AppClient:
    answer = (
        await web.post("/_sandbox/apps", json={"handler": "http://app.test/install", "events_handler": None})
    ).json()
    return AppClient(web, answer)


async def _hook(web: httpx.AsyncClient, method: str, **params: Any) -> Any:
    response = await web.post(f"/rest/{HOOK}/{method}", json=params)
    assert response.status_code == 200, response.text
    return response.json()["result"]


async def test_install_posts_onappinstall_with_tokens(
    portal: Bitrix24Sandbox, recorder: Recorder, app: AppClient
) -> None:
    await portal.drain_events()
    path, form, kind = recorder.calls[0]
    assert (path, form["event"], kind) == ("/install", "ONAPPINSTALL", "application/x-www-form-urlencoded")
    assert form["auth[application_token]"] == app.app["application_token"]
    assert form["auth[member_id]"] == app.app["member_id"]
    assert form["auth[refresh_token]"]
    assert form["data[INSTALLED]"] == "Y"


async def test_online_event_is_a_form_post_per_handler(
    portal: Bitrix24Sandbox, recorder: Recorder, app: AppClient, web: httpx.AsyncClient
) -> None:
    assert await app.result("event.bind", event="ONCRMDEALADD", handler="http://app.test/b24") is True
    await portal.drain_events()
    recorder.calls.clear()
    deal = await _hook(web, "crm.deal.add", fields={"TITLE": "x"})
    await portal.drain_events()
    [(path, form, _)] = recorder.calls
    assert path == "/b24"
    assert form["event"] == "ONCRMDEALADD"
    assert form["data[FIELDS][ID]"] == str(deal)
    assert form["ts"] == "1780000000"
    assert form["auth[domain]"] == "portal.test"
    assert form["auth[application_token]"] == app.app["application_token"]
    bound = await app.result("event.get")
    assert bound == [
        {"event": "ONCRMDEALADD", "handler": "http://app.test/b24", "auth_type": "0", "offline": 0}
    ]
    assert form["event_handler_id"].isdigit()
    invoice = await _hook(web, "crm.item.add", entityTypeId=31, fields={"title": "s"})
    assert invoice["item"]["id"] == 1


async def test_the_reply_does_not_wait_and_failures_are_not_retried(
    portal: Bitrix24Sandbox, recorder: Recorder, app: AppClient, web: httpx.AsyncClient
) -> None:
    await app.result("event.bind", event="ONCRMCONTACTADD", handler="http://app.test/b24")
    await portal.drain_events()
    recorder.calls.clear()
    recorder.status = 500
    await web.post("/_sandbox/faults", json={"events": {"delay": 0.05}})
    await _hook(web, "crm.contact.add", fields={"NAME": "x"})
    assert recorder.calls == []  # answered before delivery
    await portal.drain_events()
    assert len(recorder.calls) == 1
    assert portal.portal.events.delivered[-1][2] == 500
    await portal.drain_events()
    assert len(recorder.calls) == 1


async def test_dropped_and_duplicated_events(
    portal: Bitrix24Sandbox, recorder: Recorder, app: AppClient, web: httpx.AsyncClient
) -> None:
    await app.result("event.bind", event="ONCRMDEALUPDATE", handler="http://app.test/b24")
    await _hook(web, "crm.deal.add", fields={})
    await portal.drain_events()
    recorder.calls.clear()
    await web.post("/_sandbox/faults", json={"events": {"drop": 1.0}})
    await _hook(web, "crm.deal.update", id=1, fields={"TITLE": "a"})
    await portal.drain_events()
    assert recorder.calls == []
    await web.post("/_sandbox/faults", json={"events": {"drop": 0.0, "duplicate": 1.0}})
    await _hook(web, "crm.deal.update", id=1, fields={"TITLE": "b"})
    await portal.drain_events()
    assert len(recorder.calls) == 2


async def test_reordered_events_are_overtaken_by_later_ones(
    portal: Bitrix24Sandbox, recorder: Recorder, app: AppClient, web: httpx.AsyncClient
) -> None:
    await app.result("event.bind", event="ONCRMDEALADD", handler="http://app.test/b24")
    await portal.drain_events()
    recorder.calls.clear()
    await web.post("/_sandbox/faults", json={"events": {"reorder": 1.0, "reorder_seconds": 0.2}})
    await _hook(web, "crm.deal.add", fields={})
    await web.post("/_sandbox/faults", json={"events": {"reorder": 0.0}})
    await _hook(web, "crm.deal.add", fields={})
    await portal.drain_events()
    assert [fields["data[FIELDS][ID]"] for _, fields, _ in recorder.calls] == ["2", "1"]


async def test_bind_errors(app: AppClient) -> None:
    unknown = await app.call("event.bind", event="ONSOMETHING", handler="http://app.test/")
    assert unknown.json()["error"] == "ERROR_EVENT_NOT_FOUND"
    await app.result("event.bind", event="ONCRMDEALADD", handler="http://app.test/")
    again = await app.call("event.bind", event="ONCRMDEALADD", handler="http://app.test/")
    assert again.json() == {
        "error": "ERROR_HANDLER_ALREADY_EXIST",
        "error_description": "Handler already exists!",
    }
    assert await app.result("event.unbind", event="ONCRMDEALADD", handler="http://app.test/") == {"count": 1}
    assert await app.result("event.get") == []


async def test_offline_queue_coalesces_per_object(
    app: AppClient, web: httpx.AsyncClient, portal: Bitrix24Sandbox
) -> None:
    await app.result("event.bind", event="ONCRMDEALUPDATE", event_type="offline")
    await app.result("event.bind", event="ONCRMDEALADD", event_type="offline")
    await _hook(web, "crm.deal.add", fields={})
    await _hook(web, "crm.deal.add", fields={})
    for n in range(5):
        portal.clock.advance(1)
        await _hook(web, "crm.deal.update", id=1, fields={"TITLE": str(n)})
    await _hook(web, "crm.deal.update", id=2, fields={"TITLE": "z"})
    listed = await app.call("event.offline.list")
    rows = listed.json()["result"]
    assert listed.json()["total"] == 4
    updates = [r for r in rows if r["EVENT_NAME"] == "ONCRMDEALUPDATE"]
    assert [r["EVENT_DATA"]["FIELDS"]["ID"] for r in updates] == [1, 2]
    assert updates[0]["TIMESTAMP_X"] == "2026-05-28T23:26:45+03:00"
    assert all(r["PROCESS_ID"] == "" and r["ERROR"] == "0" for r in rows)


async def test_offline_get_reserves_under_a_process_id(
    app: AppClient, web: httpx.AsyncClient, portal: Bitrix24Sandbox
) -> None:
    await app.result("event.bind", event="ONCRMDEALUPDATE", event_type="offline")
    for _ in range(3):
        await _hook(web, "crm.deal.add", fields={})
    for deal in (1, 2, 3):
        await _hook(web, "crm.deal.update", id=deal, fields={"TITLE": "a"})
    first = await app.result("event.offline.get", clear=0, limit=2)
    assert first["process_id"]
    assert [e["EVENT_DATA"]["FIELDS"]["ID"] for e in first["events"]] == [1, 2]
    second = await app.result("event.offline.get", clear=0)
    assert [e["EVENT_DATA"]["FIELDS"]["ID"] for e in second["events"]] == [3]
    assert second["process_id"] != first["process_id"]
    # A change during processing is a new record: the reserved one must not swallow it.
    await _hook(web, "crm.deal.update", id=1, fields={"TITLE": "b"})
    again = await app.result("event.offline.get", clear=0, process_id=first["process_id"])
    assert [e["ID"] for e in again["events"]] == [e["ID"] for e in first["events"]]
    assert (
        await app.result(
            "event.offline.clear",
            process_id=first["process_id"],
            message_id=[first["events"][0]["MESSAGE_ID"]],
        )
        is True
    )
    await app.result("event.offline.error", process_id=first["process_id"])
    errors = await app.result("event.offline.get", error=1, clear=0)
    assert [e["EVENT_DATA"]["FIELDS"]["ID"] for e in errors["events"]] == [2]
    await app.result("event.offline.clear", process_id=second["process_id"])
    fresh = await app.result("event.offline.get")
    assert (fresh["process_id"], [e["EVENT_DATA"]["FIELDS"]["ID"] for e in fresh["events"]]) == (None, [1])
    assert (await app.result("event.offline.get"))["events"] == []


async def test_auth_connector_excludes_the_callers_own_changes(
    app: AppClient, web: httpx.AsyncClient
) -> None:
    await app.result("event.bind", event="ONCRMDEALUPDATE", event_type="offline", auth_connector="hub")
    await _hook(web, "crm.deal.add", fields={})
    await _hook(web, "crm.deal.update", id=1, fields={"TITLE": "mine"}, auth_connector="hub")
    batch = {"cmd": {"u": "crm.deal.update?id=1&fields[TITLE]=also mine"}, "auth_connector": "hub"}
    await _hook(web, "batch", **batch)
    mine = await app.result("event.offline.get", auth_connector="hub")
    assert mine["events"] == []
    await _hook(web, "crm.deal.update", id=1, fields={"TITLE": "someone else"})
    theirs = await app.result("event.offline.get", auth_connector="hub")
    assert [e["EVENT_NAME"] for e in theirs["events"]] == ["ONCRMDEALUPDATE"]


async def test_offline_doorbell_respects_min_timeout(
    portal: Bitrix24Sandbox, recorder: Recorder, app: AppClient, web: httpx.AsyncClient
) -> None:
    await app.result("event.bind", event="ONCRMDEALADD", event_type="offline")
    await app.result(
        "event.bind", event="ONOFFLINEEVENT", handler="http://app.test/bell", options={"minTimeout": 10}
    )
    await portal.drain_events()
    recorder.calls.clear()
    await _hook(web, "crm.deal.add", fields={})
    await _hook(web, "crm.deal.add", fields={})
    portal.clock.advance(10)
    await _hook(web, "crm.deal.add", fields={})
    await portal.drain_events()
    assert [form["event"] for _, form, _ in recorder.calls] == ["ONOFFLINEEVENT", "ONOFFLINEEVENT"]


async def test_invoice_and_pipeline_move_events_carry_their_fields(
    portal: Bitrix24Sandbox, recorder: Recorder, app: AppClient, web: httpx.AsyncClient
) -> None:
    for event in ("ONCRMDYNAMICITEMADD", "ONCRMDEALMOVETOCATEGORY"):
        await app.result("event.bind", event=event, handler="http://app.test/b24")
    portal.seed({"pipelines": [{"entityTypeId": 2, "id": 4, "name": "Опт"}]})
    await portal.drain_events()
    recorder.calls.clear()
    await _hook(web, "crm.item.add", entityTypeId=31, fields={"title": "s"})
    deal = await _hook(web, "crm.deal.add", fields={})
    await _hook(web, "crm.item.update", entityTypeId=2, id=deal, fields={"categoryId": 4})
    await portal.drain_events()
    forms = {form["event"]: form for _, form, _ in recorder.calls}
    assert forms["ONCRMDYNAMICITEMADD"]["data[FIELDS][ENTITY_TYPE_ID]"] == "31"
    moved = forms["ONCRMDEALMOVETOCATEGORY"]
    assert (moved["data[FIELDS][CATEGORY_ID]"], moved["data[FIELDS][STAGE_ID]"]) == ("4", "C4:NEW")
