"""Everything explains itself (docs/architecture.md §2.8): the engine runs against fake systems, then the
propagation list, one order's timeline, the retry of a parked item and the status page are read back
through the store and over in-process HTTP."""

from __future__ import annotations

import base64

import httpx
import pytest
import sqlalchemy as sa

from obmen.engine.context import Engine, EngineSettings
from obmen.engine.policy import Policy
from obmen.engine.scheduler import enqueue_changes
from obmen.engine.worker import Worker, WorkerOptions
from obmen.store import queue, state, tables
from obmen.store.database import Database
from obmen.store.queue import NewItem
from obmen.store.state import JournalEntry
from obmen.store.timeline import (
    parse_key,
    parse_target,
    read_propagations,
    timeline,
    timeline_json,
    timeline_lines,
)
from obmen.testing.fakes import FakeSystem, ManualClock
from obmen.web.app import create_app

ORDER = {"order": ["number", "status", "comment"]}
TOKEN = "s3cret-token"


class Shop:
    """Three fake systems and an engine over one store, with a clock that moves only when told."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.clock = ManualClock()
        self.fakes = {
            name: FakeSystem(name, fields=ORDER, clock=self.clock, seed=i)
            for i, name in enumerate(["onec", "site", "bitrix24"])
        }
        settings = EngineSettings(
            batch_size=50, lease_seconds=30, max_attempts=3, backoff_base=1, backoff_cap=10
        )
        self.engine = Engine(
            db=db, connectors=self.fakes, policy=Policy.build({}), settings=settings, clock=self.clock
        )

    async def settle(self, rounds: int = 4) -> None:
        """Deliver notifications and drain until quiet, moving the clock past any backoff."""
        for _ in range(rounds):
            for name, fake in self.fakes.items():
                await enqueue_changes(self.engine, name, fake.take_notifications(), trigger=f"{name}:push")
            await Worker(self.engine, name="w", options=WorkerOptions(tenant_lease=False)).drain()
            self.clock.advance(60)

    def http(self, token: str | None = None) -> httpx.AsyncClient:
        app = create_app(self.db, clock=self.clock, token=token)
        return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://obmen")

    def ids(self) -> dict[str, str]:
        """System → the id of the one order each system holds."""
        return {name: next(iter(fake.objects("order"))) for name, fake in self.fakes.items()}


async def placed_and_moved(db: Database) -> tuple[Shop, dict[str, str], float]:
    """Order S-132 placed on the site, then its status changed by a manager in Bitrix24."""
    shop = Shop(db)
    shop.fakes["site"].create("order", {"number": "S-132", "status": "new"})
    await shop.settle()
    ids = shop.ids()
    shop.fakes["bitrix24"].edit("order", ids["bitrix24"], status="won")
    moved_at = shop.clock.now
    await shop.settle()
    return shop, ids, moved_at


async def test_recent_propagations_name_the_object_in_every_system(db: Database) -> None:
    _, ids, moved_at = await placed_and_moved(db)
    newest = await read_propagations(db, "default", limit=4)
    moves = newest[:2]
    assert sorted(p["target_system"] for p in moves) == ["onec", "site"]
    for p in moves:
        assert p["action"] == "update"
        assert p["source_system"] == "bitrix24"
        assert p["changed"] == ["status"]
        assert p["trigger"] == "bitrix24:push"
        assert p["links"] == ids
        assert p["status"] == "applied"
        assert p["enqueued_at"] == moved_at  # when the manager's change was enqueued
    creates = newest[2:]
    assert sorted((p["action"], p["source_system"], p["target_system"]) for p in creates) == [
        ("create", "site", "bitrix24"),
        ("create", "site", "onec"),
    ]
    assert creates[0]["changed"] == ["number", "status"]
    assert len(await read_propagations(db, "default", limit=1)) == 1


async def test_timeline_of_one_order_by_canonical_id_and_by_site_id(db: Database) -> None:
    shop, ids, moved_at = await placed_and_moved(db)
    by_site = await timeline(db, "default", "order", f"site:{ids['site']}")
    assert by_site.found
    assert by_site.links == ids
    assert by_site.base == {"number": "S-132", "status": "won", "comment": None}
    assert by_site.canonical_id is not None
    by_cid = await timeline(db, "default", "order", by_site.canonical_id)
    assert timeline_json(by_cid)["events"] == timeline_json(by_site)["events"]
    kinds = [(e["kind"], e.get("action"), e.get("target_system") or e.get("system")) for e in by_site.events]
    # Linked on first sight; each create is followed by the link it confirmed; then the manager's change.
    assert kinds[0] == ("linked", None, "site")
    created = [system for kind, action, system in kinds if action == "create"]
    assert sorted(created) == ["bitrix24", "onec"]
    assert kinds[1:5] == [(k, a, s) for s in created for k, a in (("write", "create"), ("linked", None))]
    assert sorted(kinds[5:]) == [("write", "update", "onec"), ("write", "update", "site")]
    assert [e["at"] for e in by_site.events] == sorted(e["at"] for e in by_site.events)
    update = by_site.events[-1]
    assert update["fields"] == {"status": "won"}
    assert update["status"] == "applied"
    assert update["at"] == moved_at
    assert by_site.parked == []
    assert by_site.queued == []
    trimmed = await timeline(db, "default", "order", by_site.canonical_id, limit=2)
    assert [e["action"] for e in trimmed.events if e["kind"] == "write"] == ["update", "update"]
    assert trimmed.omitted == 2  # the two creates
    assert "2 older writes not shown" in "\n".join(timeline_lines(trimmed))
    text = "\n".join(timeline_lines(by_site))
    assert f"bitrix24:{ids['bitrix24']}" in text
    assert "update bitrix24 → site" in text

    async with shop.http() as http:
        response = await http.get(f"/api/timeline/order/site:{ids['site']}")
        missing = await http.get("/api/timeline/order/site:no-such-order")
        bad = await http.get("/api/timeline/order/site:")
    assert response.status_code == 200
    assert response.json()["canonical_id"] == by_site.canonical_id
    assert [e["kind"] for e in response.json()["events"]] == [e["kind"] for e in by_site.events]
    assert missing.status_code == 404
    assert bad.status_code == 400


async def test_parked_order_shows_why_and_one_click_retry_puts_it_back(db: Database) -> None:
    shop, ids, _ = await placed_and_moved(db)
    shop.fakes["onec"].knobs.permanent_ids.add(ids["onec"])
    shop.fakes["site"].edit("order", ids["site"], comment="позвонить")
    await shop.settle()
    story = await timeline(db, "default", "order", f"onec:{ids['onec']}")
    (parked,) = story.parked
    assert "PermanentError" in parked["reason"]
    assert story.events[-1]["kind"] == "parked"
    failed = [e for e in story.events if e["kind"] == "write" and e["status"] == "failed"]
    # Refused each time the order was reconciled (the site's change, then the echo of our own write).
    assert failed
    assert {(e["target_system"], e["fields"]["comment"]) for e in failed} == {("onec", "позвонить")}
    key = parked["key"]

    async with shop.http(token=TOKEN) as http:
        page = await http.get("/", auth=("admin", TOKEN))
        anonymous = await http.post(f"/api/parked/{key}/retry")
        wrong = await http.post(f"/api/parked/{key}/retry", headers={"Authorization": "Bearer nope"})
        assert (await timeline(db, "default", "order", f"onec:{ids['onec']}")).parked  # still parked
        retried = await http.post(f"/api/parked/{key}/retry", headers={"Authorization": f"Bearer {TOKEN}"})
        again = await http.post(f"/api/parked/{key}/retry", headers={"Authorization": f"Bearer {TOKEN}"})
    assert "Повторить" in page.text  # the newest parked items are on the overview, above the fold
    assert f"api/parked/{key.replace(':', '%3A')}/retry" in page.text
    assert anonymous.status_code == 401
    assert 'Basic realm="obmen"' in anonymous.headers.get_list("www-authenticate")[0]
    assert wrong.status_code == 401
    assert retried.status_code == 200
    assert retried.json() == {"retried": key}
    assert again.status_code == 404
    back = await timeline(db, "default", "order", f"onec:{ids['onec']}")
    assert back.parked == []
    assert [(q["key"], q["trigger"], q["state"]) for q in back.queued] == [(key, "unpark", "pending")]

    # The operator fixed 1C's side; the retried item now goes through and the journal says why.
    shop.fakes["onec"].knobs.permanent_ids.clear()
    await shop.settle(rounds=1)
    done = await timeline(db, "default", "order", f"site:{ids['site']}")
    assert done.queued == []
    last = done.events[-1]
    assert (last["target_system"], last["status"], last["trigger"]) == ("onec", "applied", "unpark")
    assert shop.fakes["onec"].get("order", ids["onec"]) == {
        "number": "S-132",
        "status": "won",
        "comment": "позвонить",
    }


async def test_page_form_retry_redirects_and_cross_site_posts_are_refused(db: Database) -> None:
    shop, ids, _ = await placed_and_moved(db)
    shop.fakes["site"].knobs.permanent_ids.add(ids["site"])
    shop.fakes["bitrix24"].edit("order", ids["bitrix24"], comment="срочно")
    await shop.settle()
    (parked,) = (await timeline(db, "default", "order", f"site:{ids['site']}")).parked
    basic = "Basic " + base64.b64encode(f"any:{TOKEN}".encode()).decode()
    form = {"Authorization": basic, "Content-Type": "application/x-www-form-urlencoded"}
    url = f"/api/parked/{parked['key']}/retry"
    async with shop.http(token=TOKEN) as http:
        evil = await http.post(url, headers={**form, "Origin": "https://evil.example"}, content=b"")
        clicked = await http.post(url, headers={**form, "Origin": "http://obmen"}, content=b"")
    assert evil.status_code == 403
    assert clicked.status_code == 303
    assert clicked.headers["location"] == "/"
    assert (await timeline(db, "default", "order", f"site:{ids['site']}")).parked == []


async def test_status_page_and_api_show_the_recent_propagation(db: Database) -> None:
    shop, ids, _ = await placed_and_moved(db)
    async with shop.http() as http:
        page = (await http.get("/")).text
        english = await http.get("/", params={"lang": "en"})
        status = (await http.get("/api/status")).json()
        two = await http.get("/api/propagations", params={"limit": "2"})
        for bad in ("0", "abc", "501"):
            assert (await http.get("/api/propagations", params={"limit": bad})).status_code == 400
    # Objects by their human names, in the page's language; `?lang=en` switches it.
    assert "Заказ №S-132" in page
    assert "Битрикс24 → Сайт" in page
    assert "изменён" in page
    assert "Последние изменения" in page
    assert "Recent changes" in english.text
    assert "Bitrix24 → Site" in english.text
    assert english.cookies.get("obmen_lang") == "en"
    assert [p["links"] for p in status["propagations"][:2]] == [ids, ids]
    assert [p["target_system"] for p in two.json()["items"]] == [
        p["target_system"] for p in status["propagations"][:2]
    ]


async def test_operator_routes_want_the_token_when_one_is_set(db: Database) -> None:
    shop = Shop(db)
    async with shop.http(token=TOKEN) as http:
        for path in ("/", "/api/status", "/api/propagations", "/api/timeline/order/x"):
            assert (await http.get(path)).status_code == 401, path
        assert (
            await http.get("/api/status", headers={"Authorization": f"Bearer {TOKEN}"})
        ).status_code == 200
        assert (await http.get("/api/status", auth=("x", TOKEN))).status_code == 200
        assert (await http.get("/api/status", headers={"Authorization": "Basic !!"})).status_code == 401
        # Probes and metrics stay open: they carry no customer data.
        assert (await http.get("/healthz")).status_code == 200
        assert (await http.get("/metrics")).status_code == 200


async def test_latency_runs_from_enqueue_to_confirmation(db: Database) -> None:
    """Store level: the enqueue time the reconciler names is journalled, confirmation time is settled."""
    async with db.begin() as conn:
        await queue.enqueue(
            db, conn, "default", [NewItem("order", system="site", external_id="132")], now=100.0
        )
    (item,) = await queue.claim(db, "default", "w", limit=1, lease=30, now=100.5)
    entry = JournalEntry("order", "c1", "create", "bitrix24", {"status": "new"}, item.trigger, "site")
    async with db.begin() as conn:
        # The reconcile links the unlinked key's object first; its item's enqueue time still counts.
        await state.add_links(conn, "default", "order", [("c1", "site", "132")], now=100.6)
        enqueued = {("order", "c1"): item.enqueued_at}
        (jid,) = await state.plan_writes(conn, "default", [entry], now=100.7, enqueued=enqueued)
    async with db.begin() as conn:
        await state.settle_writes(conn, [(jid, "applied", "7", None)], now=101.25)
    (p,) = await read_propagations(db, "default")
    assert (p["enqueued_at"], p["settled_at"], p["latency"]) == (100.0, 101.25, 1.25)
    assert p["links"] == {"site": "132"}
    assert p["external_id"] == "7"
    async with db.begin() as conn:
        await conn.execute(sa.update(tables.journal).values(settled_at=None))
    (p,) = await read_propagations(db, "default")
    assert p["latency"] is None  # no confirmation time, no made-up latency


async def test_engine_records_propagation_latency(db: Database) -> None:
    _, _, moved_at = await placed_and_moved(db)
    (newest, *_) = await read_propagations(db, "default")
    assert newest["latency"] is not None
    assert newest["settled_at"] >= moved_at


def test_cli_targets_name_the_entity_first() -> None:
    assert parse_target("order:site:132") == ("order", "site:132")
    assert parse_target("order:3f2a") == ("order", "3f2a")
    for bad in ("order", "order:", ":site:1", "order:site:"):
        with pytest.raises(ValueError, match="expected"):
            parse_target(bad)


def test_keys_are_a_canonical_id_or_system_and_external_id() -> None:
    assert parse_key("3f2a") == (None, "3f2a")
    assert parse_key("site:132") == ("site", "132")
    assert parse_key("onec:a:b") == ("onec", "a:b")  # only the first colon splits
    for bad in (":132", "site:"):
        with pytest.raises(ValueError, match="system:external_id"):
            parse_key(bad)
