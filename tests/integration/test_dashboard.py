"""The dashboard over in-process HTTP: the engine runs against fake systems, then every page, fragment
and API route is read back; conflicts are decided through the API and the engine applies the decision."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from obmen.engine.context import Engine, EngineSettings
from obmen.engine.peek import read_sides
from obmen.engine.policy import Policy
from obmen.engine.scheduler import enqueue_changes
from obmen.engine.worker import Worker, WorkerOptions
from obmen.store import state
from obmen.store.database import Database
from obmen.store.timeline import read_propagations, timeline
from obmen.testing.fakes import FakeSystem, ManualClock
from obmen.web.app import Dashboard, create_app

FIELDS = {
    "order": ["number", "status", "comment", "customer", "total"],
    "counterparty": ["name", "phones", "emails"],
}
TOKEN = "dash-token"


class Shop:
    """Three fake systems and an engine with `order.comment` under the conflict rule."""

    def __init__(self, db: Database) -> None:
        self.db, self.clock = db, ManualClock()
        self.fakes = {
            name: FakeSystem(name, fields=FIELDS, clock=self.clock, seed=i)
            for i, name in enumerate(["onec", "site", "bitrix24"])
        }
        settings = EngineSettings(
            batch_size=50, lease_seconds=30, max_attempts=3, backoff_base=1, backoff_cap=10
        )
        policy = Policy.build({"order.comment": "conflict"})
        self.engine = Engine(db=db, connectors=self.fakes, policy=policy, settings=settings, clock=self.clock)

    async def settle(self, rounds: int = 4) -> None:
        for _ in range(rounds):
            for name, fake in self.fakes.items():
                await enqueue_changes(self.engine, name, fake.take_notifications(), trigger=f"{name}:push")
            await Worker(self.engine, name="w", options=WorkerOptions(tenant_lease=False)).drain()
            self.clock.advance(60)

    def http(self, token: str | None = None, **options: Any) -> httpx.AsyncClient:
        dashboard = Dashboard(
            read_sides=lambda entity, cid: read_sides(self.engine, entity, cid),
            portal_url="https://shop.bitrix24.ru",
            site_exchange_url="https://shop.example/bitrix/admin/1c_exchange.php",
            **options,
        )
        app = create_app(self.db, clock=self.clock, token=token, dashboard=dashboard)
        return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://obmen")

    def ids(self, entity: str = "order") -> dict[str, str]:
        return {name: next(iter(fake.objects(entity))) for name, fake in self.fakes.items()}


async def placed(db: Database) -> Shop:
    """Order 132 of Анна Смирнова, 15 270 ₽, placed on the site and agreed everywhere."""
    shop = Shop(db)
    person = shop.fakes["site"].create(
        "counterparty", {"name": "Анна Смирнова", "phones": ["+79161234567"], "emails": ["anna@example.ru"]}
    )
    await shop.settle()
    total = {"amount": "15270", "currency": "RUB"}
    customer = {"$ref": "counterparty", "id": person}
    shop.fakes["site"].create(
        "order", {"number": "132", "status": "new", "customer": customer, "total": total}
    )
    await shop.settle()
    return shop


async def conflicting(db: Database) -> tuple[Shop, dict[str, Any]]:
    shop = await placed(db)
    ids = shop.ids()
    shop.fakes["site"].edit("order", ids["site"], comment="Оставить у консьержа")
    shop.fakes["bitrix24"].edit("order", ids["bitrix24"], comment="Позвонить до обеда")
    await shop.settle()
    async with db.begin() as conn:
        (conflict,) = await state.open_conflicts(conn, "default")
    return shop, conflict


async def test_search_finds_an_order_by_number_phone_email_name_and_id(db: Database) -> None:
    shop = await placed(db)
    ids = shop.ids()
    async with shop.http() as http:

        async def names(q: str) -> list[str]:
            reply = await http.get("/api/search", params={"q": q})
            assert reply.status_code == 200
            return [f"{i['entity']}:{i.get('number') or i.get('name')}" for i in reply.json()["items"]]

        assert (await names("132"))[0] == "order:132"
        assert (await names("№132"))[0] == "order:132"
        # A person found by phone (as typed), e-mail or name brings their orders along.
        for q in ("8 (916) 123-45-67", "+7 916 123 45 67", "ANNA@example.ru", "анна смирнова", "Смирн"):
            assert set(await names(q)) == {"order:132", "counterparty:Анна Смирнова"}, q
        assert await names(ids["bitrix24"]) == ["order:132"]
        assert await names(f"site:{ids['site']}") == ["order:132"]
        assert await names("nobody-like-this") == []
        assert (await http.get("/api/search", params={"q": "1", "limit": "0"})).status_code == 400
        page = (await http.get("/objects", params={"q": "8 916 123-45-67"})).text
    assert "Заказ №132 · Анна Смирнова · 15 270 ₽" in page
    assert "Анна Смирнова · +79161234567" in page


async def test_object_page_shows_every_system_side_by_side_with_differences_and_links(db: Database) -> None:
    shop = await placed(db)
    ids = shop.ids()
    # The portal's copy drifts (the fake's own edit, not yet reconciled): the page marks the difference.
    shop.fakes["bitrix24"].edit("order", ids["bitrix24"], status="won")
    async with shop.http() as http:
        page = await http.get(f"/objects/order/site:{ids['site']}")
        data = (await http.get(f"/api/objects/order/site:{ids['site']}")).json()
        fragment = await http.get(f"/objects/order/site:{ids['site']}", params={"fragment": "fields"})
        missing = await http.get("/objects/order/site:nope")
    assert page.status_code == 200
    text = page.text
    assert "<title>Заказ №132 · Анна Смирнова · 15 270 ₽ · obmen</title>" in text
    assert "<th>Согласовано</th><th>1С</th><th>Сайт</th><th>Битрикс24</th>" in text
    assert "<td class='diff' title='отличается от согласованного'>won</td>" in text
    assert f"https://shop.bitrix24.ru/crm/deal/details/{ids['bitrix24']}/" in text
    assert f"https://shop.example/bitrix/admin/sale_order_view.php?ID={ids['site']}" in text
    assert "data-live='3'" in text  # the timeline refreshes itself
    assert set(data["sides"]) == {"onec", "site", "bitrix24"}
    assert data["sides"]["bitrix24"]["fields"]["status"] == "won"
    # References read from a system come back in canonical ids, so they are named.
    assert data["sides"]["bitrix24"]["fields"]["customer"] == data["base"]["customer"]
    assert fragment.text.startswith("<h2>Поля</h2>")
    assert "<html" not in fragment.text
    assert missing.status_code == 404


async def test_a_conflict_decided_by_side_is_journaled_and_applied_everywhere(db: Database) -> None:
    shop, conflict = await conflicting(db)
    ids = shop.ids()
    assert conflict["candidates"] == {"bitrix24": "Позвонить до обеда", "site": "Оставить у консьержа"}
    async with shop.http() as http:
        listed = (await http.get("/api/conflicts")).json()["items"]
        page = (await http.get("/conflicts")).text
        url = f"/api/conflicts/{conflict['id']}/resolve"
        assert (await http.post(url, json={})).status_code == 400
        assert (await http.post(url, json={"side": "site", "value": "x"})).status_code == 400
        assert (await http.post(url, json={"side": "onec"})).status_code == 409
        assert (await http.post(url, content=b"{not json")).status_code == 400
        assert (await http.post("/api/conflicts/999/resolve", json={"side": "site"})).status_code == 404
        evil = await http.post(url, json={"side": "site"}, headers={"Origin": "https://evil.example"})
        assert evil.status_code == 403
        decided = await http.post(url, json={"side": "site", "by": "Мария"})
    assert [c["id"] for c in listed] == [conflict["id"]]
    assert f"action='/api/conflicts/{conflict['id']}/resolve'" in page
    assert "data-side='site'" in page
    assert decided.status_code == 200
    assert decided.json()["resolved"]["decision"] == "Оставить у консьержа"
    story = await timeline(db, "default", "order", f"site:{ids['site']}")
    assert [q["trigger"] for q in story.queued] == ["resolve"]
    (resolve,) = [e for e in story.events if e.get("action") == "resolve"]
    assert (resolve["source_system"], resolve["fields"], resolve["trigger"]) == (
        "site",
        {"comment": "Оставить у консьержа"},
        "operator:Мария",
    )

    await shop.settle()
    for name in ("onec", "site", "bitrix24"):
        assert shop.fakes[name].get("order", ids[name])["comment"] == "Оставить у консьержа", name
    async with db.begin() as conn:
        assert await state.open_conflicts(conn, "default") == []
        (closed,) = await state.closed_conflicts(conn, "default")
    assert (closed["resolution"], closed["decided_by"], closed["decided_side"]) == (
        "decided",
        "Мария",
        "site",
    )
    writes = [p for p in await read_propagations(db, "default", limit=10) if p["trigger"] == "resolve"]
    assert sorted(p["target_system"] for p in writes) == ["bitrix24", "onec"]


async def test_a_typed_value_waits_out_a_failed_write_then_lands(db: Database) -> None:
    shop, conflict = await conflicting(db)
    ids = shop.ids()
    shop.fakes["onec"].knobs.permanent_ids.add(ids["onec"])
    async with shop.http() as http:
        form = await http.post(
            f"/api/conflicts/{conflict['id']}/resolve", data={"value": "Домофон 12", "next": "/conflicts"}
        )
    assert form.status_code == 303
    assert form.headers["location"] == "/conflicts"
    await shop.settle(rounds=1)
    # 1C refused the write: the decision is kept (the item is parked), nobody's value is lost.
    async with db.begin() as conn:
        (still,) = await state.open_conflicts(conn, "default")
    assert (still["decision"], still["decided_by"]) == ("Домофон 12", "web")
    shop.fakes["onec"].knobs.permanent_ids.clear()
    async with shop.http() as http:
        parked = (await http.get("/api/parked")).json()
        (group,) = parked["reasons"]
        again = await http.post("/api/parked/retry", json={"reason": group["reason"]})
        assert (await http.post("/api/parked/retry", json={})).status_code == 400
    assert again.json() == {"retried": 1}
    await shop.settle()
    assert {shop.fakes[n].get("order", ids[n])["comment"] for n in shop.fakes} == {"Домофон 12"}
    async with db.begin() as conn:
        assert await state.open_conflicts(conn, "default") == []


async def test_pages_fragments_and_api_of_the_overview_queue_and_mappings(db: Database) -> None:
    from obmen.config.mapping import MappingSettings

    shop, _ = await conflicting(db)
    ids = shop.ids()
    shop.fakes["site"].knobs.permanent_ids.add(ids["site"])
    shop.fakes["bitrix24"].edit("order", ids["bitrix24"], status="won")
    await shop.settle()
    async with shop.http(mapping=MappingSettings()) as http:
        home = (await http.get("/")).text
        overview = (await http.get("/api/overview")).json()
        counts = (await http.get("/api/counts")).json()
        queue_page = (await http.get("/queue")).text
        mappings = (await http.get("/mappings")).text
        charts = await http.get("/", params={"fragment": "charts"})
        unknown = await http.get("/", params={"fragment": "nope"})
        css = await http.get("/static/obmen.css")
        js = await http.get("/static/obmen.js")
        assert (await http.get("/static/secret.py")).status_code == 404
        assert (await http.get("/api/overview", params={"hours": "0"})).status_code == 400
        english = (await http.get("/", params={"lang": "en"})).text
        remembered = (await http.get("/queue")).text
    assert "Parked (1)" in remembered  # the choice is kept in a cookie
    assert counts["parked"] == 1
    assert counts["conflicts"] == 1
    assert overview["counts"] == counts
    assert set(overview["systems"]) == {"onec", "site", "bitrix24"}
    assert overview["systems"]["site"]["failed"] >= 1
    assert sum(p["writes"] for p in overview["series"]) >= 4
    assert "class='card failing' data-system='site'" in home
    assert "Остановлены (1)" in home
    assert "Повторить" in home
    assert "Parked (1)" in english
    assert "<html lang='en'>" in english
    assert "<svg class='chart'" in charts.text
    assert "<rect class='good'" in charts.text
    assert unknown.status_code == 404
    assert "По причинам" in queue_page
    assert "Повторить все (1)" in queue_page
    assert "PermanentError" in queue_page
    assert "status_to_stage" not in mappings
    assert "<code>pipelines</code>" in mappings
    assert "fallback_stage" in mappings
    assert css.headers["content-type"].startswith("text/css")
    assert "td.diff" in css.text
    assert "data-live" in js.text
    assert "fetch(" in js.text
    assert "http://" not in js.text + css.text
    assert "https://" not in js.text + css.text


async def test_a_token_guards_pages_with_a_login_form_and_the_api_with_a_401(db: Database) -> None:
    shop = await placed(db)
    async with shop.http(token=TOKEN) as http:
        page = await http.get("/conflicts")
        api = await http.get("/api/counts")
        wrong = await http.post("/login", data={"token": "nope", "next": "/conflicts"})
        assert (await http.get("/static/obmen.css")).status_code == 200  # the login form needs its style
        login = await http.post("/login", data={"token": TOKEN, "next": "https://evil.example/"})
        cookie = login.cookies.get("obmen_session")
        assert cookie
        assert TOKEN not in cookie
        http.cookies.set("obmen_session", cookie)
        inside = await http.get("/conflicts")
        counted = await http.get("/api/counts")
        out = await http.post("/logout")
    async with shop.http(token=TOKEN) as http:
        bearer = await http.get("/api/counts", headers={"Authorization": f"Bearer {TOKEN}"})
        forged = await http.get("/api/counts", headers={"Cookie": "obmen_session=0123"})
    assert page.status_code == 401
    assert "name='token'" in page.text
    assert api.status_code == 401
    assert 'Basic realm="obmen"' in api.headers.get_list("www-authenticate")[0]
    assert wrong.status_code == 401
    assert "Неверный токен" in wrong.text
    assert login.status_code == 303
    assert login.headers["location"] == "/"
    assert "set-cookie" in login.headers
    assert "httponly" in login.headers["set-cookie"].lower()
    assert "samesite=strict" in login.headers["set-cookie"].lower()
    assert inside.status_code == 200
    assert counted.status_code == 200
    assert bearer.status_code == 200
    assert forged.status_code == 401
    assert out.status_code == 303
    assert 'obmen_session=""' in out.headers["set-cookie"]


@pytest.mark.parametrize("value", ["plain", json.dumps({"amount": "1"})])
async def test_decide_refuses_a_closed_conflict(db: Database, value: str) -> None:
    shop, conflict = await conflicting(db)
    await state.decide_conflict(db, "default", conflict["id"], value=value, by="t", now=shop.clock())
    await shop.settle()
    with pytest.raises(state.ConflictNotOpen):
        await state.decide_conflict(db, "default", conflict["id"], side="site", by="t", now=shop.clock())
