"""Bad input gets a clear REST error, never a crash: junk parameters for every core method."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from obmen_sandbox.bitrix24 import Bitrix24Sandbox
from obmen_sandbox.bitrix24.dispatch import Caller, invoke
from obmen_sandbox.bitrix24.registry import METHODS

_CORE = sorted(name for name in METHODS if not name.startswith("catalog."))
_KEYS = (
    "id",
    "ID",
    "fields",
    "FIELDS",
    "filter",
    "FILTER",
    "order",
    "select",
    "start",
    "sort",
    "entityTypeId",
)
_KEYS += ("rows", "productRows", "cmd", "halt", "type", "values", "entity_type", "ownerType", "ownerId")
_KEYS += ("event", "handler", "event_type", "process_id", "message_id", "clear", "limit", "error")
_KEYS += ("useOriginalUfNames",)
_WORDS = ["2", "31", "D", "SI", "PHONE", "EMAIL", "*", "ASC", "crm.deal.get?id=$result[x]", ">=ID"]
_SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(-3, 60), st.floats(allow_nan=False), st.text(max_size=8),
    st.sampled_from(_WORDS),
)  # fmt: skip
_VALUES = st.recursive(
    _SCALARS,
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(st.sampled_from((*_KEYS, "PHONE", "VALUE")), inner, max_size=3)
    ),
    max_leaves=8,
)


def _sandbox() -> Bitrix24Sandbox:
    sandbox = Bitrix24Sandbox(webhook="1/x")
    sandbox.clock.freeze(1_780_000_000.0)
    sandbox.seed(
        {"tables": {"crm.deal": [{"TITLE": "d"}], "crm.contact": [{"NAME": "c", "PHONE": [{"VALUE": "1"}]}]}}
    )
    return sandbox


SANDBOX = _sandbox()
APP = SANDBOX.portal.auth.install(None, None)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(_CORE), st.dictionaries(st.sampled_from(_KEYS), _VALUES, max_size=5), st.booleans())
def test_junk_parameters_never_crash_a_method(name: str, params: dict[str, Any], as_app: bool) -> None:
    outcome = invoke(SANDBOX.portal, name, params, Caller(1, APP if as_app else None))
    if outcome.error is not None:
        assert 400 <= outcome.error.status < 600
        assert isinstance(outcome.error.description, str)
