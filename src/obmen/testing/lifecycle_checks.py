"""What the lifecycle machine (`obmen.testing.lifecycle`) holds each order to, once the stack is quiet.

`Placed` is the machine's model of one order; `check` asserts the invariants (docs/architecture.md §2.11,
§2.12, §2.14): every system agrees with obmen's base field by field (or a conflict is recorded for the
field), no fact went back, each payment is paid where it was paid, the sums agree to the kopeck, nothing is
duplicated, and nothing waits or is parked but what an exchange refuses, saying why (a paid order's basket,
a restore of a cancelled order: docs/protocols/commerceml.md §2.7).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from obmen.config.mapping import MappingSettings, PipelineMap
from obmen.connectors.mirrored.connector import RESTORE
from obmen.connectors.site.connector import LOCKED
from obmen.demo.activity import Activity
from obmen.demo.stack import Tuning
from obmen.engine.policy import Policy

__all__ = ["ODATA_STATUSES", "TUNING", "Placed", "check", "deal_of", "onec_order", "onec_round", "quiesce"]

#: The status order the field policy moves statuses along (docs/architecture.md §2.11).
_STATUS = Policy.build().rule("order", "status")
#: The stack as the tests run it: the portal's changes by its events, a scan every few seconds.
TUNING = Tuning(b24_poll_every=3, site_poll=0.5)


@dataclass
class Placed:
    """One order of this example, and what the example did to it (the model the checks hold it to)."""

    site_id: int
    number: str
    #: Each payment's being paid, in the order the site placed them (one, or a part and the rest).
    payments: list[bool] = field(default_factory=lambda: [False])
    cancelled: bool = False
    edits: list[str] = field(default_factory=list)
    #: The statuses the example's actions set, in order (a new order is `N`).
    statuses: list[str] = field(default_factory=lambda: ["N"])
    #: Those of them obmen is sure to see: a stage a manager moved a deal on from a second later may go
    #: unseen, since obmen reads the deal as it is when it gets to it (level-triggered, §2.1).
    sure: list[str] = field(default_factory=lambda: ["N"])
    #: The statuses set for a moment since the last sure one.
    maybe: list[str] = field(default_factory=list)

    @property
    def paid(self) -> bool:
        """Paid in full: every payment is paid."""
        return all(self.payments)

    def pay_all(self) -> None:
        """Every payment paid (the site's or 1C's payment of the whole order)."""
        self.payments = [True] * len(self.payments)

    def set_status(self, status: str) -> None:
        """An action that says the order's status."""
        self.statuses.append(status)
        self.sure.append(status)
        self.maybe = []

    def may_set_status(self, status: str) -> None:
        """An action that says the order's status, for a moment obmen may not see."""
        self.statuses.append(status)
        self.maybe.append(status)

    def floor(self) -> int:
        """The lowest status level obmen may end at: the last sure one, or one set for a moment after it."""
        return min(_STATUS.level(s) or 0 for s in [self.sure[-1], *self.maybe])

    def went_back(self) -> bool:
        """Whether some action set a status lower than one set before it (a manager moved it back)."""
        levels = [_STATUS.level(s) or 0 for s in self.statuses]
        return any(level < max(levels[:i]) for i, level in enumerate(levels) if i)


async def deal_of(day: Activity, number: str) -> dict[str, Any] | None:
    deals = [d for d in await day.portal("crm.deal") if str(d.get("TITLE")) == f"Заказ №{number}"]
    return deals[0] if deals else None


#: УТ 11's order statuses through OData, read as the site's codes (`[mapping.onec_odata_statuses]`).
ODATA_STATUSES = MappingSettings().onec_odata_statuses


async def onec_order(day: Activity, number: str) -> dict[str, Any] | None:
    """1C's order of this number; through OData its status in the site's codes, and cancelled by its
    deletion mark (docs/protocols/onec.md §A1.9)."""
    orders = await day.onec("GET", "/orders")
    items = orders["orders"] if isinstance(orders, dict) else orders
    found = next((o for o in items if str(o.get("number")) == number), None)
    if found is not None and day.odata:
        status = ODATA_STATUSES.get(found.get("status"), found.get("status"))
        found = {**found, "status": status, "cancelled": bool(found.get("deleted"))}
    return found


async def onec_round(day: Activity) -> None:
    """1C's sale exchange, where 1C talks through it (through OData obmen reads 1C itself)."""
    if not day.odata:
        await day.onec("POST", "/exchange/sale")


async def quiesce(day: Activity) -> None:
    """The network heals; 1C and the site exchange a few more times; obmen's queue empties."""
    faults = f"{day.stack.bitrix24}/_sandbox/faults"
    await day.http.post(faults, json={"events": {"drop": 0.0, "duplicate": 0.0}})
    await asyncio.sleep(TUNING.b24_poll_every + 0.5)  # a scan finds what lost events did not say
    for _ in range(3):
        await day.settled()
        await onec_round(day)
        await day.settled()
        await asyncio.sleep(1.0)  # a site round or two
    await day.settled()


def _paid(payments: Any) -> bool:
    return bool(payments) and all(p.get("paid") for p in payments)


async def check(day: Activity, orders: list[Placed]) -> None:
    """The invariants after quiescence, for the orders of one example and for the whole stack."""
    status = await day.obmen_status()
    assert status["depth"] == 0, status["queue"]
    # Parked only what an exchange refuses, saying why: a basket the site keeps, a cancelled order it
    # cannot restore (commerceml.md §2.7).
    items = status["parked"]["items"]
    refused = {p["canonical_id"] for p in items if LOCKED in str(p["reason"])}
    kept = {p["canonical_id"] for p in items if RESTORE in str(p["reason"])}
    assert len(refused | kept) == status["parked"]["total"], status["parked"]
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
        await _check_order(day, placed, status, refused, kept)


async def _check_order(
    day: Activity, placed: Placed, status: dict[str, Any], refused: set[str], kept: set[str]
) -> None:
    what = f"order №{placed.number} after {placed.edits}"
    timeline = await day.timeline("order", f"site:{placed.site_id}")
    base = timeline.get("base")
    assert base is not None, f"{what}: obmen has no base"
    disputed = {
        c["field"] for c in status["conflicts"]["items"] if c["canonical_id"] == timeline["canonical_id"]
    }
    site_kept = timeline["canonical_id"] in refused  # the site kept its basket, and obmen said so
    site = await day.site("GET", f"/orders/{placed.site_id}")
    deal = await deal_of(day, placed.number)
    assert deal is not None, f"{what}: no deal"
    invoice = await day.invoice_of(deal["ID"])
    assert invoice is not None, f"{what}: no invoice"
    onec = await onec_order(day, placed.number)
    assert onec is not None, f"{what}: not in 1C"
    if timeline["canonical_id"] in kept:
        # Restored in the CRM after 1C cancelled it: 1C keeps it cancelled, and obmen, holding the
        # restore for a person, said so (§2.7).
        assert placed.cancelled, what
        assert onec["cancelled"], (what, onec)
        assert not PipelineMap().cancels(str(deal["STAGE_ID"])), (what, deal["STAGE_ID"])
        return
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
        highest = max(_STATUS.level(s) or 0 for s in placed.sure)
        assert placed.went_back() or level >= highest, (what, base["status"])
        # Nothing but a later action takes a status below the last one an action set.
        assert level >= placed.floor(), (what, base["status"])
    # An order whose new basket the site refused (it was paid meanwhile) is held for a person: its base is
    # the last agreement, the paid payment keeps its sum (a fact), so the CRM's invoice is the paid part;
    # the deal and 1C, which took the new basket, are held to agree with each other.
    held = base
    if site_kept:
        goods = [line for line in onec["lines"] if line["offer"] != "ORDER_DELIVERY"]
        paid_in_1c = [{"paid": onec["paid"]} for _ in placed.payments]
        held = {**base, "payments": onec["payments"] or paid_in_1c, "lines": goods}
    if "payments" not in disputed and not placed.cancelled:
        # No fact went back: what was paid anywhere is paid everywhere.
        paid = (site["payment"]["paid"], str(invoice["STAGE_ID"]).endswith(":P"), _paid(held["payments"]))
        assert paid == (placed.paid,) * 3, (what, paid)
        assert onec["paid"] == placed.paid, (what, onec)
        # Each payment keeps its own state: the site's and obmen's, payment by payment.
        each = ([p["paid"] for p in site["payments"]], [bool(p.get("paid")) for p in held["payments"]])
        assert each == (placed.payments, placed.payments), (what, each)
    if not disputed & {"lines", "total", "delivery"}:
        # To the kopeck: the site's total, obmen's, the deal's sum, its invoice's and 1C's.
        sums = {"deal": deal["OPPORTUNITY"], "1C": onec["total"]}
        if not site_kept:
            sums |= {"site": site["total"], "invoice": invoice["OPPORTUNITY"]}
            sums["base"] = base["total"]["amount"]
        kopecks = {name: Decimal(str(value)).quantize(Decimal("0.01")) for name, value in sums.items()}
        assert len(set(kopecks.values())) == 1, (what, kopecks)
    if "lines" not in disputed:
        rows = [r for r in await day.portal("crm.productrow") if str(r.get("ownerId")) == str(deal["ID"])]
        quantities = sorted(
            float(r["quantity"]) for r in rows if r.get("ownerType") == "D" and r["productId"]
        )
        assert quantities == sorted(float(line["quantity"]) for line in held["lines"]), (what, rows, held)
