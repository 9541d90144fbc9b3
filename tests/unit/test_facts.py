"""Facts only move forward (docs/architecture.md §2.11): the `fact` rule of the merge."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from obmen.engine.merge import Side, merge
from obmen.engine.policy import FieldRule, Policy, Strategy
from obmen.errors import ConfigError

UNPAID = [{"system": "card", "paid": False}]
PAID = [{"system": "card", "paid": True}]
POLICY = Policy.build()


def test_the_order_fields_that_are_facts_by_default() -> None:
    assert str(POLICY.rule("order", "payments")) == "fact"
    assert str(POLICY.rule("order", "cancelled")) == "fact"
    assert str(POLICY.rule("order", "status")) == "fact:N<A<P<D<F"
    assert POLICY.rule("order", "comment").strategy is Strategy.NEWEST


def test_fact_rules_parse_and_reject_a_bad_order() -> None:
    assert FieldRule.parse("fact:N<P<F").order == ("N", "P", "F")
    for bad in ("fact:N<<F", "fact:N<N"):
        with pytest.raises(ConfigError, match="distinct values"):
            FieldRule.parse(bad, where="field_policy.order.status")


def test_levels() -> None:
    fact, status = FieldRule.parse("fact"), FieldRule.parse("fact:N<P<F")
    assert [fact.level(v) for v in (None, False, True, UNPAID, PAID, PAID + UNPAID)] == [0, 0, 1, 0, 1, 1]
    assert [status.level(v) for v in ("N", "P", "F", "X", None)] == [0, 1, 2, None, None]


def test_a_document_written_before_the_payment_does_not_take_it_back() -> None:
    base = {"payments": PAID, "status": "P"}
    # 1C shows the order as it had it before it heard of the payment, newer than anyone.
    sides = [
        Side("onec", {"payments": UNPAID, "status": "F"}, 99.0),
        Side("site", {"payments": PAID, "status": "P"}, 1.0),
        Side("bitrix24", {"payments": PAID, "status": "P"}, 1.0),
    ]
    result = merge("order", base, sides, POLICY, {"onec": {"payments": 0}})
    assert result.target == {"payments": PAID, "status": "F"}
    assert result.writes["onec"] == {"payments": PAID}  # told again, until it shows it
    assert result.shown["onec"] == {"payments": 0, "status": 4}


def test_a_status_set_before_obmen_s_further_one_arrived_does_not_take_it_back() -> None:
    """1C set `P` itself while the CRM's `F` was on its way to it: it went from `N`, never from `F`.

    Obmen's pending `F` was shown for 1C (so `shown` says 4); its upload with `P` is contested, and the
    value it changed from decides (found by `python -m bench lifecycle`: the deal went back from WON).
    """
    base = {"status": "F"}
    sides = [
        Side("onec", {"status": "P"}, 99.0, contested={"status": ("N", "F")}),
        Side("site", {"status": "F"}, 1.0),
        Side("bitrix24", {"status": "F"}, 1.0),
    ]
    result = merge("order", base, sides, POLICY, {"onec": {"status": 4}})
    assert result.target == {"status": "F"}
    assert result.writes["onec"] == {"status": "F"}


def test_a_side_that_had_shown_the_payment_may_take_it_back() -> None:
    base = {"payments": PAID}
    sides = [Side("site", {"payments": PAID}, 1.0), Side("bitrix24", {"payments": UNPAID}, 2.0)]
    refunded = merge("order", base, sides, POLICY, {"bitrix24": {"payments": 1}})
    assert refunded.target == {"payments": UNPAID}
    # Never having shown it (or not known to have), it has not seen it yet.
    assert merge("order", base, sides, POLICY, {}).target == {"payments": PAID}


def test_differing_advances_the_furthest_wins_and_a_first_agreement_takes_the_furthest() -> None:
    base = {"status": "N"}
    sides = [Side("site", {"status": "P"}, 9.0), Side("onec", {"status": "F"}, 1.0)]
    assert merge("order", base, sides, POLICY).target == {"status": "F"}
    fresh = [Side("site", {"cancelled": False}, 9.0), Side("onec", {"cancelled": True}, 1.0)]
    assert merge("order", None, fresh, POLICY).target == {"cancelled": True}
    # Values outside the order are not compared: the newest change wins, as for any field.
    odd = [Side("site", {"status": "X"}, 9.0), Side("onec", {"status": "Y"}, 1.0)]
    assert merge("order", base, odd, POLICY).target == {"status": "X"}


levels = st.sampled_from(["N", "P", "F"])


@given(
    start=levels,
    rounds=st.lists(st.dictionaries(st.sampled_from(["onec", "site", "bitrix24"]), levels), max_size=8),
)
def test_a_fact_never_goes_back_unless_a_side_that_had_shown_it_went_back(
    start: str, rounds: list[dict[str, str]]
) -> None:
    rule = POLICY.rule("order", "status")
    base: dict[str, Any] = {"status": start}
    held = dict.fromkeys(("onec", "site", "bitrix24"), start)
    shown: dict[str, dict[str, int]] = {}
    for moves in rounds:
        went_back = {
            s
            for s, v in moves.items()
            if (rule.level(v) or 0) < shown.get(s, {}).get("status", rule.level(held[s]) or 0)
        }
        held.update(moves)
        sides = [Side(s, {"status": v}, float(i)) for i, (s, v) in enumerate(sorted(held.items()))]
        result = merge("order", base, sides, POLICY, shown)
        before, after = rule.level(base["status"]) or 0, rule.level(result.target["status"]) or 0
        assert after >= before or went_back
        base, shown = result.target, {s: dict(v) for s, v in result.shown.items()}
        held.update({s: w["status"] for s, w in result.writes.items()})
