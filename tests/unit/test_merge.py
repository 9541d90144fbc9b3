"""The three-way merge and the field policy: examples and properties."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from obmen.engine.merge import Side, merge, merge_fields
from obmen.engine.policy import FieldRule, Policy, Strategy
from obmen.errors import ConfigError

SYSTEMS = ["onec", "site", "bitrix24"]
NAMES = ["a", "b", "c"]
values = st.one_of(
    st.none(), st.sampled_from(["x", "y", "z"]), st.integers(0, 3), st.lists(st.sampled_from("pq"))
)
field_maps = st.fixed_dictionaries(dict.fromkeys(NAMES, values))
rules = st.sampled_from(["newest", "conflict", "owner:onec", "owner:site"])


def apply_writes(sides: list[Side], writes: dict[str, dict[str, Any]]) -> list[Side]:
    return [Side(s.system, {**s.fields, **writes.get(s.system, {})}, s.modified_at) for s in sides]


def test_one_side_changed_propagates_to_the_others() -> None:
    base = {"name": "Иван", "phone": "+79123456789"}
    sides = [Side("onec", base), Side("site", {**base, "name": "Иван П."}), Side("bitrix24", base)]
    result = merge("counterparty", base, sides, Policy.build())
    assert result.writes == {"onec": {"name": "Иван П."}, "bitrix24": {"name": "Иван П."}}
    assert result.sources == {"name": "site"}
    assert result.target == {"name": "Иван П.", "phone": "+79123456789"}


def test_newest_change_wins_and_ties_follow_precedence() -> None:
    base = {"status": "new"}
    sides = [Side("site", {"status": "paid"}, 20.0), Side("bitrix24", {"status": "won"}, 10.0)]
    assert merge("order", base, sides, Policy.build()).target == {"status": "paid"}
    tie = [Side("site", {"status": "paid"}, 10.0), Side("bitrix24", {"status": "won"}, 10.0)]
    assert merge("order", base, tie, Policy.build()).target == {"status": "won"}


def test_a_field_never_agreed_takes_the_value_shown_over_a_newer_empty_one() -> None:
    """1C's document written before the deal had a responsible does not blank the manager a person set."""
    base = {"number": "1"}
    sides = [
        Side("bitrix24", {"number": "1", "manager": "Петров Пётр"}, 10.0),
        Side("onec", {"number": "1", "manager": None}, 20.0),
    ]
    result = merge("order", base, sides, Policy.build())
    assert result.target["manager"] == "Петров Пётр"
    assert result.writes == {"onec": {"manager": "Петров Пётр"}}
    # A new object: the same (no base at all); sides that all show nothing agree on nothing.
    assert merge("order", None, sides, Policy.build()).target["manager"] == "Петров Пётр"
    empty = [Side("bitrix24", {"manager": None}, 10.0), Side("onec", {"manager": None}, 20.0)]
    assert merge("order", None, empty, Policy.build()).target == {"manager": None}


@given(st.sampled_from(SYSTEMS), values.filter(lambda v: v is not None), st.floats(0, 100), st.floats(0, 100))
def test_an_empty_side_never_beats_a_value_on_a_field_never_agreed(
    system: str, value: Any, shown_at: float, empty_at: float
) -> None:
    other = next(s for s in SYSTEMS if s != system)
    sides = [Side(system, {"a": value}, shown_at), Side(other, {"a": None}, empty_at)]
    result = merge("order", {}, sides, Policy.build())
    assert result.target == {"a": value}
    assert result.writes == {other: {"a": value}}


def test_a_partner_putting_back_what_it_held_by_its_own_edit_is_a_change() -> None:
    """1C showed obmen's pending manager, took the CRM's next one, then its accountant put the first back."""
    base = {"manager": "Петров Пётр"}
    held = {"onec": {"manager": "Порталов Админ"}}
    onec = Side("onec", {"manager": "Порталов Админ"}, 20.0, contested={"manager": (None, "Петров Пётр")})
    sides = [Side("bitrix24", {"manager": "Петров Пётр"}, 10.0), onec]
    result = merge("order", base, sides, Policy.build(), held=held)
    assert result.target == {"manager": "Порталов Админ"}
    assert result.writes == {"bitrix24": {"manager": "Порталов Админ"}}
    # Without its own edit, a side that still shows what it held has not changed (§2.12).
    still = [sides[0], Side("onec", {"manager": "Порталов Админ"}, 20.0)]
    assert merge("order", base, still, Policy.build(), held=held).target == {"manager": "Петров Пётр"}


def test_a_manager_taking_the_contested_value_resolves_the_conflict() -> None:
    """The site's edit was made without seeing the CRM's; the manager then takes the site's in the CRM."""
    conflict = Policy.build({"order.comment": "conflict"})
    base = {"comment": "Позвонить до обеда"}
    site = Side("site", {"comment": "У консьержа"}, 20.0, contested={"comment": (None, "Позвонить до обеда")})
    onec = Side("onec", {"comment": "Позвонить до обеда"}, 5.0)
    # Before the manager acts, the sides still showing the CRM's value are concurrent with the site's.
    before = merge("order", base, [Side("bitrix24", base, 10.0), site, onec], conflict)
    assert [c.field for c in before.conflicts] == ["comment"]
    after = merge("order", base, [Side("bitrix24", {"comment": "У консьержа"}, 30.0), site, onec], conflict)
    assert after.conflicts == []
    assert after.target == {"comment": "У консьержа"}
    assert after.writes == {"onec": {"comment": "У консьержа"}}
    assert "comment" in after.settled


def test_owner_wins_and_reverts_a_change_made_elsewhere() -> None:
    base = {"price": "100"}
    policy = Policy.build()  # offer.* is owned by 1C by default
    reverted = merge("offer", base, [Side("onec", base), Side("site", {"price": "90"}, 99.0)], policy)
    assert reverted.writes == {"site": {"price": "100"}}
    both = merge(
        "offer", base, [Side("onec", {"price": "120"}, 1.0), Side("site", {"price": "90"}, 99.0)], policy
    )
    assert both.target == {"price": "120"}
    assert both.writes == {"site": {"price": "120"}}


def test_conflict_rule_records_and_writes_nothing_for_that_field() -> None:
    policy = Policy.build({"order.comment": "conflict"})
    base = {"comment": "a", "status": "new"}
    sides = [
        Side("site", {"comment": "b", "status": "new"}),
        Side("bitrix24", {"comment": "c", "status": "won"}),
    ]
    result = merge("order", base, sides, policy)
    (conflict,) = result.conflicts
    assert (conflict.field, conflict.base, dict(conflict.candidates)) == (
        "comment",
        "a",
        {"site": "b", "bitrix24": "c"},
    )
    assert result.writes == {"site": {"status": "won"}}
    assert result.target["comment"] == "a"


def test_a_change_made_without_seeing_obmens_value_is_concurrent_under_the_conflict_rule() -> None:
    """The CRM's comment "c" went to the site's outbox (base "c"); the site changed "a" to "s" first."""
    policy = Policy.build({"order.comment": "conflict"})
    site = Side("site", {"comment": "s"}, contested={"comment": ("a", "c")})
    result = merge("order", {"comment": "c"}, [site, Side("bitrix24", {"comment": "c"})], policy)
    (conflict,) = result.conflicts
    assert dict(conflict.candidates) == {"site": "s", "bitrix24": "c"}
    assert result.writes == {}
    # Under "newest wins" the partner's change is simply the newest: the same as without the contest.
    newest = merge("order", {"comment": "c"}, [site, Side("bitrix24", {"comment": "c"})], Policy.build())
    assert newest.target == {"comment": "s"}
    assert newest.writes == {"bitrix24": {"comment": "s"}}


def test_a_contest_no_longer_counts_once_the_base_moved_on() -> None:
    policy = Policy.build({"order.comment": "conflict"})
    contested = {"comment": ("a", "c")}
    # A person decided "s" (or the sides agreed on it): a later change elsewhere is one change, no conflict.
    sides = [Side("site", {"comment": "s"}, contested=contested), Side("bitrix24", {"comment": "x"})]
    result = merge("order", {"comment": "s"}, sides, policy)
    assert result.conflicts == []
    assert result.writes == {"site": {"comment": "x"}}
    # The sides agree again: the conflict settles.
    agreed = [Side("site", {"comment": "s"}, contested=contested), Side("bitrix24", {"comment": "s"})]
    settled = merge("order", {"comment": "c"}, agreed, policy)
    assert settled.conflicts == []
    assert settled.target == {"comment": "s"}


def test_policy_rules_parse_and_reject_nonsense_with_a_clear_message() -> None:
    assert FieldRule.parse("owner:onec") == FieldRule(Strategy.OWNER, "onec")
    assert Policy.build({"order.*": "conflict"}).rule("order", "anything").strategy is Strategy.CONFLICT
    with pytest.raises(ConfigError, match=r"field_policy.order.status = 'oldest': expected"):
        Policy.build({"order.status": "oldest"})
    with pytest.raises(ConfigError, match="'owner' needs a system"):
        FieldRule.parse("owner:")


@given(base=field_maps, current=st.lists(field_maps, min_size=3, max_size=3), rule=rules)
def test_merge_writes_bring_every_side_to_the_target_and_then_nothing_moves(
    base: dict[str, Any], current: list[dict[str, Any]], rule: str
) -> None:
    policy = Policy.build({"e.*": rule})
    sides = [Side(s, f, float(i)) for i, (s, f) in enumerate(zip(SYSTEMS, current, strict=True))]
    first = merge("e", base, sides, policy)
    after = apply_writes(sides, first.writes)
    held = {c.field for c in first.conflicts}
    for name in NAMES:
        seen = {repr(s.fields[name]) for s in after}
        assert len(seen) == 1 or name in held
    # Our own writes coming back (echo) against the new base produce no writes at all.
    second = merge("e", first.target, after, policy)
    assert second.writes == {}


@given(base=field_maps, other=field_maps)
def test_unchanged_sides_cost_nothing(base: dict[str, Any], other: dict[str, Any]) -> None:
    sides = [Side(s, base) for s in SYSTEMS]
    result = merge("e", base, sides, Policy.build({"e.*": "conflict"}))
    assert result.writes == {}
    assert result.conflicts == []
    assert result.target == base


@given(base=field_maps, change=field_maps)
def test_owner_value_always_wins(base: dict[str, Any], change: dict[str, Any]) -> None:
    sides = [Side("onec", change, 0.0), Side("site", base, 5.0), Side("bitrix24", {**base, "a": "z"}, 9.0)]
    result = merge("e", base, sides, Policy.build({"e.*": "owner:onec"}))
    assert result.target == change


def test_a_decided_value_wins_over_a_conflict_and_reaches_every_side_that_differs() -> None:
    policy = Policy.build({"order.comment": "conflict"})
    base = {"comment": None, "status": "N"}
    sides = [
        Side("onec", base),
        Side("site", {**base, "comment": "консьерж"}),
        Side("bitrix24", {**base, "comment": "позвонить"}),
    ]
    undecided = merge("order", base, sides, policy)
    assert [c.field for c in undecided.conflicts] == ["comment"]
    by_side = merge("order", base, sides, policy, decided={"comment": "консьерж"})
    assert by_side.conflicts == []
    assert by_side.target == {"comment": "консьерж", "status": "N"}
    assert by_side.writes == {"onec": {"comment": "консьерж"}, "bitrix24": {"comment": "консьерж"}}
    assert by_side.sources == {"comment": "site"}
    assert "comment" in by_side.settled
    typed = merge("order", base, sides, policy, decided={"comment": "домофон 12"})
    assert set(typed.writes) == {"onec", "site", "bitrix24"}
    assert "comment" not in typed.sources  # nobody's value: the operator's


@given(field_maps, field_maps, field_maps, rules, values)
def test_a_decision_always_ends_with_every_side_holding_it(
    base: dict[str, Any], a: dict[str, Any], b: dict[str, Any], rule: str, decided: Any
) -> None:
    policy = Policy.build({"order.*": rule})
    sides = [Side("onec", a, 1.0), Side("site", b, 2.0)]
    result = merge("order", base, sides, policy, decided={"a": decided})
    after = apply_writes(sides, result.writes)
    assert all(side.fields["a"] == decided for side in after)
    assert result.target["a"] == decided


fact_rules = st.sampled_from(["newest", "conflict", "owner:onec", "fact", "fact:x<y<z"])


@given(
    base=field_maps,
    shares=st.lists(st.sets(st.sampled_from(NAMES)), min_size=1, max_size=3),
    extra=st.sets(st.sampled_from(["d", "e"])),
    rule=fact_rules,
)
def test_the_shortcut_for_sides_equal_to_the_base_decides_what_the_full_merge_decides(
    base: dict[str, Any], shares: list[set[str]], extra: set[str], rule: str
) -> None:
    # Sides show parts of the base (a side need not carry every field); the base may hold more.
    full_base = {**base, **dict.fromkeys(extra, "x")}
    sides = [
        Side(s, {k: base[k] for k in share}, float(i))
        for i, (s, share) in enumerate(zip(SYSTEMS, shares, strict=False))
    ]
    fast = merge("e", full_base, sides, Policy.build({"e.*": rule}))
    full = merge_fields("e", full_base, sides, Policy.build({"e.*": rule}))
    assert fast == full
    assert fast.writes == {}
    assert fast.conflicts == []
    assert fast.target == full_base


def test_an_owned_field_no_merge_agreed_on_is_the_owners_even_when_it_shows_none() -> None:
    # Found by the convergence property test: 1C owns the status and shows none for a new person the site
    # made with one; a side showing a value beats one showing none only for fields no one owns.
    policy = Policy.build({"counterparty.status": "owner:onec"})
    sides = [Side("onec", {"status": None}, 10.0), Side("site", {"status": "new"}, 20.0)]
    result = merge("counterparty", None, sides, policy)
    assert result.target == {"status": None}
    assert "onec" not in result.writes
