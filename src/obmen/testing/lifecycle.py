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
from pathlib import Path
from typing import Any, TypeVar

import httpx
from hypothesis import strategies as st
from hypothesis.stateful import Bundle, RuleBasedStateMachine, initialize, rule

from obmen.config.mapping import PipelineMap
from obmen.demo.activity import Activity, _first_offer
from obmen.demo.stack import Tuning, running_stack
from obmen.testing.lifecycle_checks import (
    ODATA_STATUSES,
    TUNING,
    Placed,
    check,
    deal_of,
    onec_order,
    onec_round,
    quiesce,
)

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
Vat = tuple[int, bool] | None
#: A line's VAT: none, 20 % included in its price, 20 % on top of it.
VATS: tuple[Vat, ...] = (None, (20, True), (20, False))


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


async def _the_deal(day: Activity, number: str) -> dict[str, Any]:
    """The order's deal, once obmen has made it (a manager can only move what she sees)."""
    return await day.until(
        "lifecycle", f"deal of order №{number}", lambda: deal_of(day, number), time.monotonic()
    )


async def _in_1c(day: Activity, number: str) -> dict[str, Any]:
    """The order in 1C, running 1C's sale exchanges until it has taken it (an accountant works in 1C)."""
    found = await onec_order(day, number)
    return found if found is not None else await day.sale_exchange(number, flow="lifecycle")


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

    @initialize(target=orders, paid=st.booleans(), split=st.booleans(), vat=st.sampled_from(VATS))
    def first_order(self, paid: bool, split: bool, vat: Vat) -> Placed:
        return self._place(paid, split, vat, None)

    @rule(
        target=orders,
        paid=st.booleans(),
        split=st.booleans(),
        vat=st.sampled_from(VATS),
        coupon=st.sampled_from([None, "123.45"]),
    )
    def place(self, paid: bool, split: bool, vat: Vat, coupon: str | None) -> Placed:
        """A customer orders on the site, paying at once or not, in one payment or a part online and the
        rest on delivery, VAT none, included in the price or on top of it, with a coupon for the whole
        order or without."""
        return self._place(paid, split, vat, coupon)

    def _place(self, paid: bool, split: bool, vat: Vat, coupon: str | None) -> Placed:
        line: dict[str, Any] = {"offer": self.stack.offer, "quantity": 1, "price": "1999.99"}
        if vat is not None:
            line |= {"vat_rate": vat[0], "vat_included": vat[1]}
        body: dict[str, Any] = {
            "customer": {"name": "Покупатель", "email": "buyer@example.ru", "phone": "+7 900 000-00-01"},
            "items": [line],
            "delivery": {"service": "Курьер", "price": 300},
            **({"discount": coupon} if coupon else {}),
        }
        if split:
            body["payments"] = [
                {"system": "Банковская карта", "sum": "500", "paid": paid},
                {"system": "Наличные курьеру", "paid": False},
            ]
        else:
            body["payment"] = {"system": "Банковская карта", "paid": paid}
        made = self._run(lambda day: day.site("POST", "/orders", body))
        payments = [paid, False] if split else [paid]
        how = f"{'split ' if split else ''}{'part paid' if paid else 'unpaid'}"
        edits = [f"placed {how}, VAT {vat}, coupon {coupon}"]
        placed = Placed(int(made["id"]), str(made["number"]), payments=payments, edits=edits)
        self.placed.append(placed)
        return placed

    @rule(order=orders)
    def pay_on_site(self, order: Placed) -> None:
        """The customer pays on the site: every payment."""
        self._run(lambda day: day.site("PATCH", f"/orders/{order.site_id}", {"paid": True}))
        order.pay_all()
        order.edits.append("site paid")

    @rule(order=orders)
    def pay_part_on_site(self, order: Placed) -> None:
        """The customer pays the first payment still due on the site (the courier's cash, say)."""
        due = next((n for n, paid in enumerate(order.payments) if not paid), None)
        if due is None:
            return

        async def pay(day: Activity) -> None:
            held = (await day.site("GET", f"/orders/{order.site_id}"))["payments"]
            patch = {"payments": [{"id": held[due]["id"], "paid": True}]}
            await day.site("PATCH", f"/orders/{order.site_id}", patch)

        self._run(pay)
        order.payments[due] = True
        order.edits.append(f"site paid payment {due + 1}")

    @rule(order=orders, stages=st.lists(st.sampled_from(STAGES), min_size=1, max_size=3))
    def move_deal(self, order: Placed, stages: list[str]) -> None:
        """A manager moves the order's deal once obmen has made it, once or a few times a second apart."""

        async def move(day: Activity) -> None:
            deal = await _the_deal(day, order.number)
            for stage in stages:
                await day.b24("crm.deal.update", {"id": deal["ID"], "fields": {"STAGE_ID": stage}})
                await asyncio.sleep(1.0)

        self._run(move)
        for n, stage in enumerate(stages, 1):
            order.edits.append(f"stage {stage}")
            told = PipelineMap().reading(stage)
            if told is not None and n == len(stages):
                order.set_status(told)
            elif told is not None:
                order.may_set_status(told)  # moved on from a second later: obmen may read only the next

    @rule(order=orders, quantity=st.integers(1, 4))
    def edit_rows(self, order: Placed, quantity: int) -> None:
        """A manager changes the quantity of the deal's first row of an order nothing is paid of yet.

        A paid payment keeps its sum (a fact, docs/architecture.md §2.11), so recounting a paid order asks
        for a refund or a further payment: a decision of the shop's, not a case the machine models.
        """
        if any(order.payments):
            return

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
            body = dict(edit)
            if day.odata and "status" in body:  # УТ 11's own status, as its accountant picks it
                body["status"] = next(n for n, code in ODATA_STATUSES.items() if code == body["status"])
            if day.odata and "cancelled" in body:  # through OData a cancelled order is marked for deletion
                body["deleted"] = body.pop("cancelled")
            if day.odata and body.pop("paid", False):
                await _receipts(day, order.number)
            if body:
                await day.onec("PATCH", f"/orders/{order.number}", body)

        self._run(apply)
        if edit.get("paid"):
            order.pay_all()  # 1C's `Оплачен` pays the order in full
        order.cancelled = order.cancelled or bool(edit.get("cancelled"))
        order.edits.append(f"1C {sorted(edit.items())}")
        if "status" in edit:
            order.set_status(str(edit["status"]))

    @rule()
    def onec_exchange(self) -> None:
        """1C runs its sale exchange: takes new documents, uploads its changed ones (through OData obmen
        reads and writes 1C itself: nothing to run)."""
        self._run(onec_round)

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


async def _receipts(day: Activity, number: str) -> None:
    """Through OData 1C's accountant pays an order in full by posting a receipt for each payment due."""
    for _ in range(3):
        try:
            await day.onec("POST", "/odata/payments", {"order": number})
        except RuntimeError as exc:
            if "nothing left to pay" in str(exc):
                return
            raise


def machine(stack: StackThread) -> type[Lifecycle]:
    """The machine class bound to one running stack (hypothesis builds an instance per example)."""
    return type("LifecycleOnStack", (Lifecycle,), {"stack": stack, "steps": 0, "examples": 0})
