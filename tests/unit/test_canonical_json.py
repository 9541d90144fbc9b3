"""`canonical_json` writes what `json` writes, byte for byte: fingerprints and stored rows made before it
(by `json.dumps`) stay equal to the ones made now; `canonical_loads` reads what `json` reads, value for
value and type for type (model/fields.py)."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from obmen.model.fields import canonical_json, canonical_loads, fingerprint


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


def _same(a: Any, b: Any) -> bool:
    """Equal, and of the same types all the way down (1 == 1.0 == True would hide a float read as such)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    return bool(a == b or (a != a and b != b))  # NaN equals NaN here


READ = st.recursive(
    SCALARS | st.floats() | st.integers(min_value=-(2**90), max_value=-(2**63)),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=20,
)


@given(READ, st.sampled_from([{}, {"indent": 1}, {"ensure_ascii": True}, {"sort_keys": False}]))
def test_canonical_loads_reads_what_json_reads(value: Any, style: dict[str, Any]) -> None:
    """Canonical texts and others alike (indented, escaped, unsorted), a spool line's newline included."""
    text = json.dumps(value, **({"sort_keys": True, "ensure_ascii": False, "separators": (",", ":")} | style))
    assert _same(canonical_loads(text), json.loads(text))
    assert _same(canonical_loads(text + "\n"), json.loads(text))


def test_canonical_loads_keeps_the_integers_orjson_would_round() -> None:
    for text in (
        '{"n":123456789012345678901234567890}',
        "[9223372036854775808]",
        '{"s":"\\ud800"}',
        "NaN",
        "1e400",
    ):
        assert _same(canonical_loads(text), json.loads(text)), text
    assert canonical_loads('{"n":12345678901234567890123}')["n"] == 12345678901234567890123
