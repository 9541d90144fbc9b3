"""The last files a partner uploaded, on SQLite and PostgreSQL (docs/architecture.md §2.5)."""

from __future__ import annotations

import os
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from obmen.connectors.onec.repeats import Repeats, file_digest, file_kind
from obmen.store import mirror, uploads
from obmen.store.database import Database
from obmen.store.mirror import MirrorRecord
from obmen.store.uploads import Upload

T, S = "default", "onec"


def upload(
    name: str = "import0_1.xml", *, digest: str = "d1", full: bool = False, at: float = 10.0
) -> Upload:
    entities = frozenset({"product", "category"})
    return Upload(
        file_kind(name), name, digest, entities, entities if full else frozenset(), "r1", not full, at
    )


async def test_a_remembered_file_holds_until_one_of_its_entities_changes(db: Database) -> None:
    repeats = Repeats(db, T, S)
    async with db.begin() as conn:
        await mirror.absorb(conn, T, S, [MirrorRecord("product", "a", {"name": "A"})], now=5.0)
    await repeats.remember(upload())
    assert await repeats.held("import", "import0_1.xml", "d1") == upload()
    assert await repeats.held("import", "import0_1.xml", "d2") is None
    assert await repeats.held("offers", "import0_1.xml", "d1") is None
    async with db.begin() as conn:
        # Sent again unchanged (only seen): still holds; another entity changed: still holds.
        await mirror.absorb(conn, T, S, [MirrorRecord("product", "a", {"name": "A"})], now=11.0)
        await mirror.absorb(conn, T, S, [MirrorRecord("offer", "a", {"name": "A"})], now=12.0)
    assert await repeats.held("import", "import0_1.xml", "d1") is not None
    async with db.begin() as conn:
        await mirror.absorb(conn, T, S, [MirrorRecord("product", "a", {"name": "B"})], now=13.0)
    assert await repeats.held("import", "import0_1.xml", "d1") is None


async def test_a_full_file_holds_only_once_its_run_settled(db: Database) -> None:
    repeats = Repeats(db, T, S)
    await repeats.remember(upload(full=True))
    assert await repeats.held("import", "import0_1.xml", "d1") is None
    async with db.begin() as conn:
        # The run's own retirement, after `retired_from`, does not void it.
        await mirror.absorb(conn, T, S, [MirrorRecord("product", "gone", {"active": False})], now=21.0)
    assert await repeats.settle("r1", retired_from=20.0, now=22.0) == 1
    held = await repeats.held("import", "import0_1.xml", "d1")
    assert held is not None
    assert (held.settled, held.held_at) == (True, 22.0)


async def test_a_file_changed_under_by_its_run_before_deactivate_is_forgotten(db: Database) -> None:
    repeats = Repeats(db, T, S)
    await repeats.remember(upload(full=True))
    async with db.begin() as conn:
        await mirror.absorb(conn, T, S, [MirrorRecord("product", "a", {"name": "later file"})], now=15.0)
    assert await repeats.settle("r1", retired_from=20.0, now=22.0) == 0
    async with db.begin() as conn:
        assert await uploads.last(conn, T, S, "import", "import0_1.xml") is None


async def test_void_and_forget_drop_files(db: Database) -> None:
    repeats = Repeats(db, T, S)
    await repeats.remember(upload("import0_1.xml", full=True))
    await repeats.remember(upload("rests___1.xml"))
    await repeats.void("r1", {"product"})
    async with db.begin() as conn:
        assert await uploads.last(conn, T, S, "import", "import0_1.xml") is None
        assert await uploads.last(conn, T, S, "rests", "rests___1.xml") is not None
    await repeats.forget([("rests", "rests___1.xml")])
    assert await repeats.held("rests", "rests___1.xml", "d1") is None


async def test_old_files_of_a_kind_are_dropped_when_a_new_one_is_remembered(db: Database) -> None:
    repeats = Repeats(db, T, S)
    await repeats.remember(upload("import___a.xml", at=1.0))
    await repeats.remember(upload("import___b.xml", at=1.0 + 31 * 86400))
    async with db.begin() as conn:
        assert await uploads.last(conn, T, S, "import", "import___a.xml") is None
        assert await uploads.last(conn, T, S, "import", "import___b.xml") is not None


def test_file_kinds_follow_1c_names() -> None:
    assert file_kind("import0_1.xml") == "import"
    assert file_kind("goods/1/rests___5f0c.xml") == "rests"
    assert file_kind("Offers0_1.XML") == "offers"
    assert file_kind("1.xml") == "file"


BODY = os.urandom(3 * 1024 * 1024 + 17)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(at=st.integers(0, len(BODY) - 1), flip=st.integers(1, 255))
def test_any_byte_changed_anywhere_changes_the_digest(tmp_path: Path, at: int, flip: int) -> None:
    original, changed = tmp_path / "a.xml", tmp_path / "b.xml"
    original.write_bytes(BODY)
    changed.write_bytes(BODY[:at] + bytes([BODY[at] ^ flip]) + BODY[at + 1 :])
    assert file_digest(original) != file_digest(changed)
    assert file_digest(original) == file_digest(original)
