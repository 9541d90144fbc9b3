"""obmen's own notes in `cursors` (loads, breakers, what `obmen check` read) are never shown as a system's
checkpoints, by `obmen status` or by the overview: both leave them out by one list (store/notes.py)."""

from __future__ import annotations

from obmen.store import notes, state
from obmen.store.database import Database
from obmen.store.overview import overview
from obmen.store.status import read_status

NOW = 1_000_000.0


async def test_only_the_systems_checkpoints_are_listed_as_checkpoints(db: Database) -> None:
    async with db.begin() as conn:
        await state.set_cursor(conn, "default", "onec:catalog", "ok: import.xml", now=NOW)
        for prefix in notes.OWN:
            await state.set_cursor(conn, "default", f"{prefix}onec", "{}", now=NOW)
    status = await read_status(db, "default", now=NOW)
    assert [c["source"] for c in status.checkpoints] == ["onec:catalog"]
    systems = (await overview(db, "default", now=NOW))["systems"]
    assert [c["source"] for c in systems["onec"]["checkpoints"]] == ["onec:catalog"]
    assert [notes.own(s) for s in ("progress:full", "facts:site", "site:orders")] == [True, True, False]
