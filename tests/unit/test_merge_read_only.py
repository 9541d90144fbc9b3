"""Read-only fields of a side (docs/architecture.md §2.15): never written there, no vote while still held."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from obmen.engine.merge import MergeResult, Side, merge
from obmen.engine.policy import Policy

BUYER = frozenset({"phones", "emails"})
OLD = {"phones": ("+79123456789",), "emails": ("irina@example.ru",)}
EDITED = {"phones": ("+79123456789", "+74951112233"), "emails": ("irina@example.ru", "i.s@example.com")}


def _round(base: dict[str, Any] | None, site: dict[str, Any], crm: dict[str, Any], held: Any) -> MergeResult:
    sides = [Side("site", site, 10.0, read_only=BUYER), Side("bitrix24", crm, 5.0), Side("onec", base or crm)]
    return merge("counterparty", base, sides, Policy.build(), held=held)


def test_a_crm_edit_reaches_the_others_and_is_not_written_to_the_read_only_side() -> None:
    first = _round(None, OLD, OLD, None)
    assert first.held == {}  # every side agrees: nothing is held
    edit = _round(first.target, OLD, EDITED, first.held)
    assert edit.target == EDITED
    assert edit.writes == {"onec": EDITED}
    assert edit.sources == {"phones": "bitrix24", "emails": "bitrix24"}


def test_the_read_only_sides_unchanged_old_value_does_not_undo_the_edit_on_the_next_read() -> None:
    first = _round(None, OLD, OLD, None)
    edit = _round(first.target, OLD, EDITED, first.held)
    # The site is newer (10.0 > 5.0) and differs from the base, yet it shows only what it showed before.
    again = _round(edit.target, OLD, EDITED, edit.held)
    assert again.target == EDITED
    assert again.writes == {}


def test_a_read_only_side_whose_value_moved_votes_like_any_side() -> None:
    first = _round(None, OLD, OLD, None)
    edit = _round(first.target, OLD, EDITED, first.held)
    moved = {"phones": ("+79990000000",), "emails": OLD["emails"]}
    later = _round(edit.target, moved, EDITED, edit.held)
    assert later.target["phones"] == moved["phones"]
    assert later.writes == {"bitrix24": {"phones": moved["phones"]}, "onec": {"phones": moved["phones"]}}
    assert "phones" not in later.held["site"]  # it shows the agreed phone now


def test_what_is_held_survives_being_stored_as_json() -> None:
    first = _round(None, OLD, OLD, None)
    edit = _round(first.target, OLD, EDITED, first.held)
    assert set(edit.held["site"]) == {"emails", "phones"}  # the site still shows what was overruled
    stored = json.loads(json.dumps(edit.held))
    assert _round(edit.target, OLD, EDITED, stored).writes == {}
    # The values come back from JSON as lists, not the tuples they were read as: still the same print.
    listed = {k: list(v) for k, v in OLD.items()}
    assert _round(edit.target, listed, EDITED, stored).target == EDITED


def test_without_a_record_of_what_it_showed_the_side_votes_as_before() -> None:
    result = _round(OLD, {"phones": ("+70000000000",), "emails": OLD["emails"]}, OLD, None)
    assert result.target["phones"] == ("+70000000000",)


phones = st.lists(st.sampled_from(["1", "2", "3"]), max_size=2).map(tuple)


@given(site=phones, edits=st.lists(phones, min_size=1, max_size=4))
def test_the_read_only_side_never_gets_a_write_and_an_overruled_still_side_never_wins(
    site: tuple[str, ...], edits: list[tuple[str, ...]]
) -> None:
    base: dict[str, Any] | None = None
    held: Any = None
    overruled = False
    for crm in edits:
        sides = [
            Side("site", {"phones": site}, 99.0, read_only=frozenset({"phones"})),
            Side("bitrix24", {"phones": crm}),
        ]
        result = merge("counterparty", base, sides, Policy.build(), held=held)
        assert "site" not in result.writes
        if overruled and crm != site:
            # The site never moved since a merge chose another value: it does not win again.
            assert result.target["phones"] != site
        overruled = overruled or result.target["phones"] != site
        base, held = result.target, result.held
