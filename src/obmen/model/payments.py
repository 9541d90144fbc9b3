"""An order's payments taken together, as canonical field maps (`{"system", "amount", "paid", "paid_at"}`).

One place for three rules every system's mapping needs (docs/architecture.md §2.11):

- *paid in full*: every payment is paid and the paid ones cover the order's total; an order with a part
  paid online and the rest due on delivery is not paid until the second is;
- *matching*: a payment is the same payment on both sides when its system and amount agree, taken in
  order (the first online payment of 700 is the first such payment there); one left over on both sides
  with the same system is that payment with a new amount (an unpaid one follows an edited basket);
- *unfolding*: a system that keeps only one flag for the whole order (a 1C document's `Оплачен`, a smart
  invoice's paid stage) shows the payments held as it says: paid pays them all; unpaid after all were
  paid pays none (a refund, for the fact rule to judge); unpaid while some are not says nothing new;
- *cash*: a payment is paid in cash when its system, or the 1C payment kind `[mapping] payment_systems`
  gives it, is named «Наличные…» (1C writes a cash receipt for it, a bank receipt for any other).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal, InvalidOperation
from typing import Any

__all__ = ["amount_of", "is_cash", "match", "paid_in_full", "paid_sum", "unfold"]

Payment = Mapping[str, Any]


def amount_of(payment: Payment) -> Decimal:
    """A payment's amount (`{"amount": "700", "currency": …}`), 0 when it has none."""
    money = payment.get("amount")
    raw = money.get("amount") if isinstance(money, Mapping) else money
    try:
        return Decimal(str(raw if raw not in (None, "") else 0))
    except InvalidOperation:
        return Decimal(0)


def is_cash(payment: Payment, kinds: Mapping[str, str] | None = None) -> bool:
    """Whether a payment is paid in cash: its system or its 1C payment kind (`kinds`) says «наличные»."""
    system = str(payment.get("system") or "")
    kind = (kinds or {}).get(system, system)
    return any(name.strip().casefold().startswith("налич") for name in (system, kind))


def paid_sum(payments: Sequence[Payment]) -> Decimal:
    """The sum of the paid payments."""
    return sum((amount_of(p) for p in payments if p.get("paid")), Decimal(0))


def paid_in_full(payments: Sequence[Payment], total: Decimal | None = None) -> bool:
    """Every payment paid (and, with `total`, the paid ones cover it); no payments is not paid."""
    if not payments or not all(p.get("paid") for p in payments):
        return False
    return total is None or paid_sum(payments) >= total


def _key(payment: Payment) -> tuple[str, Decimal]:
    return str(payment.get("system") or ""), amount_of(payment)


def match(wanted: Sequence[Payment], held: Sequence[Payment]) -> list[tuple[int | None, int | None]]:
    """Pairs (wanted index, held index) of the same payments, order-stably; None on one side: a payment
    only the other side has. Equal (system, amount) pair first, then leftovers of the same system."""
    free = list(range(len(held)))
    pairs: dict[int, int] = {}
    for passes in (_key, lambda p: _key(p)[0]):
        for i, payment in enumerate(wanted):
            if i in pairs:
                continue
            j = next((j for j in free if passes(held[j]) == passes(payment)), None)
            if j is not None:
                pairs[i] = j
                free.remove(j)
    out: list[tuple[int | None, int | None]] = [(i, pairs.get(i)) for i in range(len(wanted))]
    out += [(None, j) for j in free]
    return out


def unfold(held: Sequence[Payment], paid: bool, paid_at: Any = None) -> list[dict[str, Any]]:
    """The payments held, as a system that keeps one paid flag for the whole order shows them."""
    kept = [bool(p.get("paid")) for p in held]
    states = [True] * len(held) if paid else ([False] * len(held) if all(kept) else kept)
    return [
        {
            **p,
            "paid": state,
            # A payment paid just now takes the date the flag came with; one taken back has none.
            "paid_at": (p.get("paid_at") or paid_at) if state else (None if was else p.get("paid_at")),
        }
        for p, state, was in zip(held, states, kept, strict=True)
    ]
