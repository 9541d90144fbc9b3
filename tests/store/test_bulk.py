"""`execute_many` writes what `conn.execute(statement, rows)` writes, on both stores (store/bulk.py)."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa

from obmen.store import bulk, queue
from obmen.store import mirror as mirror_store
from obmen.store.database import Database
from obmen.store.state import bases
from obmen.store.tables import mirror, work_items


def _queue_rows(prefix: str, not_before: float) -> list[dict[str, Any]]:
    return [
        {
            "tenant": "default",
            "key": f"product@onec:{prefix}{i}",
            "lock": "product@new",
            "entity": "product",
            "canonical_id": None,
            "system": "onec",
            "external_id": f"{prefix}{i}",
            "state": "pending",
            "not_before": not_before + i,
            "attempts": 0,
            "trigger": "test",
            "enqueued_at": 5,  # an integer where the column is a float: SQLite's processor makes it one
            "last_error": "waits for «it»" if i % 2 else None,
            "waiting_since": None,
        }
        for i in range(3)
    ]


async def _table(db: Database, table: sa.Table, order: Any) -> list[tuple[Any, ...]]:
    async with db.begin() as conn:
        rows = await conn.execute(sa.select(table).order_by(*order))
        return [tuple(v for k, v in r._mapping.items() if k != "id") for r in rows]


@pytest.mark.parametrize("fast", [True, False])
async def test_the_queue_upsert_writes_what_sqlalchemy_writes(db: Database, fast: bool) -> None:
    """Inserted rows, and a conflict on a pending key keeping the earlier `not_before`, alike."""
    upsert = queue.pending_insert(db)
    async with db.begin() as conn:
        assert bulk._plan(upsert, conn.dialect, tuple(_queue_rows("a", 0)[0])) is not None
        write = bulk.execute_many if fast else (lambda c, s, r: c.execute(s, r))
        await write(conn, upsert, _queue_rows("a", 10.0))
        await write(conn, upsert, _queue_rows("a", 5.0) + _queue_rows("b", 1.5))
    rows = await _table(db, work_items, (work_items.c.key,))
    assert [(r[1], r[8]) for r in rows] == [
        ("product@onec:a0", 5.0),
        ("product@onec:a1", 6.0),
        ("product@onec:a2", 7.0),
        ("product@onec:b0", 1.5),
        ("product@onec:b1", 2.5),
        ("product@onec:b2", 3.5),
    ]
    assert all(isinstance(r[12], float) and r[12] == 5.0 for r in rows)
    assert [r[10] for r in rows][:2] == [None, "waits for «it»"]


async def test_a_mirror_insert_through_the_driver_equals_one_through_sqlalchemy(db: Database) -> None:
    def rows(system: str) -> list[dict[str, Any]]:
        return [
            {
                "tenant": "default",
                "system": system,
                "entity": "offer",
                "external_id": f"o{i}",
                "fields": f'{{"name":"Чай №{i} %s"}}',  # a percent sign is data, not a placeholder
                "fingerprint": f"f{i}",
                "origin": None,
                "deleted": i % 2,
                "seen_at": 1.0,
                "changed_at": 2.0,
                "digest": None if i else "d0",
            }
            for i in range(4)
        ]

    insert = mirror.insert()
    async with db.begin() as conn:
        await bulk.execute_many(conn, insert, rows("onec"))
        await conn.execute(insert, rows("site"))
    written = await _table(db, mirror, (mirror.c.system, mirror.c.external_id))
    fast = [r[2:] for r in written if r[1] == "onec"]
    ordinary = [r[2:] for r in written if r[1] == "site"]
    assert fast == ordinary
    assert len(fast) == 4
    assert fast[0][2] == '{"name":"Чай №0 %s"}'


async def test_a_statement_the_driver_cannot_take_as_compiled_takes_the_ordinary_path(db: Database) -> None:
    """A value bound in the statement itself is no row's key: no plan, and the rows are still written."""
    stmt = (
        sa.update(work_items)
        .where(work_items.c.tenant == "default", work_items.c.key == sa.bindparam("k"))
        .values(attempts=sa.bindparam("n"))
    )
    async with db.begin() as conn:
        await bulk.execute_many(conn, queue.pending_insert(db), _queue_rows("a", 1.0))
        assert bulk._plan(stmt, conn.dialect, ("k", "n")) is None
        await bulk.execute_many(
            conn,
            stmt,
            [{"k": f"product@onec:a{i}", "n": n} for i, n in enumerate((3, 3, 4))],
        )
    assert [r[9] for r in await _table(db, work_items, (work_items.c.key,))] == [3, 3, 4]


async def test_no_rows_is_no_statement(db: Database) -> None:
    before = db.statements
    async with db.begin() as conn:
        await bulk.execute_many(conn, mirror.insert(), [])
    assert db.statements == before


async def test_the_hot_bulk_writes_go_straight_to_the_driver(db: Database) -> None:
    """The statements the 1C absorb and every settle run take the fast path, not the fallback."""
    base_keys = ("tenant", "entity", "canonical_id", "fields", "fingerprint", "updated_at")
    async with db.begin() as conn:
        dialect = conn.dialect
        assert bulk._plan(bases._upsert(db.is_postgres), dialect, base_keys) is not None
        assert bulk._plan(mirror_store._INSERT, dialect, tuple(c.name for c in mirror.c)) is not None
        assert bulk._plan(queue.pending_insert(db), dialect, tuple(_queue_rows("a", 0)[0])) is not None
