"""An order's total (and its one unpaid payment) follows lines edited where the sums were not."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from obmen.engine.derived import follow_lines
from obmen.engine.merge import Side, merge
from obmen.engine.policy import Policy
from obmen.model.fields import decimal_text

prices = st.decimals(min_value=0, max_value=10**5, places=2, allow_nan=False)
counts = st.integers(min_value=1, max_value=50)


def _money(amount: Decimal) -> dict[str, Any]:
    return {"amount": decimal_text(amount), "currency": "RUB"}


def _order(lines: list[tuple[Decimal, int]], total: Decimal, paid: bool = False) -> dict[str, Any]:
    return {
        "lines": [{"offer": None, "name": "x", "quantity": str(q), "price": _money(p)} for p, q in lines],
        "delivery": {"service": "Курьер", "price": _money(Decimal(300)), "address": None},
        "total": _money(total),
        "payments": [{"system": "card", "amount": _money(total), "paid": paid, "paid_at": None}],
    }


@given(st.lists(st.tuples(prices, counts), min_size=1, max_size=4), counts, prices, st.booleans())
def test_the_total_moves_by_what_the_lines_moved(
    lines: list[tuple[Decimal, int]], quantity: int, off: Decimal, paid: bool
) -> None:
    # `off`: a total that never equalled its lines' sum keeps its difference.
    before = sum((p * q for p, q in lines), Decimal(300)) + off
    base = _order(lines, before, paid)
    edited = [(lines[0][0], quantity), *lines[1:]]
    target = {**base, "lines": _order(edited, before)["lines"]}
    changed = follow_lines(base, target)
    moved = lines[0][0] * (quantity - lines[0][1])
    assert Decimal(target["total"]["amount"]) == before + moved
    assert changed == ([] if not moved else ["total"] if paid else ["total", "payments"])
    payment = Decimal(target["payments"][0]["amount"]["amount"])
    assert payment == (before if paid else before + moved)  # a paid payment is a fact


def test_a_total_someone_changed_is_not_derived() -> None:
    base = _order([(Decimal(100), 2)], Decimal(500))
    target = {**_order([(Decimal(100), 3)], Decimal(700))}
    assert follow_lines(base, target) == []
    assert target["total"]["amount"] == "700"
    assert follow_lines(None, target) == []


def test_a_crm_recount_writes_the_new_total_to_every_side() -> None:
    base = _order([(Decimal("8900"), 2)], Decimal(18100))
    crm = {**base, "lines": _order([(Decimal("8900"), 3)], Decimal(0))["lines"]}
    result = merge("order", base, [Side("bitrix24", crm), Side("site", base), Side("onec", base)], Policy())
    assert result.target["total"]["amount"] == "27000"
    for system in ("bitrix24", "site", "onec"):
        assert result.writes[system]["total"]["amount"] == "27000", system
    assert "lines" not in result.writes["bitrix24"]
    assert result.writes["site"]["payments"][0]["amount"]["amount"] == "27000"


@given(st.integers(min_value=1, max_value=20), st.decimals(min_value=1, max_value=299, places=2))
def test_of_two_payments_the_unpaid_rest_follows_the_lines_and_the_paid_part_keeps_its_sum(
    quantity: int, online: Decimal
) -> None:
    lines = [(Decimal(1000), 2)]
    base = _order(lines, Decimal(2300))
    rest = Decimal(2300) - online
    base["payments"] = [
        {"system": "card", "amount": _money(online), "paid": True, "paid_at": None},
        {"system": "cash", "amount": _money(rest), "paid": False, "paid_at": None},
    ]
    target = {**base, "lines": _order([(Decimal(1000), quantity)], Decimal(0))["lines"]}
    changed = follow_lines(base, target)
    moved = Decimal(1000) * (quantity - 2)
    assert target["total"] == _money(Decimal(2300) + moved)
    assert [p["amount"] for p in target["payments"]] == [_money(online), _money(rest + moved)]
    assert changed == (["total", "payments"] if quantity != 2 else [])


def test_two_unpaid_payments_keep_their_sums_and_only_the_total_moves() -> None:
    base = _order([(Decimal(1000), 2)], Decimal(2300))
    base["payments"] = [
        {"system": "card", "amount": _money(Decimal(300)), "paid": False, "paid_at": None},
        {"system": "cash", "amount": _money(Decimal(2000)), "paid": False, "paid_at": None},
    ]
    target = {**base, "lines": _order([(Decimal(1000), 3)], Decimal(0))["lines"]}
    assert follow_lines(base, target) == ["total"]
    assert target["payments"] == base["payments"]
