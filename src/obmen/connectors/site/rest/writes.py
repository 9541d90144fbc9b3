"""An order update → the REST calls that make the site show it (docs/protocols/site-rest.md §6.3).

Pure planning: `plan_order` compares the wanted canonical fields with what the site holds now and lists
the calls, and what the REST cannot change (it is refused with the reason, never dropped in silence).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from obmen.connectors.base import WriteOp
from obmen.connectors.site.rest.mapping import real_shipments
from obmen.errors import PermanentError
from obmen.model.payments import match
from obmen.model.totals import line_fields_amount

__all__ = ["READ_ONLY", "Plan", "amount", "line_sum", "plan_order", "refused"]

log = logging.getLogger(__name__)
Call = tuple[str, dict[str, Any]]
#: Order fields the site's REST keeps as the storefront made them (§6.3); `lines` and `total` change only
#: as far as `_basket` can write them.
READ_ONLY = ("number", "date", "site", "delivery", "customer")
#: What a basket item's update can change in a line (§3.5); anything else of a line is the storefront's
#: (the discount follows the quantity: the site keeps it per unit).
_LINE_WRITABLE = ("quantity", "price", "discount")
#: The order's facts a write compares with what the merge read (`_moved`).
_FACTS = ("status", "cancelled", "payments")


@dataclass
class Plan:
    """The calls of one order's update and, if some fields cannot be written, why."""

    calls: list[Call] = field(default_factory=list)
    refused: str | None = None


def refused(op: WriteOp) -> PermanentError:
    """Why a write the REST path does not make is refused."""
    kind = type(op).__name__.lower()
    return PermanentError(
        f"the site's REST path cannot {kind} a {op.entity}: the site's buyers are its users, kept in "
        "their orders (docs/protocols/site-rest.md §6.3)"
    )


def _numbers(value: Any) -> dict[str, str]:
    return {str(p[0]): str(p[1]) for p in value or () if isinstance(p, list | tuple) and len(p) == 2}


def _yn(flag: Any) -> str:
    return "Y" if flag else "N"


def plan_order(
    wanted: Mapping[str, Any], now: Mapping[str, Any], read: Mapping[str, Any] | None = None
) -> Plan:
    """The calls for `wanted` (canonical fields) on an order the site holds as `now`.

    `now` is `{"order", "payments", "shipments", "fields"}`: the REST rows and their canonical fields;
    `read` what the order showed of `wanted`'s fields when the merge read it (`Update.read`).
    """
    plan = Plan()
    have: Mapping[str, Any] = now["fields"]
    if late := _moved(have, read) & wanted.keys():
        log.info("site order %s: %s changed since it was read; next round's", now["order"]["id"], late)
        wanted = {k: v for k, v in wanted.items() if k not in late}
    order: Mapping[str, Any] = now["order"]
    problems = [k for k in READ_ONLY if k in wanted and wanted[k] != have.get(k)]
    basket = _basket(plan, wanted, now)
    problems += basket
    fields: dict[str, Any] = {}
    if "status" in wanted and wanted["status"] != have.get("status"):
        fields["statusId"] = wanted["status"]
    if "cancelled" in wanted and bool(wanted["cancelled"]) != bool(have.get("cancelled")):
        fields["canceled"] = _yn(wanted["cancelled"])
    if "comment" in wanted and (wanted["comment"] or None) != have.get("comment"):
        # The comment reads as the buyer's (`userDescription`) when there is one, else the manager's.
        fields["userDescription" if order.get("userDescription") else "comments"] = wanted["comment"] or ""
    numbers = _numbers(wanted.get("external_numbers")) if "external_numbers" in wanted else None
    held = _numbers(have.get("external_numbers"))
    if numbers is not None:
        if numbers.get("site", held.get("site")) != held.get("site"):
            problems.append("external_numbers.site")
        if numbers.get("onec", "") != held.get("onec", ""):
            fields["id1c"] = numbers.get("onec", "")
    if fields:
        plan.calls.append(("sale.order.update", {"id": int(order["id"]), "fields": fields}))
    problems += _payments(plan, wanted, now, numbers, held, resum=not basket)
    problems += _shipment(plan, now, numbers, held)
    if problems:
        plan.refused = (
            f"the site's REST cannot change {', '.join(problems)} of order {order['id']}; keep them with "
            f'`[field_policy] "order.<field>" = "owner:site"` (docs/protocols/site-rest.md §6.3)'
        )
    return plan


def _moved(have: Mapping[str, Any], read: Mapping[str, Any] | None) -> set[str]:
    """The order's facts the site changed since obmen read it: not written over with what the merge
    decided from the older reading; the site's change is the next round's news (its event is on its way,
    the short poll behind it; docs/architecture.md §2.11)."""
    if read is None:
        return set()
    return {k for k in _FACTS if k in read and _level(k, have.get(k)) != _level(k, read[k])}


def _level(name: str, value: Any) -> Any:
    if name == "payments":
        return [(bool(p.get("paid")), p.get("amount")) for p in value or ()]
    return bool(value) if name == "cancelled" else value


def _offer(line: Mapping[str, Any]) -> str:
    ref = line.get("offer")
    return str(ref.get("id")) if isinstance(ref, Mapping) else ""


def amount(value: Any) -> Decimal:
    """The amount of a canonical money value (`{"amount", "currency"}`), 0 for none."""
    return Decimal(str(value["amount"])) if isinstance(value, Mapping) else Decimal(0)


def line_sum(lines: Sequence[Mapping[str, Any]]) -> Decimal:
    """What canonical order lines sum to: price × quantity, VAT on top added (model/totals.py)."""
    return sum((line_fields_amount(line) or Decimal(0) for line in lines), Decimal(0))


def _same_unit(want: Mapping[str, Any], old: Mapping[str, Any]) -> bool:
    """The wanted line keeps the site's discount per unit (the site sums it by the new quantity)."""
    qty_old, qty_new = Decimal(str(old.get("quantity"))), Decimal(str(want.get("quantity")))
    if not qty_old or not qty_new:
        return False
    unit = amount(old.get("discount")) / qty_old
    return bool(abs(unit * qty_new - amount(want.get("discount"))) < Decimal("0.005"))


def _basket(plan: Plan, wanted: Mapping[str, Any], now: Mapping[str, Any]) -> list[str]:
    """A line's quantity or price → `sale.basketitem.update`; lines added or removed stay refused.

    The site sums its order from the basket and the delivery, so a wanted total is written only as what
    the basket will sum to (§6.3).
    """
    have: Mapping[str, Any] = now["fields"]
    lines = list(wanted["lines"] if "lines" in wanted else have.get("lines") or [])
    problems: list[str] = []
    if "lines" in wanted and lines != have.get("lines"):
        held, rows = list(have.get("lines") or []), list(now["basket"])
        if [_offer(x) for x in lines] != [_offer(x) for x in held] or not all(_offer(x) for x in lines):
            return ["lines (a line added, removed or replaced)"]
        for row, want, old in zip(rows, lines, held, strict=True):
            other = any(want.get(k) != old.get(k) for k in want if k not in _LINE_WRITABLE)
            if other or not _same_unit(want, old):
                problems.append("lines (a line's name, VAT or discount per unit)")
                continue
            fields: dict[str, Any] = {}
            if want.get("quantity") != old.get("quantity"):
                fields["quantity"] = str(want["quantity"])
            if want.get("price") != old.get("price"):
                # A custom price holds the price given; without it the site reprices from its catalog.
                fields |= {"price": str(amount(want["price"])), "customPrice": "Y"}
            if fields:
                plan.calls.append(("sale.basketitem.update", {"id": int(row["id"]), "fields": fields}))
    if "total" in wanted and wanted["total"] != have.get("total"):
        delivery = wanted.get("delivery", have.get("delivery")) or {}
        summed = line_sum(lines) + (amount(delivery.get("price")) if isinstance(delivery, Mapping) else 0)
        if amount(wanted["total"]) != summed:
            problems.append("total (other than the basket's sum)")
    return problems


def _payments(
    plan: Plan,
    wanted: Mapping[str, Any],
    now: Mapping[str, Any],
    numbers: Mapping[str, str] | None,
    held: Mapping[str, str],
    resum: bool,
) -> list[str]:
    """`resum`: the basket is written whole, so an unpaid payment may follow its new sum."""
    rows: Sequence[Mapping[str, Any]] = now["payments"]
    changes: dict[int, dict[str, Any]] = {}
    problems: list[str] = []
    if "payments" in wanted and wanted["payments"] != now["fields"].get("payments"):
        target = list(wanted["payments"] or [])
        current = list(now["fields"].get("payments") or [])
        # Each payment is written by its own id: the same payment by (system, amount), in order.
        pairs = match(target, current)
        whole = [(i, j) for i, j in pairs if i is not None and j is not None]
        if len(whole) != len(pairs):
            return ["payments (how many, or a payment's system)"]
        for i, j in whole:
            row, want, have = rows[j], target[i], current[j]
            if want.get("amount") != have.get("amount"):
                # An unpaid payment is what the buyer is yet to pay: it follows an edited basket. A paid
                # one is a fact (docs/architecture.md §2.11) and keeps its sum.
                if have.get("paid") or not resum:
                    problems.append("payments (the amount of a paid payment, or of a basket not written)")
                else:
                    changes.setdefault(int(row["id"]), {})["sum"] = str(amount(want.get("amount")))
            if bool(want.get("paid")) != bool(have.get("paid")):
                change = {"paid": _yn(want.get("paid"))}
                # A payment date is the site's fact, stamped when it is paid; one given is passed on.
                if want.get("paid") and want.get("paid_at"):
                    change["datePaid"] = want["paid_at"]
                changes.setdefault(int(row["id"]), {}).update(change)
    if numbers is not None and numbers.get("onec_payment", "") != held.get("onec_payment", ""):
        if not rows:
            problems.append("external_numbers.onec_payment (the order has no payment)")
        else:
            changes.setdefault(int(rows[0]["id"]), {})["payVoucherNum"] = numbers.get("onec_payment", "")
    by_id = {int(r["id"]): r for r in rows}
    for payment_id, change in changes.items():
        # `paySystemId` is required by `sale.payment.update` (§3.3).
        fields = {"paySystemId": by_id[payment_id]["paySystemId"], **change}
        plan.calls.append(("sale.payment.update", {"id": payment_id, "fields": fields}))
    return problems


def _shipment(
    plan: Plan, now: Mapping[str, Any], numbers: Mapping[str, str] | None, held: Mapping[str, str]
) -> list[str]:
    if numbers is None or numbers.get("onec_shipment", "") == held.get("onec_shipment", ""):
        return []
    rows = real_shipments(now["shipments"])
    if not rows:
        return ["external_numbers.onec_shipment (the order has no shipment)"]
    row = rows[0]
    document = numbers.get("onec_shipment", "")
    # 1C's shipment document means the goods left: shipped and allowed, as the exchange does (§6.3).
    fields = {
        "allowDelivery": "Y" if document else row.get("allowDelivery", "N"),
        "deducted": "Y" if document else row.get("deducted", "N"),
        "deliveryId": row["deliveryId"],
        "deliveryDocNum": document,
    }
    plan.calls.append(("sale.shipment.update", {"id": int(row["id"]), "fields": fields}))
    return []
