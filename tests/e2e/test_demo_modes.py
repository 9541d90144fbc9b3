"""The demo's day in both of its modes: by default the site through REST and events and 1C through OData
with its ping extension, and with `--exchange-only` the CommerceML exchanges; each line names its path."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest
from demo_process import endpoints, start, stop

from obmen.demo.activity import Activity
from obmen.demo.stack import DEMO, Stack, Tuning, running_stack

pytestmark = pytest.mark.slow

#: The demo's stack, in this process (the sandboxes in threads): quick to start, the same wiring.
HERE = dataclasses.replace(DEMO, processes=False)
#: Every flow the day plays, on either path.
FLOWS = {
    "1 catalog",
    "2 order",
    "3 1C",
    "4 stage",
    "5 CRM deal",
    "6 counterparty",
    "7 payment",
    "8 both sides",
}


async def _day(state: Path, tuning: Tuning) -> tuple[Activity, Stack, dict[str, Any]]:
    async with running_stack(state, tuning=tuning) as stack, httpx.AsyncClient(timeout=60) as http:
        day = Activity(stack, http, timeout=60, comment_conflicts=True)
        await day.play()
        await day.settled()
        status = await day.obmen_status()
        if stack.site_rest:
            # The webhook in endpoints.json is usable as it stands.
            status["scope"] = (await http.post(f"{stack.site_rest}scope", json={})).json()["result"]
        return day, stack, status


async def test_the_default_demo_plays_its_day_on_the_push_paths(tmp_path: Path) -> None:
    day, stack, status = await _day(tmp_path / "state", HERE)
    assert (stack.site_mode, stack.onec_mode) == ("rest", "odata")
    assert {p.flow for p in day.log} >= FLOWS
    by_what = {p.what: p.path for p in day.log}
    assert by_what["deal for order №1"] == "site REST → Bitrix24"
    assert by_what["order №1 in 1C"] == "site REST → 1C OData"
    assert by_what["order №1 status F on the site"] == "1C OData → site REST"
    assert by_what["deletion mark: inactive in Bitrix24"] == "1C OData → Bitrix24"
    assert all(p.path for p in day.log)
    # A deal made in the CRM becomes a site order through REST, and reaches 1C through OData.
    assert by_what["the deal's order on the site"] == "Bitrix24 → site REST"
    # An order with VAT on top paid in two parts: not paid in the CRM until the courier takes the rest.
    payment = [p.what for p in day.log if p.flow == "7 payment"]
    assert any("500 ₽ paid online: its invoice not paid yet" in what for what in payment), payment
    assert any("its invoice paid in full" in what for what in payment), payment
    assert day.gaps == [], day.gaps
    assert status["parked"]["total"] == 0, status["parked"]
    endpoints = json.loads((tmp_path / "state" / "endpoints.json").read_text(encoding="utf-8"))
    assert endpoints["site"]["mode"] == "rest"
    assert endpoints["site"]["rest"].startswith(f"{stack.site}/rest/1/")
    assert endpoints["onec"]["mode"] == "odata"
    assert endpoints["onec"]["odata"].endswith("/odata/standard.odata")
    assert endpoints["onec"]["odata_login"]
    assert endpoints["onec"]["odata_password"]
    # The exchange's keys stay: outside tests read them.
    assert {"exchange", "login", "password", "sandbox"} <= set(endpoints["site"])
    assert {"url", "login", "password"} <= set(endpoints["onec_exchange"])
    assert "sale" in status["scope"]
    assert Stack.from_endpoints(endpoints).odata == stack.odata


async def test_the_exchange_only_demo_plays_every_flow_on_the_commerceml_exchanges(tmp_path: Path) -> None:
    day, stack, status = await _day(tmp_path / "state", HERE.exchange_only())
    assert (stack.site_mode, stack.onec_mode) == ("exchange", "exchange")
    assert {p.flow for p in day.log} == FLOWS
    assert day.gaps == []
    assert {p.path for p in day.log if p.flow == "2 order"} == {
        "site exchange → Bitrix24",
        "site exchange → 1C exchange",
    }
    assert status["parked"]["total"] == 0, status["parked"]
    endpoints = json.loads((tmp_path / "state" / "endpoints.json").read_text(encoding="utf-8"))
    assert "rest" not in endpoints["site"]
    assert "odata" not in endpoints["onec"]


def test_obmen_demo_exchange_only_starts_the_commerceml_stack(tmp_path: Path) -> None:
    state = tmp_path / "demo"
    demo = start(state, tmp_path / "demo.log", "--exchange-only")
    try:
        shown = (tmp_path / "demo.log").read_text(encoding="utf-8")
        assert "site.mode = exchange, onec.mode = exchange" in shown
        assert "products in Bitrix24" in shown
        assert "(1C exchange → Bitrix24)" in shown
        shown_endpoints = endpoints(state)
        assert (shown_endpoints["site"]["mode"], shown_endpoints["onec"]["mode"]) == ("exchange", "exchange")
        assert "rest" not in shown_endpoints["site"]
        assert "odata" not in shown_endpoints["onec"]
    finally:
        stop(demo)


def test_the_cli_takes_exchange_only_and_keeps_its_old_flags() -> None:
    shown = subprocess.run(
        [sys.executable, "-m", "obmen", "demo", "--help"], capture_output=True, text=True, timeout=60
    ).stdout
    for flag in ("--exchange-only", "--state-dir", "--no-activity", "--fresh"):
        assert flag in shown, shown
