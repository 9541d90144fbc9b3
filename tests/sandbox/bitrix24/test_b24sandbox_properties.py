"""Properties over many inputs: list filters agree with a plain oracle, paging loses and repeats nothing."""

from __future__ import annotations

import operator
from collections.abc import Callable
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from obmen_sandbox.bitrix24 import Bitrix24Sandbox
from obmen_sandbox.bitrix24.dispatch import Caller, invoke

_OPS: dict[str, Callable[[int, Any], bool]] = {
    ">": operator.gt,
    ">=": operator.ge,
    "<": operator.lt,
    "<=": operator.le,
    "": operator.eq,
    "!": operator.ne,
    "@": lambda actual, wanted: actual in wanted,
    "!@": lambda actual, wanted: actual not in wanted,
}


def _portal(amounts: list[int]) -> Bitrix24Sandbox:
    sandbox = Bitrix24Sandbox(webhook="1/x")
    sandbox.clock.freeze(1_780_000_000.0)
    sandbox.seed(
        {"tables": {"crm.deal": [{"TITLE": f"d{n}", "OPPORTUNITY": a} for n, a in enumerate(amounts)]}}
    )
    return sandbox


def _ids(sandbox: Bitrix24Sandbox, params: dict[str, Any]) -> tuple[list[int], int | None, int | None]:
    outcome = invoke(sandbox.portal, "crm.deal.list", params, Caller(1))
    assert outcome.error is None, outcome.error
    return [int(row["ID"]) for row in outcome.result], outcome.total, outcome.next


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.integers(0, 20), max_size=12),
    st.sampled_from(sorted(_OPS)),
    st.one_of(st.integers(0, 20), st.lists(st.integers(0, 20), min_size=1, max_size=3)),
)
def test_filter_operators_agree_with_an_oracle(amounts: list[int], op: str, wanted: Any) -> None:
    if (op in ("@", "!@")) != isinstance(wanted, list):
        wanted = [wanted] if op in ("@", "!@") else wanted[0]
    sandbox = _portal(amounts)
    got, _, _ = _ids(sandbox, {"filter": {f"{op}OPPORTUNITY": wanted}, "select": ["ID"]})
    expected = [n + 1 for n, amount in enumerate(amounts) if _OPS[op](amount, wanted)]
    assert got == expected


@settings(max_examples=15, deadline=None)
@given(st.integers(0, 160))
def test_pages_of_fifty_cover_every_row_once(count: int) -> None:
    sandbox = _portal([1] * count)
    seen: list[int] = []
    start: int | None = 0
    while start is not None:
        ids, total, start = _ids(sandbox, {"select": ["ID"], "start": start})
        assert total == count
        assert len(ids) <= 50
        seen += ids
    assert seen == list(range(1, count + 1))
