"""`canonical_json` writes what `json` writes, byte for byte: fingerprints and stored rows made before it
(by `json.dumps`) stay equal to the ones made now (model/fields.py)."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from obmen.model.fields import canonical_json, fingerprint


def _json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"))


#: What field maps hold: strings (any character, control characters and Cyrillic included), integers
#: (some beyond 64 bits), flags, nulls, lists, tuples and maps, nested.
SCALARS = (
    st.none() | st.booleans() | st.integers() | st.integers(min_value=2**63, max_value=2**80) | st.text()
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.tuples(inner, inner)
        | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=20,
)


@given(VALUES)
def test_canonical_json_is_what_json_writes(value: Any) -> None:
    assert canonical_json(value) == _json(value)


@given(st.dictionaries(st.integers(), VALUES, max_size=4))
def test_integer_keys_are_written_as_json_writes_them(value: dict[Any, Any]) -> None:
    assert canonical_json(value) == _json(value)


def test_a_fingerprint_is_the_hash_of_the_canonical_text() -> None:
    fields = {"name": "Чайник\n\x01 «Бодрость»", "price": {"amount": "1500", "currency": "RUB"}, "n": 2**70}
    assert fingerprint(fields) == fingerprint(dict(reversed(list(fields.items()))))
    assert canonical_json(fields) == _json(fields)
