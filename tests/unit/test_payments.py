"""Several payments of one order: paid in full, matching and unfolding (obmen.model.payments)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from obmen.engine.merge import Side, merge
from obmen.engine.policy import Policy
from obmen.model.payments import match, paid_in_full, paid_sum, unfold


def pay(system: str, amount: str, paid: bool = False, at: str | None = None) -> dict[str, Any]:
    return {"system": system, "amount": {"amount": amount, "currency": "RUB"}, "paid": paid, "paid_at": at}


_PAYMENT = st.builds(
    pay,
    st.sampled_from(["card", "cash", "invoice"]),
    st.sampled_from(["100", "250.50", "700", "1200"]),
    st.booleans(),
)
_PAYMENTS = st.lists(_PAYMENT, max_size=5)


def test_an_order_is_paid_only_in_full() -> None:
    online, on_delivery = pay("card", "700", True), pay("cash", "500")
    assert not paid_in_full([online, on_delivery], Decimal(1200))
    assert paid_in_full([online, {**on_delivery, "paid": True}], Decimal(1200))
    assert not paid_in_full([online], Decimal(1200))  # paid, but not the whole sum
    assert not paid_in_full([])


@given(_PAYMENTS)
def test_paid_in_full_is_every_payment_paid(payments: list[dict[str, Any]]) -> None:
    assert paid_in_full(payments) == (bool(payments) and all(p["paid"] for p in payments))
    if paid_in_full(payments):
        assert paid_in_full(payments, paid_sum(payments))


@given(_PAYMENTS, _PAYMENTS)
def test_match_pairs_each_payment_at_most_once_and_keeps_the_order(
    wanted: list[dict[str, Any]], held: list[dict[str, Any]]
) -> None:
    pairs = match(wanted, held)
    assert [i for i, _ in pairs if i is not None] == list(range(len(wanted)))
    taken = [j for _, j in pairs if j is not None]
    assert sorted(taken) == list(range(len(held)))
    for i, j in pairs:
        if i is not None and j is not None:
            assert wanted[i]["system"] == held[j]["system"]


@given(_PAYMENTS)
def test_a_list_matches_itself_one_to_one(payments: list[dict[str, Any]]) -> None:
    assert match(payments, payments) == [(i, i) for i in range(len(payments))]


def test_match_prefers_system_and_amount_then_the_same_system() -> None:
    held = [pay("card", "700", True), pay("cash", "500")]
    # Listed the other way round: each still finds its own payment.
    assert match([held[1], held[0]], held) == [(0, 1), (1, 0)]
    # The unpaid one's amount followed an edited basket: the same payment, a new amount.
    assert match([held[0], pay("cash", "800")], held) == [(0, 0), (1, 1)]
    assert match([held[0]], held) == [(0, 0), (None, 1)]
    assert match([held[0], pay("invoice", "500")], held) == [(0, 0), (1, None), (None, 1)]


@given(_PAYMENTS.filter(bool), st.booleans())
def test_unfold_follows_the_one_flag(held: list[dict[str, Any]], paid: bool) -> None:
    shown = unfold(held, paid, "2026-12-02T10:00:00")
    assert [p["amount"] for p in shown] == [p["amount"] for p in held]
    if paid:
        assert paid_in_full(shown)
    elif all(p["paid"] for p in held):
        assert not any(p["paid"] for p in shown)  # taken back as a whole: for the fact rule to judge
    else:
        assert [p["paid"] for p in shown] == [p["paid"] for p in held]  # says nothing new


def test_unfold_stamps_a_payment_paid_just_now_and_keeps_an_earlier_date() -> None:
    held = [pay("card", "700", True, "2026-12-01T09:00:00"), pay("cash", "500")]
    shown = unfold(held, True, "2026-12-02T10:00:00")
    assert [p["paid_at"] for p in shown] == ["2026-12-01T09:00:00", "2026-12-02T10:00:00"]


def test_a_stale_document_with_the_second_payment_unpaid_does_not_unpay_the_order() -> None:
    both = [pay("card", "700", True), pay("cash", "500", True)]
    stale = [pay("card", "700", True), pay("cash", "500")]
    sides = [
        Side("onec", {"payments": stale}, 99.0),  # newer than anyone, but written before the payment
        Side("site", {"payments": both}, 1.0),
        Side("bitrix24", {"payments": both}, 1.0),
    ]
    result = merge("order", {"payments": both}, sides, Policy.build(), {"onec": {"payments": 1}})
    assert result.target == {"payments": both}
    assert result.writes["onec"] == {"payments": both}
    # 1C's one flag for the whole order, read over the payments it was given: unpaid from a 1C that had
    # never shown a payment is not yet seen either (one that had shown them would be a refund).
    folded = unfold(both, False)
    assert not any(p["paid"] for p in folded)
    again = merge(
        "order",
        {"payments": both},
        [Side("onec", {"payments": folded}, 99.0), *sides[1:]],
        Policy.build(),
        {"onec": {"payments": 0}},
    )
    assert again.target == {"payments": both}
