"""The catalog list pre-selection never changes an answer: same rows as `query.matches` alone decides."""

from __future__ import annotations

import contextlib
from decimal import InvalidOperation
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from obmen_sandbox.bitrix24.catalog_common import list_answer
from obmen_sandbox.bitrix24.query import matches, sort_rows
from obmen_sandbox.bitrix24.registry import Call, RestError

FIELDS = ("id", "xmlId", "name", "sort", "parentId")
value = st.one_of(
    st.none(),
    st.integers(min_value=-3, max_value=5),
    st.sampled_from(["", "5", "5.0", " 5", "x", "X", "1e0", "NaN", "Infinity", "a%", "0"]),
    st.sampled_from(
        ["2026-01-01T00:00:00+03:00", "2025-12-31T21:00:00+00:00", "2026-01-01", "2026-01-01T00:00:00"]
    ),
    st.floats(min_value=-3, max_value=5, allow_nan=False),
    st.booleans(),
    st.lists(st.sampled_from(["x", "5", 5]), max_size=2),
)
row = st.fixed_dictionaries({"xmlId": value, "name": value, "sort": value, "parentId": value})
key = st.sampled_from(["", "=", ">", ">=", "<", "<=", "!", "!=", "@", "%"]).flatmap(
    lambda op: st.sampled_from(FIELDS).map(lambda name: op + name)
)


@settings(max_examples=400, deadline=None)
@given(rows=st.lists(row, max_size=12), where=st.dictionaries(key, value, max_size=3))
def test_narrowing_keeps_exactly_what_matches_keeps(
    rows: list[dict[str, Any]], where: dict[str, Any]
) -> None:
    table = [{"id": n + 1, **r} for n, r in enumerate(rows)]

    def resolve(name: str) -> str | None:
        return name if name in FIELDS else None

    def flat(r: dict[str, Any]) -> dict[str, Any]:
        return dict(r)

    try:
        expected = sort_rows([r for r in table if matches(r, where, resolve)], {"id": "asc"}, resolve)
    except (RestError, InvalidOperation):
        # A filter `matches` cannot decide (an unknown field, NaN) is refused, or passed over when the
        # pre-selection already left no row to decide on; it never crashes.
        with contextlib.suppress(RestError):
            list_answer(Call(name="x.list", params={"filter": where}), table, "rows", FIELDS)
        return
    call = Call(name="x.list", params={"filter": where, "start": -1})
    answer = list_answer(call, table, "rows", FIELDS, flat=flat, flat_fields=("parentId",))
    assert [r["id"] for r in answer.result["rows"]] == [r["id"] for r in expected[:50]]
