"""An order's sums follow its lines when an edit changed the lines and no one the sums.

See docs/architecture.md §4. A manager who recounts a deal's rows in the CRM changes the lines; the
deal's sum, set by hand by obmen (`isManualOpportunity`), stays. Left alone, the merge would agree on
the new lines with the old total, and 1C and the site would be written a basket that does not add up.
So when the merged lines (or delivery) differ from the base's while the merged total is the base's,
the total moves by what the lines moved (a delta, so a total that never equalled its lines' sum keeps
its difference), and so does the one unpaid payment of payments that added up to the order (the whole
order's, or the rest due on delivery after a part paid online) while it stays above zero. A paid payment
is a fact (§2.11) and keeps its amount. This module is pure: no I/O, no clock.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal, InvalidOperation
from typing import Any

from obmen.model.fields import decimal_text
from obmen.model.payments import amount_of
from obmen.model.totals import line_fields_amount

__all__ = ["follow_lines"]


def _amount(money: Any) -> Decimal | None:
    if not isinstance(money, Mapping):
        return None
    try:
        return Decimal(str(money.get("amount")))
    except InvalidOperation:
        return None


def _sum(lines: Any, delivery: Any) -> Decimal | None:
    """What the lines and the delivery add up to; None when one is not a sum of money."""
    total = Decimal(0)
    for line in lines or ():
        amount = line_fields_amount(line)
        if amount is None:
            return None
        total += amount
    if isinstance(delivery, Mapping):
        price = _amount(delivery.get("price"))
        total += price or Decimal(0)
    return total


def _moved(money: Mapping[str, Any], by: Decimal) -> dict[str, Any]:
    return {**money, "amount": decimal_text(Decimal(str(money["amount"])) + by)}


def follow_lines(base: Mapping[str, Any] | None, target: dict[str, Any]) -> list[str]:
    """Move `target`'s total (and its one unpaid payment) by what its lines moved; the fields it changed."""
    if base is None or not isinstance(target.get("total"), Mapping) or target["total"] != base.get("total"):
        return []
    if (target.get("lines"), target.get("delivery")) == (base.get("lines"), base.get("delivery")):
        return []
    before = _sum(base.get("lines"), base.get("delivery"))
    after = _sum(target.get("lines"), target.get("delivery"))
    if before is None or after is None or before == after:
        return []
    by = after - before
    changed = ["total"]
    old_total = target["total"]
    target["total"] = _moved(old_total, by)
    payments: Sequence[Any] = target.get("payments") or ()
    if payments != base.get("payments") or not all(isinstance(p, Mapping) for p in payments):
        return changed
    unpaid = [i for i, p in enumerate(payments) if not p.get("paid")]
    whole = sum((amount_of(p) for p in payments), Decimal(0)) == _amount(old_total)
    if len(unpaid) == 1 and whole and amount_of(payments[unpaid[0]]) + by > 0:
        moved = [dict(p) for p in payments]
        moved[unpaid[0]]["amount"] = _moved(payments[unpaid[0]]["amount"], by)
        target["payments"] = moved
        changed.append("payments")
    return changed
