"""An order update → the REST calls that make the site show it (docs/protocols/site-rest.md §6.3).

Pure planning: `plan_order` compares the wanted canonical fields with what the site holds now and lists
the calls, and what the REST cannot change (it is refused with the reason, never dropped in silence).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from obmen.connectors.base import WriteOp
from obmen.connectors.site.rest.mapping import real_shipments
from obmen.errors import PermanentError

__all__ = ["READ_ONLY", "Plan", "plan_order", "refused"]

Call = tuple[str, dict[str, Any]]
#: Order fields the site's REST keeps as the storefront made them (§6.3).
READ_ONLY = ("number", "date", "site", "lines", "delivery", "total", "customer")


@dataclass
class Plan:
    """The calls of one order's update and, if some fields cannot be written, why."""

    calls: list[Call] = field(default_factory=list)
    refused: str | None = None


def refused(op: WriteOp) -> PermanentError:
    """Why a write the REST path does not make is refused."""
    kind = type(op).__name__.lower()
    return PermanentError(
        f"the site's REST path cannot {kind} a {op.entity}: orders and buyers are born on the site, and "
        "the site's buyers are kept in its orders (docs/protocols/site-rest.md §6.3)"
    )


def _numbers(value: Any) -> dict[str, str]:
    return {str(p[0]): str(p[1]) for p in value or () if isinstance(p, list | tuple) and len(p) == 2}


def _yn(flag: Any) -> str:
    return "Y" if flag else "N"


def plan_order(wanted: Mapping[str, Any], now: Mapping[str, Any]) -> Plan:
    """The calls for `wanted` (canonical fields) on an order the site holds as `now`.

    `now` is `{"order", "payments", "shipments", "fields"}`: the REST rows and their canonical fields.
    """
    plan = Plan()
    have: Mapping[str, Any] = now["fields"]
    order: Mapping[str, Any] = now["order"]
    problems = [k for k in READ_ONLY if k in wanted and wanted[k] != have.get(k)]
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
    problems += _payments(plan, wanted, now, numbers, held)
    problems += _shipment(plan, now, numbers, held)
    if problems:
        plan.refused = (
            f"the site's REST cannot change {', '.join(problems)} of order {order['id']}; keep them with "
            f'`[field_policy] "order.<field>" = "owner:site"` (docs/protocols/site-rest.md §6.3)'
        )
    return plan


def _payments(
    plan: Plan,
    wanted: Mapping[str, Any],
    now: Mapping[str, Any],
    numbers: Mapping[str, str] | None,
    held: Mapping[str, str],
) -> list[str]:
    rows: Sequence[Mapping[str, Any]] = now["payments"]
    changes: dict[int, dict[str, Any]] = {}
    problems: list[str] = []
    if "payments" in wanted and wanted["payments"] != now["fields"].get("payments"):
        target = list(wanted["payments"] or [])
        current = list(now["fields"].get("payments") or [])
        if len(target) != len(current):
            return ["payments (how many)"]
        for row, want, have in zip(rows, target, current, strict=True):
            if (want.get("system"), want.get("amount")) != (have.get("system"), have.get("amount")):
                problems.append("payments (system or amount)")
            elif bool(want.get("paid")) != bool(have.get("paid")):
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
