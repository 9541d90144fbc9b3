"""The control API (seed, dump, reset, faults, clock) and one run over a real socket."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
import uvicorn
from b24sandbox_support import HOOK, Rest

from obmen_sandbox.bitrix24 import Bitrix24Sandbox, serve
from obmen_sandbox.serving import serve_in_thread


async def test_seed_dump_and_reset(http: httpx.AsyncClient, rest: Rest) -> None:
    stages = [
        {"statusId": "NEW", "name": "Новая"},
        {"statusId": "PAID", "semantics": "S"},
        {"statusId": "LOST", "semantics": "F"},
    ]
    seeded = await http.post(
        "/_sandbox/seed",
        json={
            "users": [{"NAME": "Олег"}],
            "pipelines": [{"entityTypeId": 2, "id": 7, "name": "Розница", "stages": stages}],
            "tables": {
                "crm.deal": [{"ID": 100, "TITLE": "Старая", "CATEGORY_ID": 7, "STAGE_ID": "C7:PAID"}],
                "crm.contact": [{"NAME": "Анна", "PHONE": [{"VALUE": "+79990000000"}]}],
            },
        },
    )
    assert seeded.json()["ids"] == {"user": [2], "crm.deal": [100], "crm.contact": [1]}
    deal = await rest.result("crm.deal.get", {"id": 100})
    assert (deal["STAGE_ID"], deal["STAGE_SEMANTIC_ID"]) == ("C7:PAID", "S")
    assert await rest.result("crm.deal.add", {"fields": {}}) == 101
    dump = (await http.get("/_sandbox/dump")).json()
    assert [row["ID"] for row in dump["tables"]["crm.deal"]] == [100, 101]
    assert dump["offline"] == []
    assert dump["tables"]["catalog.catalog"]  # the catalog family seeded its dictionaries
    some = (await http.get("/_sandbox/dump", params={"tables": "crm.deal,crm.lead"})).json()
    assert set(some) == {"clock", "tables"}
    assert ([row["ID"] for row in some["tables"]["crm.deal"]], some["tables"]["crm.lead"]) == ([100, 101], [])
    await http.post("/_sandbox/reset")
    assert await rest.result("crm.deal.list") == []
    assert (await rest.result("crm.contact.add", {"fields": {"NAME": "x"}})) == 1


async def test_faults_html_errors_and_a_moved_portal(http: httpx.AsyncClient, rest: Rest) -> None:
    await http.post("/_sandbox/faults", json={"error_rate": 1.0})
    broken = await rest.raw("user.current")
    assert broken.status_code == 500
    assert broken.headers["content-type"].startswith("text/html")
    await http.post("/_sandbox/faults", json={"error_rate": 0.0, "moved_to": "new.portal.test"})
    moved = await rest.raw("crm.deal.add", {"fields": {"TITLE": "x"}})
    assert moved.status_code == 302
    assert moved.headers["location"] == f"http://new.portal.test/rest/{HOOK}/crm.deal.add.json"
    repeated = await http.post(moved.headers["location"], json={"fields": {"TITLE": "x"}})
    assert repeated.json()["result"] == 1


async def test_overload_and_free_plan(http: httpx.AsyncClient, rest: Rest) -> None:
    await http.post("/_sandbox/faults", json={"overload": True})
    blocked = await rest.raw("user.current")
    assert (blocked.status_code, blocked.json()["error"]) == (503, "OVERLOAD_LIMIT")
    await http.post("/_sandbox/faults", json={"overload": False, "free_plan": True})
    denied = await rest.raw("user.current")
    assert (denied.status_code, denied.json()["error"]) == (403, "ACCESS_DENIED")
    await http.post("/_sandbox/faults", json={"free_plan": False})
    assert (await rest.raw("user.current")).status_code == 200


async def test_timeouts_answer_504_html_after_the_delay(http: httpx.AsyncClient, rest: Rest) -> None:
    await http.post("/_sandbox/faults", json={"timeout_rate": 1.0, "timeout_seconds": 0.01})
    response = await rest.raw("user.current")
    assert (response.status_code, response.headers["content-type"].split(";")[0]) == (504, "text/html")


async def test_a_lost_answer_is_a_504_after_the_change_was_made(http: httpx.AsyncClient, rest: Rest) -> None:
    await http.post("/_sandbox/faults", json={"lost_rate": 1.0, "timeout_seconds": 0.01})
    response = await rest.raw("crm.deal.add", {"fields": {"TITLE": "Потерянный ответ"}})
    assert (response.status_code, response.headers["content-type"].split(";")[0]) == (504, "text/html")
    await http.post("/_sandbox/faults", json={"lost_rate": 0.0})
    assert [d["TITLE"] for d in await rest.result("crm.deal.list")] == ["Потерянный ответ"]


async def test_clock_control(http: httpx.AsyncClient, sandbox: Bitrix24Sandbox) -> None:
    frozen = (await http.post("/_sandbox/clock", json={"freeze": True, "at": 1000})).json()
    assert frozen == {"now": 1000, "frozen": True}
    assert (await http.post("/_sandbox/clock", json={"advance": 5})).json()["now"] == 1005
    running = (await http.post("/_sandbox/clock", json={"freeze": False})).json()
    assert running["frozen"] is False
    sandbox.clock.advance(0)
    assert sandbox.clock.frozen


def test_over_a_real_socket() -> None:
    sandbox = Bitrix24Sandbox(webhook="7/realsocket")
    with serve_in_thread(sandbox.app) as base, httpx.Client(base_url=base) as client:
        added = client.post("/rest/7/realsocket/crm.deal.add.json", data={"fields[TITLE]": "Сокет"})
        assert added.json()["result"] == 1
        got = client.get("/rest/7/realsocket/crm.deal.get", params={"id": 1})
        assert got.json()["result"]["TITLE"] == "Сокет"
        assert got.json()["result"]["ASSIGNED_BY_ID"] == "7"


def test_serve_hands_a_configured_sandbox_to_uvicorn(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: dict[str, Any] = {}

    def run(app: Any, **kw: Any) -> None:
        seen.update(kw, app=app)

    monkeypatch.setattr(uvicorn, "run", run)
    serve("127.0.0.1", 8099, "3/abc", "cloud")
    assert (seen["host"], seen["port"]) == ("127.0.0.1", 8099)
    portal = seen["app"].state.portal
    assert (portal.auth.webhook_user, portal.auth.webhook_token, portal.limits.plan) == (3, "abc", "cloud")
    assert (
        portal.events.auth_block(portal.auth.install(None, None))["client_endpoint"]
        == "http://127.0.0.1:8099/rest/"
    )
