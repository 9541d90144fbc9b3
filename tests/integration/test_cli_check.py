"""`obmen check` against the Bitrix24 and site sandboxes on real sockets and a real store.

A good configuration passes; a wrong site password, a wrong webhook token and a mapped stage the portal
does not have each fail the system concerned, saying what to do.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from obmen.app.checks import Report, check_all
from obmen.config.load import load_settings
from obmen.store import mirror, state
from obmen.store.database import Database
from obmen.store.facts import read_facts
from obmen.store.mirror import MirrorRecord
from obmen.web.app import Dashboard, create_app
from obmen_sandbox.bitrix24 import Bitrix24Sandbox
from obmen_sandbox.serving import serve_in_thread
from obmen_sandbox.site import EXCHANGE_PATH, SiteSandbox

WEBHOOK_USER, WEBHOOK_TOKEN = "1", "checktoken"


@pytest.fixture(scope="module")
def systems() -> Iterator[tuple[str, str]]:
    """A portal and a site, each on a socket of its own."""
    portal = Bitrix24Sandbox(webhook=f"{WEBHOOK_USER}/{WEBHOOK_TOKEN}", domain="127.0.0.1")
    with (
        serve_in_thread(portal.app) as b24,
        serve_in_thread(SiteSandbox("obmen", "site-pw").app) as site,
    ):
        yield b24, site


@pytest.fixture
def env(tmp_path: Path, sqlite_template: Path, systems: tuple[str, str]) -> dict[str, str]:
    """The environment of a good configuration: 1C, the site and the portal (webhook mode)."""
    b24, site = systems
    shutil.copy(sqlite_template, tmp_path / "obmen.db")
    return {
        "OBMEN_STATE_DIR": str(tmp_path),
        "OBMEN_ONEC__LOGIN": "1c",
        "OBMEN_ONEC__PASSWORD": "1c-pw",
        "OBMEN_SITE__EXCHANGE_URL": f"{site}{EXCHANGE_PATH}",
        "OBMEN_SITE__LOGIN": "obmen",
        "OBMEN_SITE__PASSWORD": "site-pw",
        "OBMEN_BITRIX24__PORTAL": b24,
        "OBMEN_BITRIX24__WEBHOOK_USER": WEBHOOK_USER,
        "OBMEN_BITRIX24__WEBHOOK_TOKEN": WEBHOOK_TOKEN,
        "OBMEN_BITRIX24__LIMITS": "off",
    }


async def _onec_has_called(env: dict[str, str]) -> None:
    """What 1C's catalog upload leaves: a note of the run and the price types and warehouses it declared."""
    settings = load_settings(None, env=env)
    db = Database.connect(settings.database.url)
    records = [
        MirrorRecord("price_type", "pt-1", {"name": "Розничная", "currency": "RUB"}),
        MirrorRecord("warehouse", "wh-1", {"name": "Основной склад"}),
    ]
    async with db.begin() as conn:
        await mirror.absorb(conn, "default", "onec", records, now=time.time())
        await state.set_cursor(conn, "default", "onec:catalog", "ok: import.xml", now=time.time())
    await db.close()


async def _check(env: dict[str, str], config: Path | None = None) -> Report:
    return await check_all(load_settings(config, env=env))


def _failed(report: Report) -> dict[str, list[tuple[str, str, str]]]:
    out: dict[str, list[tuple[str, str, str]]] = {}
    for c in report.checks:
        if not c.ok:
            out.setdefault(c.system, []).append((c.name, c.detail, c.fix))
    return out


async def test_a_good_configuration_passes_every_check(env: dict[str, str], tmp_path: Path) -> None:
    await _onec_has_called(env)
    config = tmp_path / "obmen.toml"
    config.write_text('[mapping.warehouses]\n"Основной склад" = 1\n', encoding="utf-8")
    report = await _check(env, config)
    assert report.ok, _failed(report)
    names = {(c.system, c.name.split(" / ")[0]) for c in report.checks}
    assert {
        ("database", "migrated"),
        ("onec", "last call"),
        ("onec", "price type"),
        ("onec", "warehouses"),
        ("site", "login"),
        ("site", "exchange"),
        ("bitrix24", "auth"),
        ("bitrix24", "plan"),
        ("bitrix24", "scopes"),
        ("bitrix24", "stages of default"),
        ("bitrix24", "invoice stages"),
        ("bitrix24", "catalog"),
    } <= names
    site = next(c for c in report.checks if c.system == "site" and c.name.startswith("exchange"))
    assert "file_limit 204800" in site.detail


async def test_1c_that_never_called_and_a_price_type_it_lacks_are_named(env: dict[str, str]) -> None:
    report = await _check(env)
    [(name, detail, fix)] = _failed(report)["onec"]
    assert name.startswith("last call")
    assert "never called" in detail
    assert "/exchange/1c" in fix
    await _onec_has_called(env)
    report = await _check(env | {"OBMEN_MAPPING__PRICE_TYPE": "Оптовая"})
    [(name, detail, fix)] = _failed(report)["onec"]
    assert name.startswith("price type")
    assert "'Розничная'" in detail
    assert "price_type" in fix


async def test_a_wrong_site_password_fails_the_site_saying_what_to_set(env: dict[str, str]) -> None:
    await _onec_has_called(env)
    report = await _check(env | {"OBMEN_SITE__PASSWORD": "wrong"})
    assert not report.ok
    failed = _failed(report)
    assert list(failed) == ["site"], failed
    [(name, _, fix)] = failed["site"]
    assert name.startswith("login")
    assert "site.password" in fix


async def test_a_wrong_webhook_token_fails_the_portal_saying_what_to_set(env: dict[str, str]) -> None:
    await _onec_has_called(env)
    report = await _check(env | {"OBMEN_BITRIX24__WEBHOOK_TOKEN": "wrong"})
    failed = _failed(report)
    assert list(failed) == ["bitrix24"], failed
    [(name, detail, fix)] = failed["bitrix24"]
    assert name.startswith("auth")
    assert "401" in detail
    assert "webhook_token" in fix


async def test_a_mapped_stage_the_portal_lacks_is_named_with_its_pipeline(env: dict[str, str]) -> None:
    await _onec_has_called(env)
    report = await _check(env | {"OBMEN_MAPPING__PIPELINES__DEFAULT__STATUS_TO_STAGE__P": "PACKING"})
    failed = _failed(report)
    assert list(failed) == ["bitrix24"], failed
    [(name, detail, fix)] = failed["bitrix24"]
    assert name.startswith("stages of default")
    assert "PACKING" in detail
    assert "[mapping.pipelines.default]" in fix


def test_the_command_exits_1_and_prints_the_failing_system_and_json(env: dict[str, str]) -> None:
    run_env = {**os.environ, **env, "OBMEN_SITE__PASSWORD": "wrong"}
    command = [sys.executable, "-m", "obmen", "check"]
    done = subprocess.run(command, env=run_env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr
    failed = [x for x in done.stdout.splitlines() if x.startswith("✘")]
    assert any(" site " in x and "login" in x for x in failed), done.stdout
    assert "→ check site.login and site.password" in done.stdout
    as_json = subprocess.run([*command, "--json"], env=run_env, capture_output=True, text=True, timeout=120)
    document = json.loads(as_json.stdout)
    assert document["ok"] is False
    assert {c["system"] for c in document["checks"] if not c["ok"]} >= {"site"}
    # What the pass read is kept for the dashboard, and the text says where it shows.
    assert "bitrix24" in document["facts_kept"]
    assert "is shown beside the mapping at /mappings" in done.stdout


async def test_check_keeps_what_it_read_and_the_mappings_page_shows_it_beside_each_row(
    env: dict[str, str], tmp_path: Path
) -> None:
    await _onec_has_called(env)
    settings = load_settings(None, env=env)
    db = Database.connect(settings.database.url)
    async with db.begin() as conn:
        order = MirrorRecord("order", "7", {"number": "7", "status": "N"})
        await mirror.absorb(conn, "default", "site", [order], now=time.time())
    config = tmp_path / "obmen.toml"
    config.write_text(
        '[mapping]\nprice_type = "Оптовая"\n[mapping.warehouses]\n"Основной склад" = 1\n"Склад Б" = 2\n'
        '[mapping.managers]\n1 = "Иванов"\n999 = "Никто"\n'
        '[mapping.order_properties]\nCOMMENT = "SOURCE_DESCRIPTION"\nPHONE2 = "UF_CRM_NOPE"\n'
        '[mapping.pipelines.default.status_to_stage]\nN = "NEW"\nP = "PACKING"\nF = "WON"\n',
        encoding="utf-8",
    )
    settings = load_settings(config, env=env)
    report = await check_all(settings)
    assert sorted(report.facts) == ["bitrix24", "onec", "site"]
    facts = await read_facts(db, "default")
    portal = facts["bitrix24"].data
    assert {"NEW", "WON", "LOSE"} <= set(portal["pipelines"]["0"]["stages"])
    assert "1" in portal["users"]
    assert "999" not in portal["users"]
    assert "SOURCE_DESCRIPTION" in portal["deal_fields"]
    assert "1" in portal["stores"]
    assert "2" not in portal["stores"]
    assert facts["onec"].data == {
        "price_types": {"pt-1": "Розничная"},
        "warehouses": {"wh-1": "Основной склад"},
    }
    assert facts["site"].data == {"statuses": ["N"]}
    app = create_app(db, dashboard=Dashboard(mapping=settings.mapping))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://obmen") as http:
        ru = (await http.get("/mappings", params={"lang": "ru"})).text
        en = (await http.get("/mappings", params={"lang": "en"})).text
    await db.close()
    rows = {_first_cell(r): r for r in ru.split("<tr>")[1:]}
    assert "✘ нет в системе Битрикс24" in rows["P"]  # PACKING is not a stage of the portal
    assert "✔" in rows["N"]
    assert "✘" not in rows["N"]
    assert "пока не встречался в заказах сайта" in rows["F"]  # no site order has been F yet
    assert "✘ нет в системе 1С" in rows["price_type"]
    assert "Розничная" in ru
    assert "✔" in rows["Основной склад"]
    assert "✘" in rows["Склад Б"]
    assert rows["Основной склад"].count("✔") == 2  # a 1C warehouse, mapped to a store the portal has
    assert "✘ нет в системе Битрикс24" in rows["Склад Б"]  # store 2 does not exist
    assert "✔" in rows["1"]
    assert "✘" in rows["999"]
    assert "✔" in rows["COMMENT"]
    assert "✘" in rows["PHONE2"]
    assert "Есть в системе, но не сопоставлено" in ru  # the portal's stages no row maps
    assert "not in Bitrix24" in en
    assert "In the system but not mapped" in en
    assert ru.count("data-facts=") == 3
    assert "выполните `obmen check`" not in ru


def _first_cell(row: str) -> str:
    return row.removeprefix("<td>").split("</td>", 1)[0]


async def test_the_mappings_page_says_what_was_not_read_yet(db: Database) -> None:
    from obmen.config.mapping import MappingSettings

    app = create_app(db, dashboard=Dashboard(mapping=MappingSettings()))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://obmen") as http:
        page = (await http.get("/mappings", params={"lang": "en"})).text
    assert page.count("not read yet: run `obmen check`") >= 3
    assert "<td class='unknown'" in page
    assert "class='missing'" not in page


async def test_the_mapping_pages_button_reads_the_systems_through_the_running_obmen(
    env: dict[str, str],
) -> None:
    from obmen.app.runtime import build_runtime

    await _onec_has_called(env)
    runtime = await build_runtime(load_settings(None, env=env))
    try:
        transport = httpx.ASGITransport(app=runtime.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://obmen") as http:
            before = (await http.get("/mappings", params={"lang": "en"})).text
            read = (await http.post("/api/facts/refresh", json={"by": "web"})).json()
            after = (await http.get("/mappings", params={"fragment": "mapping", "lang": "en"})).text
    finally:
        await runtime.aclose()
    assert "data-refresh-facts" in before
    assert "Read the systems now" in before
    assert "not read yet" in before
    assert read == {"read": ["onec", "site", "bitrix24"]}
    assert "not read yet" not in after
    assert "✔ Won" in after or "✔ Сделка успешна" in after


async def test_a_process_without_integrations_refuses_to_read_the_systems(db: Database) -> None:
    app = create_app(db, dashboard=Dashboard())
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://obmen") as http:
        answer = await http.post("/api/facts/refresh")
        page = (await http.get("/mappings")).text
    assert answer.status_code == 409
    assert "this process reads no system" in answer.json()["error"]
    assert "data-refresh-facts" not in page


async def test_a_warehouse_mapped_by_its_id_is_found_and_shown_by_its_name(
    env: dict[str, str], tmp_path: Path
) -> None:
    """`[mapping] warehouses` names a 1C warehouse by its name or its `Ид` (onec/stores.py): both count."""
    await _onec_has_called(env)
    config = tmp_path / "obmen.toml"
    config.write_text('[mapping.warehouses]\n"wh-1" = 1\n"wh-9" = 0\n', encoding="utf-8")
    settings = load_settings(config, env=env)
    report = await check_all(settings)
    assert [c.detail for c in report.checks if c.name.startswith("warehouses")] == [
        "not uploaded: wh-9 (1C has 'Основной склад')"
    ]
    db = Database.connect(settings.database.url)
    app = create_app(db, dashboard=Dashboard(mapping=settings.mapping))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://obmen") as http:
        ru = (await http.get("/mappings", params={"lang": "ru"})).text
    await db.close()
    rows = {_first_cell(r): r for r in ru.split("<tr>")[1:]}
    # The row: the warehouse, found in 1C, its store, found in the portal.
    assert rows["wh-1"].split("</td>")[1] == "<td class='found'>✔ Основной склад", rows["wh-1"]
    assert rows["wh-9"].split("</td>")[1] == "<td class='missing'>✘ нет в системе 1С", rows["wh-9"]
    assert "<td class='found'>✔ Розничная</td>" in rows["price_type"]  # the price type, by its name
    # Mapped by its id, the warehouse is not listed again as one no row maps.
    assert "Основной склад" not in ru.split("class='unmapped'", 1)[-1].split("</p>", 1)[0]


async def test_check_reads_the_portals_pipelines_once_and_their_stages_in_one_batch(
    env: dict[str, str], tmp_path: Path
) -> None:
    """Checks and kept facts share one read; the stages of every pipeline go in one `batch` (§2.5)."""
    await _onec_has_called(env)
    portal = Bitrix24Sandbox(webhook=f"{WEBHOOK_USER}/{WEBHOOK_TOKEN}", domain="127.0.0.1")
    portal.seed({"pipelines": [{"id": n, "name": f"Воронка {n}"} for n in range(1, 7)]})
    portal.seed({"pipelines": [{"id": 5, "entityTypeId": 31, "name": "Счета 2"}]})
    config = tmp_path / "obmen.toml"
    config.write_text(
        '[mapping.pipelines.opt]\ncategory_id = 3\n[mapping.pipelines.opt.status_to_stage]\nN = "NEW"\n',
        encoding="utf-8",
    )
    with serve_in_thread(portal.app) as b24:
        settings = load_settings(config, env={**env, "OBMEN_BITRIX24__PORTAL": b24})
        report = await check_all(settings)
    assert report.ok, _failed(report)
    methods = [r["method"] for r in portal.portal.requests.as_json()["requests"]]
    # The login; the pipelines with the users, stores and fields, then the stages of all 7 deal and 2
    # invoice pipelines; the scopes; the catalog's iblocks. Kept facts cost no request more.
    assert methods == ["app.info", "batch", "batch", "scope", "batch"], methods
    db = Database.connect(settings.database.url)
    portal_read = (await read_facts(db, "default"))["bitrix24"].data
    await db.close()
    assert sorted(portal_read["pipelines"], key=int) == [str(n) for n in range(7)]
    assert "C3:NEW" in portal_read["pipelines"]["3"]["stages"]
    assert sorted(portal_read["invoice_pipelines"]) == ["1", "5"]
    assert "DT31_5:P" in portal_read["invoice_pipelines"]["5"]["stages"]


async def test_what_is_kept_is_each_integrations_own_reader_whatever_its_system(db: Database) -> None:
    """The app runs `Integration.facts` and names no system: a reader that fails keeps the earlier read."""
    from obmen.app.facts import keep_facts
    from obmen.connectors.base import Integration
    from obmen.errors import TransientError

    async def stages() -> dict[str, Any]:
        return {"stages": {"S1": "Новая"}}

    async def refused() -> dict[str, Any]:
        raise TransientError("the remote is down")

    async def nothing_yet() -> None:
        return None

    systems = [
        Integration("crm2", facts=stages),
        Integration("erp2", facts=refused),
        Integration("shop2", facts=nothing_yet),
        Integration("other"),
    ]
    assert await keep_facts(systems, db, "default") == ["crm2"]
    assert {s: f.data for s, f in (await read_facts(db, "default")).items()} == {
        "crm2": {"stages": {"S1": "Новая"}}
    }
