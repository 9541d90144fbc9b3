"""Mutation fuzzing of what reads outside input (issue 13): CommerceML files, event forms, REST answers.

Each test starts from real input (the fixtures of `tests/fixtures/commerceml`, a real event form, a real
REST answer), truncates it, flips bytes or re-encodes it, and demands a correct read or the clear error
the module promises (`ProtocolError` for CommerceML and forms, an `ObmenError` for a REST answer),
never another exception. `max_examples` is bounded so CI stays quick; pytest-timeout catches a hang.
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from obmen.connectors.bitrix24.client.wire import flatten, parse_reply
from obmen.connectors.bitrix24.events.notices import changes_of, parse_form
from obmen.connectors.commerceml import read
from obmen.errors import ObmenError, ProtocolError

FIXTURES = Path(__file__).parents[1] / "fixtures" / "commerceml"
#: Small fixtures of every kind (catalog, offers, classifier, documents), so that one example is quick.
FILES = sorted(p for p in FIXTURES.rglob("*.xml") if p.stat().st_size < 40_000)
FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def mutated(draw: st.DrawFn, originals: list[bytes]) -> bytes:
    """One original, truncated, with bytes flipped, or re-encoded."""
    data = bytearray(draw(st.sampled_from(originals)))
    how = draw(st.sampled_from(["truncate", "flip", "encode", "insert", "all"]))
    if how in ("encode", "all"):
        codec = draw(st.sampled_from(["utf-8", "cp1251", "utf-16", "latin-1", "utf-8-sig"]))
        text = bytes(data).decode("utf-8", errors="replace")
        data = bytearray(text.encode(codec, errors="replace"))
    if how in ("flip", "all") and data:
        for _ in range(draw(st.integers(1, 8))):
            at = draw(st.integers(0, len(data) - 1))
            data[at] = draw(st.integers(0, 255))
    if how == "insert":
        at = draw(st.integers(0, len(data)))
        data[at:at] = draw(
            st.sampled_from([b"<", b"&", b"]]>", b"\x00", b"<!DOCTYPE x [", b"\xff\xfe", b"</"])
        )
    if how in ("truncate", "all") and data:
        data = data[: draw(st.integers(0, len(data)))]
    return bytes(data)


ORIGINALS = [p.read_bytes() for p in FILES]


def test_there_are_fixtures_to_mutate() -> None:
    assert len(FILES) >= 5


@FUZZ
@given(mutated(ORIGINALS))
def test_the_commerceml_reader_reads_or_says_why(data: bytes) -> None:
    try:
        for _ in read(io.BytesIO(data), name="fuzz.xml"):
            pass
    except ProtocolError as exc:
        message = str(exc)
    else:
        return
    assert "fuzz.xml" in message  # the error names the file


FORM = [
    ("event", "ONCRMDYNAMICITEMUPDATE"),
    ("data[FIELDS][ID]", "9"),
    ("data[FIELDS][ENTITY_TYPE_ID]", "31"),
    ("ts", "1736405807"),
    ("auth[domain]", "portal.bitrix24.ru"),
    ("auth[application_token]", "51856fefc120afa4b628cc82d3935cce"),
]
_KEY_CHARS = st.sampled_from([*"ab[]_0", "data", "FIELDS", "auth", "][", "[["])


@FUZZ
@given(
    st.lists(
        st.tuples(st.lists(_KEY_CHARS, max_size=8).map("".join), st.text(max_size=12)),
        max_size=8,
    ),
    st.integers(0, len(FORM)),
)
def test_the_bracket_parser_reads_or_says_why(extra: list[tuple[str, str]], cut: int) -> None:
    pairs = [*FORM[:cut], *extra]
    try:
        payload = parse_form(pairs)
    except ProtocolError:
        return
    assert isinstance(payload, dict)
    changes_of(str(payload.get("event") or ""), payload.get("data"))  # a payload never breaks the keys


_NAMES = st.text(alphabet="abcXYZ_09", min_size=1, max_size=6)
_TREES = st.recursive(
    st.text(max_size=10), lambda inner: st.dictionaries(_NAMES, inner, min_size=1, max_size=4), max_leaves=12
)


@FUZZ
@given(st.dictionaries(_NAMES, _TREES, min_size=1, max_size=4))
def test_what_flatten_writes_parse_form_reads_back(tree: dict[str, Any]) -> None:
    assert parse_form(flatten(tree)) == tree


ANSWER = json.dumps(
    {"result": {"items": [{"id": 9, "parentId2": 42}]}, "total": 1, "time": {"start": 1.0, "operating": 0.1}}
).encode()


@FUZZ
@given(mutated([ANSWER]), st.sampled_from([200, 400, 401, 403, 404, 429, 500, 503]))
@pytest.mark.parametrize("content_type", ["application/json", "text/html"])
def test_a_rest_answer_parses_or_is_an_obmen_error(content_type: str, body: bytes, status: int) -> None:
    try:
        reply = parse_reply(status, content_type, body, "crm.item.list")
    except ObmenError:
        return
    assert status < 400
    assert reply.total is None or isinstance(reply.total, int)
