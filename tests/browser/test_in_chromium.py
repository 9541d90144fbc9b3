"""The dashboard in a real browser: Debian's chromium driven by Selenium against the demo stack.

Three sandboxes and obmen on loopback (`obmen.demo.stack`), the order comment under the `conflict` rule
and an admin token. A person logs in, finds the order by its number and by the customer's phone, opens
it and sees the three systems side by side, resolves a conflict with a click (and the systems follow),
sees the overview's banner while the portal refuses obmen, retries an item parked while the portal failed
every call, follows a catalog resync to its end on the overview, and reads the systems from the mapping
page to see each row beside what they have. Nothing is downloaded: the browser and its driver are the
machine's (`make browser` installs them); with `OBMEN_SCREENSHOTS=DIR` the pages are
saved as PNG there (docs/screenshots/ holds the ones the operations guide shows).
"""

from __future__ import annotations

import asyncio
import os
import shutil
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest

from obmen.demo.activity import Activity, _first_offer
from obmen.demo.stack import Tuning, running_stack
from obmen.engine.loads import full_load

webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is in the [dev] extras")
from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException  # noqa: E402
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.remote.webdriver import WebDriver  # noqa: E402

pytestmark = pytest.mark.slow

T = TypeVar("T")
TOKEN = "browser-test-token"
CHROMIUM = os.environ.get("OBMEN_CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("OBMEN_CHROMEDRIVER", "/usr/bin/chromedriver")
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--window-size=1280,900",
)
TUNING = Tuning(
    b24_poll_every=600,
    extra_env={
        "OBMEN_FIELD_POLICY__ORDER.COMMENT": "conflict",
        "OBMEN_WEB__ADMIN_TOKEN": TOKEN,
        # A refusing portal is probed within seconds, not the minute a shop would wait.
        "OBMEN_WORKER__PROBE_FIRST": "2",
        "OBMEN_WORKER__PROBE_MAX": "4",
        # A write the portal keeps failing parks after two quick attempts, for the page's Retry.
        "OBMEN_WORKER__MAX_ATTEMPTS": "2",
        "OBMEN_WORKER__BACKOFF_BASE": "0.5",
        "OBMEN_WORKER__BACKOFF_MAX": "1",
    },
)


class Browser:
    """A chromium driven from a thread, so the stack on this event loop keeps running meanwhile."""

    def __init__(self, driver: WebDriver, base: str) -> None:
        self.driver, self.base = driver, base

    async def run(self, call: Callable[[WebDriver], T]) -> T:
        return await asyncio.to_thread(call, self.driver)

    async def open(self, path: str) -> None:
        await self.run(lambda d: d.get(self.base + path))

    async def text(self) -> str:
        return await self.run(lambda d: d.find_element(By.TAG_NAME, "main").text)

    async def until(self, what: str, probe: Callable[[WebDriver], T | None], within: float = 60) -> T:
        """Poll the page until `probe` finds something (live sections update without reloads)."""
        deadline = time.monotonic() + within
        while True:
            try:
                found = await self.run(probe)
            except (NoSuchElementException, StaleElementReferenceException):
                found = None
            if found:
                return found
            if time.monotonic() > deadline:
                raise AssertionError(f"{what}: not on the page within {within:.0f} s:\n{await self.text()}")
            await asyncio.sleep(0.3)

    async def shot(self, name: str) -> None:
        folder = os.environ.get("OBMEN_SCREENSHOTS")
        if folder:
            target = Path(folder) / f"{name}.png"
            await asyncio.to_thread(target.parent.mkdir, parents=True, exist_ok=True)
            await self.run(lambda d: d.save_screenshot(str(target)))


@pytest.fixture
async def browser_factory() -> AsyncIterator[Callable[[str], Browser]]:
    missing = [p for p in (CHROMIUM, CHROMEDRIVER) if not shutil.which(p)]
    if missing:
        pytest.fail(
            f"{', '.join(missing)} missing: `make browser` installs Debian's chromium and chromium-driver"
        )
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in FLAGS:
        options.add_argument(flag)
    driver = await asyncio.to_thread(webdriver.Chrome, options=options, service=Service(CHROMEDRIVER))
    try:
        yield lambda base: Browser(driver, base)
    finally:
        await asyncio.to_thread(driver.quit)


def _search_results(d: WebDriver) -> list[str]:
    return [a.text for a in d.find_elements(By.CSS_SELECTOR, "table.results td:first-child a")]


async def _search(b: Browser, query: str) -> list[str]:
    def typed(d: WebDriver) -> None:
        box = d.find_element(By.CSS_SELECTOR, "header .search input")
        box.clear()
        box.send_keys(query)
        box.submit()

    await b.run(typed)
    return await b.until(f"results for {query!r}", _search_results)


async def test_an_operator_runs_the_shop_from_the_dashboard(
    tmp_path: Path, browser_factory: Callable[[str], Browser]
) -> None:
    async with (
        running_stack(tmp_path / "state", tuning=TUNING) as stack,
        httpx.AsyncClient(timeout=60, headers={"Authorization": f"Bearer {TOKEN}"}) as http,
    ):
        day = Activity(stack, http, timeout=60)
        await day.catalog()
        offer = _first_offer(await day.onec("GET", "/products"))
        placed = await day.order(offer)
        deal_id, site_id, number = placed["deal"]["ID"], placed["site"]["id"], str(placed["site"]["number"])
        await day.quiet()
        b = browser_factory(stack.obmen)

        # Logging in: the page asks for the token and remembers the session.
        await b.open("/?lang=ru")
        await b.run(lambda d: d.find_element(By.NAME, "token").send_keys(TOKEN))
        await b.run(lambda d: d.find_element(By.CSS_SELECTOR, "form.login button").click())
        await b.until("the systems' cards", lambda d: d.find_elements(By.CSS_SELECTOR, ".card[data-system]"))
        cards = await b.run(
            lambda d: [c.get_attribute("data-system") for c in d.find_elements(By.CSS_SELECTOR, ".card")]
        )
        assert set(cards) >= {"onec", "site", "bitrix24"}

        # Search by the order's number and by the customer's phone typed as people type it.
        order = f"Заказ №{number} · Ирина Смирнова"
        assert (await _search(b, number))[0].startswith(order)
        by_phone = await _search(b, "8 (912) 345-67-89")
        assert any(r.startswith(order) for r in by_phone), by_phone
        assert "Ирина Смирнова · +79123456789" in by_phone

        # The object page: the order in the three systems side by side.
        await b.run(lambda d: d.find_element(By.PARTIAL_LINK_TEXT, order).click())
        heads = await b.until(
            "the side-by-side table",
            lambda d: [th.text for th in d.find_elements(By.CSS_SELECTOR, "table.sides th")],
        )
        assert heads[1:] == ["Согласовано", "1С", "Сайт", "Битрикс24"]
        assert "Курьер" in await b.text()
        portal = await b.run(
            lambda d: d.find_element(By.PARTIAL_LINK_TEXT, "Сделка в портале").get_attribute("href")
        )
        assert portal.endswith(f"/crm/deal/details/{deal_id}/")

        # A conflict, resolved with a click: the site's value wins and every system follows.
        await day.comment_conflict(deal_id, site_id, "Позвонить до обеда", "Оставить у консьержа")
        await b.open("/conflicts")
        button = "form.choice button[data-side='site']"
        await b.until("the conflict's buttons", lambda d: d.find_elements(By.CSS_SELECTOR, button))
        await b.shot("conflicts")
        await b.run(lambda d: d.find_element(By.CSS_SELECTOR, button).click())
        await b.until(
            "the conflict closed", lambda d: not d.find_elements(By.CSS_SELECTOR, "article.conflict")
        )

        async def deal_comment() -> Any:
            return next(d for d in await day.portal("crm.deal") if str(d["ID"]) == str(deal_id))["COMMENTS"]

        await _eventually(lambda: deal_comment(), "Оставить у консьержа")
        assert (await day.site("GET", f"/orders/{site_id}"))["comment"] == "Оставить у консьержа"
        # The closed list says what was decided and by whom (the page's button decides as "web").
        closed = await b.until(
            "the closed conflict",
            lambda d: d.find_element(By.ID, "closed").text if "web" in d.page_source else None,
        )
        assert "Оставить у консьержа" in closed

        # The portal refuses obmen (a lapsed plan): the overview says so and nothing parks; once the plan is
        # paid, the held change arrives by itself at the next probe (docs/architecture.md §2.13).
        await http.post(f"{stack.bitrix24}/_sandbox/faults", json={"free_plan": True})
        await day.site("PATCH", f"/orders/{site_id}", {"comment": "Доставить после 18:00"})
        await b.open("/")
        outage = "p.outage[data-outage='bitrix24']"
        await b.until("the outage banner", lambda d: d.find_elements(By.CSS_SELECTOR, outage))
        text = await b.text()
        assert "Битрикс24 отказывает: ACCESS_DENIED" in text
        assert "следующая проверка в" in text
        await http.post(f"{stack.bitrix24}/_sandbox/faults", json={"free_plan": False})
        await _eventually(lambda: deal_comment(), "Доставить после 18:00")
        await b.until("the banner gone", lambda d: not d.find_elements(By.CSS_SELECTOR, outage))
        assert (await day.obmen_status())["parked"]["total"] == 0

        # The portal fails every call (HTTP 500, not a refusal): the write parks; once the portal answers
        # again, Retry on the overview sends it.
        await http.post(f"{stack.bitrix24}/_sandbox/faults", json={"error_rate": 1.0})
        await day.site("PATCH", f"/orders/{site_id}", {"comment": "Позвонить за час"})
        retry = "button[data-retry]"
        await b.until("the parked item", lambda d: d.find_elements(By.CSS_SELECTOR, retry), within=120)
        assert "HTTP 500" in await b.text()
        await http.post(f"{stack.bitrix24}/_sandbox/faults", json={"error_rate": 0.0})
        await b.run(lambda d: d.find_element(By.CSS_SELECTOR, retry).click())
        await b.until("the parked list empty", lambda d: not d.find_elements(By.CSS_SELECTOR, retry))
        await _eventually(lambda: deal_comment(), "Позвонить за час")

        # A resync of the catalog: the overview follows it to its end without a reload.
        assert stack.runtime is not None
        await b.open("/")
        load = await full_load(stack.runtime.engine, ["product"])
        row = "table.loads tbody tr"
        shown = await b.until(
            "the finished load",
            lambda d: next(
                (
                    r.text
                    for r in d.find_elements(By.CSS_SELECTOR, row)
                    if load.name in r.text and "закончена" in r.text
                ),
                None,
            ),
        )
        assert f"{load.total} / {load.total}" in shown

        # The mapping beside what the systems have, read on a click (as `obmen check` reads it).
        await b.open("/mappings")
        await b.until("nothing read yet", lambda d: d.find_elements(By.CSS_SELECTOR, "td.unknown"))
        await b.run(lambda d: d.find_element(By.CSS_SELECTOR, "button[data-refresh-facts]").click())
        found = await b.until("the checked stages", lambda d: d.find_elements(By.CSS_SELECTOR, "td.found"))
        assert len(found) >= 6
        assert not await b.run(lambda d: d.find_elements(By.CSS_SELECTOR, "td.unknown"))
        await b.shot("mappings")

        # The screenshots the operations guide shows.
        await b.open("/")
        await b.until("the charts", lambda d: d.find_elements(By.CSS_SELECTOR, "svg.chart rect"))
        await b.shot("overview")
        await b.open(f"/objects/order/site:{site_id}")
        await b.until("the side-by-side table", lambda d: d.find_elements(By.CSS_SELECTOR, "table.sides td"))
        await b.shot("object")


async def _eventually(probe: Callable[[], Any], expected: Any, within: float = 60) -> None:
    deadline = time.monotonic() + within
    while (got := await probe()) != expected:
        assert time.monotonic() < deadline, f"still {got!r}, expected {expected!r}"
        await asyncio.sleep(0.2)
