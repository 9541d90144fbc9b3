"""The id map's lookups for many kinds at once answer what the one-kind lookups answer."""

from __future__ import annotations

from obmen.store import state
from obmen.store.database import Database

T = "default"


async def test_lookups_of_many_kinds_at_once_match_one_kind_at_a_time(db: Database) -> None:
    pairs = [(f"c{i}", "site", str(i)) for i in range(700)]  # over one chunk
    async with db.begin() as conn:
        await state.add_links(conn, T, "counterparty", pairs, now=1.0)
        await state.add_links(conn, T, "counterparty", [("c1", "bitrix24", "b1")], now=1.0)
        await state.add_links(conn, T, "offer", [("o1", "site", "1"), ("o2", "onec", "1")], now=1.0)
        wanted = {
            ("counterparty", "site"): [str(i) for i in range(0, 700, 3)] + ["none"],
            ("offer", "site"): ["1", "2"],
            ("offer", "onec"): ["1"],
        }
        found = await state.resolve_externals(conn, T, wanted)
        one_at_a_time = {
            (entity, system, x): cid
            for (entity, system), ids in wanted.items()
            for x, cid in (await state.resolve_external(conn, T, entity, system, ids)).items()
        }
        links = await state.fetch_links_of(
            conn, T, {"counterparty": ["c1", "c699", "nobody"], "offer": ["o1"]}
        )
    assert found == one_at_a_time
    assert (found[("offer", "site", "1")], found[("offer", "onec", "1")]) == ("o1", "o2")
    assert len(found) == len(range(0, 700, 3)) + 2
    assert links == {
        ("counterparty", "c1"): {"site": "1", "bitrix24": "b1"},
        ("counterparty", "c699"): {"site": "699"},
        ("offer", "o1"): {"site": "1"},
    }
