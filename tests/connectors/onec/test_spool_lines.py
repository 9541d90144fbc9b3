"""Spool lines of the 1C import: every record comes back as it went, the unchanged ones in a cheap form."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from obmen.connectors.mirrored.records import Record
from obmen.connectors.onec.spooler import spool_line, spooled

_IDS = st.text(min_size=1, max_size=40)
_FIELDS = st.dictionaries(st.text(max_size=8), st.one_of(st.text(max_size=8), st.integers(), st.none()))


@given(entity=st.sampled_from(["product", "offer"]), external_id=_IDS, digest=st.text(max_size=32))
def test_an_unchanged_record_comes_back_whatever_its_id(entity: str, external_id: str, digest: str) -> None:
    record = Record(entity, external_id, {}, digest or None, unchanged=True)
    line = spool_line(record)
    # One line per record: an id with a tab or a line break must not split it.
    assert line.endswith("\n")
    assert "\n" not in line[:-1]
    assert "\r" not in line
    assert spooled(line) == record


@given(external_id=_IDS, fields=_FIELDS, digest=st.one_of(st.none(), st.text(max_size=32)))
def test_a_parsed_record_comes_back_with_its_fields(
    external_id: str, fields: dict, digest: str | None
) -> None:
    record = Record("product", external_id, fields, digest)
    assert spooled(spool_line(record)) == record


def test_a_plain_unchanged_record_is_not_json() -> None:
    assert spool_line(Record("offer", "a#b", {}, "f00d", unchanged=True)) == "=offer\ta#b\tf00d\n"
