"""The fake system's `match`: text fields and text list elements, the lowest id first, edits followed."""

from __future__ import annotations

import pytest

from obmen.testing.fakes import FakeSystem


def _fake() -> FakeSystem:
    return FakeSystem("crm", fields={"counterparty": ("name", "phones", "age")})


async def test_a_text_field_and_a_list_element_match() -> None:
    fake = _fake()
    first = fake.create("counterparty", {"name": "Ромашка", "phones": ["+7900", "+7901"], "age": 5})
    fake.create("counterparty", {"name": "Ромашка", "phones": []})
    found = await fake.match(
        "counterparty", [("name", "Ромашка"), ("phones", "+7901"), ("age", "5"), ("name", "нет")]
    )
    # The lowest id wins; a number is not text, as in the JSON comparison it stands for.
    assert found == {("name", "Ромашка"): first, ("phones", "+7901"): first}


async def test_an_edit_moves_what_matches() -> None:
    fake = _fake()
    cid = fake.create("counterparty", {"name": "Old", "phones": ["+7900"]})
    fake.edit("counterparty", cid, name="New", phones=["+7902"])
    assert await fake.match("counterparty", [("name", "Old"), ("phones", "+7900")]) == {}
    assert await fake.match("counterparty", [("name", "New"), ("phones", "+7902")]) == {
        ("name", "New"): cid,
        ("phones", "+7902"): cid,
    }


@pytest.mark.parametrize("entity", ["product", "counterparty"])
async def test_another_entity_does_not_match(entity: str) -> None:
    fake = _fake()
    cid = fake.create("counterparty", {"name": "X"})
    expected = {("name", "X"): cid} if entity == "counterparty" else {}
    assert await fake.match(entity, [("name", "X")]) == expected
