"""Orders through their whole life, as a `hypothesis.stateful` machine over the running stack (issue 12).

The stack (the three sandboxes and obmen, `obmen.demo.stack`) runs on an event loop of its own thread and
lives across the machine's examples; each example drives new orders through the systems' own control
APIs and protocols: site orders and payments, CRM stage moves (mapped and not) and line edits, 1C posting,
shipping, payment and cancellation with its sale exchanges, contact edits, lost and duplicated portal
events, and pauses that let the site's exchange rounds fall anywhere in between. At the end the network
heals, obmen is left to quiesce, and `check` asserts (docs/architecture.md §2.11, §2.12, §2.14): every
system agrees with obmen's base field by field (or a conflict is recorded for the field), no fact went
back, nothing is duplicated, and nothing waits or is parked. `tests/e2e/test_lifecycle_stateful.py` runs
a few examples; `python -m bench lifecycle` runs many.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import httpx
from hypothesis import strategies as st
from hypothesis.stateful import Bundle, RuleBasedStateMachine, initialize, rule

from obmen.config.mapping import PipelineMap
from obmen.demo.activity import Activity, _first_offer
from obmen.demo.stack import Tuning, running_stack
from obmen.engine.policy import Policy

__all__ = ["Lifecycle", "StackThread", "machine"]

T = TypeVar("T")
#: Stages a manager moves deals to: mapped ones, and one of a fresh portal that tells no status (§2.12).
STAGES = ("NEW", "PREPARATION", "WON", "FINAL_INVOICE")
#: What an accountant does to an order in 1C (the sandbox's order edits).
ONEC_EDITS: tuple[dict[str, Any], ...] = (
    {"posted": True},
    {"posted": True, "shipped": True},
    {"paid": True},
    {"status": "P"},
    {"status": "F"},
    {"cancelled": True},
)
#: The status order the field policy moves statuses along (docs/architecture.md §2.11).
_STATUS = Policy.build().rule("order", "status")
#: The stack as the tests run it: the portal's changes by its events, a scan every few seconds.
TUNING = Tuning(b24_poll_every=3, site_poll=0.5)


class StackThread:
    """The running stack and a shop-day driver (`Activity`) on an event loop in a thread of their own."""

    def __init__(self, state_dir: Path, tuning: Tuning = TUNING) -> None:
        self.state_dir, self.tuning = state_dir, tuning
        self.loop = asyncio.new_event_loop()
        self.day: Activity | None = None
        self.offer = ""
        self._ready: Future[None] = Future()
        self._stop: asyncio.Event | None = None
        self._thread = threading.Thread(
            target=self.loop.run_until_complete, args=(self._main(),), daemon=True
        )

    def __enter__(self) -> StackThread:
        self._thread.start()
        self._ready.result(timeout=300)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._stop is not None:
            self.loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(timeout=60)

    async def _main(self) -> None:
        self._stop = asyncio.Event()
        try:
            async with (
                running_stack(self.state_dir, tuning=self.tuning) as stack,
                httpx.AsyncClient(timeout=60) as http,
            ):
                self.day = Activity(stack, http, timeout=90)
                await self.day.catalog()
                self.offer = _first_offer(await self.day.onec("GET", "/products"))
                await self.day.on_sale(self.offer)
                self._ready.set_result(None)
                await self._stop.wait()
        except BaseException as exc:
            if not self._ready.done():
                self._ready.set_exception(exc)
            raise

    def run(self, work: Callable[[Activity], Awaitable[T]], timeout: float = 180) -> T:
        """Run `work(day)` on the stack's loop and wait for its answer."""
        assert self.day is not None
        day = self.day

        async def call() -> T:
            return await work(day)

        return asyncio.run_coroutine_threadsafe(call(), self.loop).result(timeout)


@dataclass
class Placed:
    """One order of this example, and what the example did to it (the model the checks hold it to)."""

    site_id: int
    number: str
    paid: bool = False
    cancelled: bool = False
    edits: list[str] = field(default_factory=list)
    #: The statuses the example's actions set, in order (a new order is `N`).
    statuses: list[str] = field(default_factory=lambda: ["N"])

    def set_status(self, status: str) -> None:
        """An action that says the order's status."""
        self.statuses.append(status)

    def went_back(self) -> bool:
        """Whether some action set a status lower than one set before it (a manager moved it back)."""
        levels = [_STATUS.level(s) or 0 for s in self.statuses]
        return any(level < max(levels[:i]) for i, level in enumerate(levels) if i)


async def _deal(day: Activity, number: str) -> dict[str, Any] | None:
    deals = [d for d in await day.portal("crm.deal") if str(d.get("TITLE")) == f"Заказ №{number}"]
    return deals[0] if deals else None


async def _the_deal(day: Activity, number: str) -> dict[str, Any]:
    """The order's deal, once obmen has made it (a manager can only move what she sees)."""
    return await day.until(
        "lifecycle", f"deal of order №{number}", lambda: _deal(day, number), time.monotonic()
    )


async def _in_1c(day: Activity, number: str) -> dict[str, Any]:
    """The order in 1C, running 1C's sale exchanges until it has taken it (an accountant works in 1C)."""
    found = await _onec_order(day, number)
    return found if found is not None else await day.sale_exchange(number, flow="lifecycle")


async def _onec_order(day: Activity, number: str) -> dict[str, Any] | None:
    orders = await day.onec("GET", "/orders")
    items = orders["orders"] if isinstance(orders, dict) else orders
    return next((o for o in items if str(o.get("number")) == number), None)


async def quiesce(day: Activity) -> None:
    """The network heals; 1C and the site exchange a few more times; obmen's queue empties."""
    faults = f"{day.stack.bitrix24}/_sandbox/faults"
    await day.http.post(faults, json={"events": {"drop": 0.0, "duplicate": 0.0}})
    await asyncio.sleep(TUNING.b24_poll_every + 0.5)  # a scan finds what lost events did not say
    for _ in range(3):
        await day.settled()
        await day.onec("POST", "/exchange/sale")
        await day.settled()
        await asyncio.sleep(1.0)  # a site round or two
    await day.settled()


def _paid(payments: Any) -> bool:
    return bool(payments) and all(p.get("paid") for p in payments)


async def check(day: Activity, orders: list[Placed]) -> None:
    """The invariants after quiescence, for the orders of one example and for the whole stack."""
    status = await day.obmen_status()
    assert status["depth"] == 0, status["queue"]
    assert status["parked"]["total"] == 0, status["parked"]
    assert status["waiting"]["total"] == 0, status["waiting"]
    deals = await day.portal("crm.deal")
    titles = [str(d["TITLE"]) for d in deals]
    assert len(titles) == len(set(titles)), "a deal was duplicated"
    invoices = await day.portal("crm.smart_invoice")
    parents = [str(i["PARENT_ID_2"]) for i in invoices]
    assert len(parents) == len(set(parents)), "an invoice was duplicated"
    onec = await day.onec("GET", "/orders")
    numbers = [str(o["number"]) for o in (onec["orders"] if isinstance(onec, dict) else onec)]
    assert len(numbers) == len(set(numbers)), "an order was duplicated in 1C"
    for placed in orders:
        await _check_order(day, placed, status)


async def _check_order(day: Activity, placed: Placed, status: dict[str, Any]) -> None:
    what = f"order №{placed.number} after {placed.edits}"
    timeline = await day.timeline("order", f"site:{placed.site_id}")
    base = timeline.get("base")
    assert base is not None, f"{what}: obmen has no base"
    disputed = {
        c["field"] for c in status["conflicts"]["items"] if c["canonical_id"] == timeline["canonical_id"]
    }
    site = await day.site("GET", f"/orders/{placed.site_id}")
    deal = await _deal(day, placed.number)
    assert deal is not None, f"{what}: no deal"
    invoice = await day.invoice_of(deal["ID"])
    assert invoice is not None, f"{what}: no invoice"
    onec = await _onec_order(day, placed.number)
    assert onec is not None, f"{what}: not in 1C"
    if "cancelled" not in disputed:
        assert site["cancelled"] == onec["cancelled"] == base["cancelled"] == placed.cancelled, what
    if "status" not in disputed:
        assert site["status"] == onec["status"] == base["status"], (
            what,
            site["status"],
            onec["status"],
            base,
        )
        told = PipelineMap().reading(str(deal["STAGE_ID"]))
        assert told in (None, base["status"]) or placed.cancelled, (what, deal["STAGE_ID"], base["status"])
        # A status is one some action set, and it went back only if an action moved it back (§2.11, §2.12).
        assert base["status"] in placed.statuses, (what, base["status"])
        level = _STATUS.level(base["status"]) or 0
        highest = max(_STATUS.level(s) or 0 for s in placed.statuses)
        assert placed.went_back() or level >= highest, (what, base["status"])
        # Nothing but a later action takes a status below the last one an action set.
        assert level >= (_STATUS.level(placed.statuses[-1]) or 0), (what, base["status"])
    if "payments" not in disputed and not placed.cancelled:
        # No fact went back: what was paid anywhere is paid everywhere.
        paid = (site["payment"]["paid"], str(invoice["STAGE_ID"]).endswith(":P"), _paid(base["payments"]))
        assert paid == (placed.paid,) * 3, (what, paid)
        assert onec["paid"] == placed.paid, (what, onec)
    if "lines" not in disputed:
        rows = [r for r in await day.portal("crm.productrow") if str(r.get("ownerId")) == str(deal["ID"])]
        quantities = sorted(
            float(r["quantity"]) for r in rows if r.get("ownerType") == "D" and r["productId"]
        )
        assert quantities == sorted(float(line["quantity"]) for line in base["lines"]), (what, rows, base)


class Lifecycle(RuleBasedStateMachine):
    """The machine; `machine(stack)` binds it to a running stack."""

    stack: StackThread
    #: Examples and steps run by every instance so far (the benchmark's table counts them).
    examples = 0
    steps = 0

    orders = Bundle("orders")

    def __init__(self) -> None:
        super().__init__()
        self.placed: list[Placed] = []

    def _run(self, work: Callable[[Activity], Awaitable[T]]) -> T:
        type(self).steps += 1
        return self.stack.run(work)

    @initialize(target=orders, paid=st.booleans())
    def first_order(self, paid: bool) -> Placed:
        return self._place(paid)

    @rule(target=orders, paid=st.booleans())
    def place(self, paid: bool) -> Placed:
        """A customer orders on the site, paying at once or not."""
        return self._place(paid)

    def _place(self, paid: bool) -> Placed:
        body = {
            "customer": {"name": "Покупатель", "email": "buyer@example.ru", "phone": "+7 900 000-00-01"},
            "items": [{"offer": self.stack.offer, "quantity": 1}],
            "delivery": {"service": "Курьер", "price": 300},
            "payment": {"system": "Банковская карта", "paid": paid},
        }
        made = self._run(lambda day: day.site("POST", "/orders", body))
        placed = Placed(int(made["id"]), str(made["number"]), paid=paid, edits=["paid" if paid else "placed"])
        self.placed.append(placed)
        return placed

    @rule(order=orders)
    def pay_on_site(self, order: Placed) -> None:
        """The customer pays on the site."""
        self._run(lambda day: day.site("PATCH", f"/orders/{order.site_id}", {"paid": True}))
        order.paid = True
        order.edits.append("site paid")

    @rule(order=orders, stages=st.lists(st.sampled_from(STAGES), min_size=1, max_size=3))
    def move_deal(self, order: Placed, stages: list[str]) -> None:
        """A manager moves the order's deal once obmen has made it, once or a few times a second apart."""

        async def move(day: Activity) -> None:
            deal = await _the_deal(day, order.number)
            for stage in stages:
                await day.b24("crm.deal.update", {"id": deal["ID"], "fields": {"STAGE_ID": stage}})
                await asyncio.sleep(1.0)

        self._run(move)
        for stage in stages:
            order.edits.append(f"stage {stage}")
            told = PipelineMap().reading(stage)
            if told is not None:
                order.set_status(told)

    @rule(order=orders, quantity=st.integers(1, 4))
    def edit_rows(self, order: Placed, quantity: int) -> None:
        """A manager changes the quantity of the deal's first row."""

        async def edit(day: Activity) -> bool:
            deal = await _the_deal(day, order.number)
            rows = [
                r
                for r in await day.portal("crm.productrow")
                if r.get("ownerType") == "D" and str(r.get("ownerId")) == str(deal["ID"])
            ]
            goods = [r for r in rows if not str(r.get("productName", "")).startswith("Доставка")]
            if not goods:
                return False
            await day.b24(
                "crm.item.productrow.update", {"id": goods[0]["id"], "fields": {"quantity": quantity}}
            )
            return True

        if self._run(edit):
            order.edits.append(f"rows x{quantity}")

    @rule(order=orders, edit=st.sampled_from(ONEC_EDITS))
    def edit_in_1c(self, order: Placed, edit: dict[str, Any]) -> None:
        """An accountant posts, ships, records a payment, sets a status or cancels the order in 1C."""

        async def apply(day: Activity) -> None:
            await _in_1c(day, order.number)
            await day.onec("PATCH", f"/orders/{order.number}", edit)

        self._run(apply)
        order.paid = order.paid or bool(edit.get("paid"))
        order.cancelled = order.cancelled or bool(edit.get("cancelled"))
        order.edits.append(f"1C {sorted(edit.items())}")
        if "status" in edit:
            order.set_status(str(edit["status"]))

    @rule()
    def onec_exchange(self) -> None:
        """1C runs its sale exchange: takes new documents, uploads its changed ones."""
        self._run(lambda day: day.onec("POST", "/exchange/sale"))

    @rule(order=orders, n=st.integers(2, 9))
    def edit_contact(self, order: Placed, n: int) -> None:
        """A manager adds a phone to the order's contact."""

        async def edit(day: Activity) -> None:
            deal = await _the_deal(day, order.number)
            if deal.get("CONTACT_ID"):
                phone = [{"VALUE": f"+7 900 000-00-{n:02d}", "VALUE_TYPE": "MOBILE"}]
                await day.b24("crm.contact.update", {"id": deal["CONTACT_ID"], "fields": {"PHONE": phone}})

        self._run(edit)

    @rule(drop=st.sampled_from([0.0, 0.5, 1.0]), duplicate=st.sampled_from([0.0, 1.0]))
    def portal_events(self, drop: float, duplicate: float) -> None:
        """The portal's events get lost or duplicated from now on (until the network heals)."""
        faults = {"events": {"drop": drop, "duplicate": duplicate}}
        self._run(lambda day: day.http.post(f"{day.stack.bitrix24}/_sandbox/faults", json=faults))

    @rule(seconds=st.sampled_from([0.0, 0.3, 1.0]))
    def pause(self, seconds: float) -> None:
        """Time passes: the site's exchange rounds and obmen's worker run meanwhile."""
        self._run(lambda _: asyncio.sleep(seconds))

    def teardown(self) -> None:
        """Quiesce, then hold every order of this example to the invariants."""
        placed = list(self.placed)
        type(self).examples += 1

        async def verify(day: Activity) -> None:
            await quiesce(day)
            await check(day, placed)

        self.stack.run(verify, timeout=300)


def machine(stack: StackThread) -> type[Lifecycle]:
    """The machine class bound to one running stack (hypothesis builds an instance per example)."""
    return type("LifecycleOnStack", (Lifecycle,), {"stack": stack, "steps": 0, "examples": 0})
