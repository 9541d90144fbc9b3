"""The next 1C file is read while the last one is absorbed, and imports exactly what reading it when
asked would (connectors/onec/ahead.py, docs/architecture.md §2.5).

Over the real exchange endpoint, backend and store (SQLite, and PostgreSQL under `pg`); the helper
process reads every file (`min_bytes=0`). Each run is compared with the same run on a store whose
backend reads only when asked (the default threshold, far above these files: no helper, no read ahead).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from onec_client import OneC

from obmen.connectors.commerceml import RunContext
from obmen.connectors.mirrored.ingest import MirrorIngest
from obmen.connectors.mirrored.records import FileReport
from obmen.connectors.onec.ahead import Ahead, next_file
from obmen.connectors.onec.backend import OneCBackend
from obmen.connectors.onec.server import ExchangeEndpoint
from obmen.connectors.onec.spooler import Spooler
from obmen.connectors.onec.uploads import Limits
from obmen.store import mirror
from obmen.store.database import Database, upgrade
from obmen.testing.fakes import ManualClock
from obmen.web.app import create_app

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "commerceml"
AUTH = ("exchange", "s3cret")
T, S = "default", "onec"
ENTITIES = ("category", "property", "product", "offer", "price_type", "warehouse")


class Stack:
    def __init__(self, db: Database, tmp: Path, *, ahead: bool) -> None:
        self.db = db
        self.clock = ManualClock()
        self.backend = OneCBackend(MirrorIngest(db, T, S, clock=self.clock), clock=self.clock)
        if ahead:
            self.backend.spooler = Spooler(min_bytes=0)
        self.endpoint = ExchangeEndpoint(
            self.backend, login=AUTH[0], password=AUTH[1], workdir=tmp / "runs", limits=Limits()
        )
        self.endpoint.clock = self.clock
        #: Files read when asked (`Spooler.run`), and files read by the helper (either way), by name.
        self.asked: list[str] = []
        self.helper: list[str] = []
        run, in_helper = self.backend.spooler.run, self.backend.spooler.run_in_helper

        def spy_run(path: Path, *args: Any) -> Path:
            self.asked.append(path.name)
            return run(path, *args)

        def spy_helper(path: Path, *args: Any) -> Path | None:
            self.helper.append(path.name)
            return in_helper(path, *args)

        self.backend.spooler.run = spy_run  # type: ignore[method-assign]
        self.backend.spooler.run_in_helper = spy_helper  # type: ignore[method-assign]

    async def catalog(self, files: dict[str, bytes]) -> list[str]:
        app = create_app(self.db, routes=self.endpoint.routes(), clock=self.clock)
        transport = httpx.ASGITransport(app)
        async with httpx.AsyncClient(transport=transport, base_url="http://obmen", auth=AUTH) as http:
            return await OneC(http).catalog(files, zipped=True)

    async def mirrored(self) -> dict[tuple[str, str], tuple[Any, ...]]:
        out: dict[tuple[str, str], tuple[Any, ...]] = {}
        async with self.db.begin() as conn:
            for entity in ENTITIES:
                ids = await mirror.scan(conn, T, S, entity, None, 10_000)
                rows = await mirror.read(conn, T, S, entity, ids)
                out |= {(entity, x): (r.fields, r.deleted, r.digest) for x, r in rows.items()}
        return out

    def close(self) -> None:
        self.backend.spooler.close()


@pytest.fixture
async def stacks(db: Database, tmp_path: Path) -> AsyncIterator[tuple[Stack, Stack]]:
    url = f"sqlite:///{tmp_path / 'plain.db'}"
    upgrade(url)
    plain_db = Database.connect(url)
    ahead, plain = Stack(db, tmp_path / "ahead", ahead=True), Stack(plain_db, tmp_path / "plain", ahead=False)
    yield ahead, plain
    ahead.close()
    plain.close()
    await plain_db.close()


def _files(folder: str, *names: str) -> dict[str, bytes]:
    return {name: (FIXTURES / folder / name).read_bytes() for name in names}


async def test_the_offers_are_read_while_the_catalog_is_absorbed_and_import_the_same(
    stacks: tuple[Stack, Stack],
) -> None:
    ahead, plain = stacks
    files = _files("ut11-small-2.07", "import0_1.xml", "offers0_1.xml")
    replies = await ahead.catalog(files)
    assert [r.split("\n")[0] for r in replies] == ["success"] * 3, replies
    assert await plain.catalog(files) == replies
    # The offers were read by the helper once, ahead, and not again when 1C asked for them.
    assert ahead.helper == ["import0_1.xml", "offers0_1.xml"]
    assert ahead.asked == ["import0_1.xml"]
    assert plain.asked == ["import0_1.xml", "offers0_1.xml"]
    assert await ahead.mirrored() == await plain.mirrored()
    assert any(entity == "offer" for entity, _ in await ahead.mirrored())


async def test_a_wrong_guess_is_read_again_as_asked_and_imports_the_same(stacks: tuple[Stack, Stack]) -> None:
    """The classifier alone first; 1C then asks for the offers, not the catalog read ahead."""
    ahead, plain = stacks
    files = _files("ut11-demo-carono", "classifier.xml", "offers.xml", "import_wo_classifier.xml")
    replies = await ahead.catalog(files)
    assert all(r.startswith("success") for r in replies), replies
    assert await plain.catalog(files) == replies
    # Read ahead after the classifier, then dropped: the offers came first and changed the context.
    assert ahead.helper.count("import_wo_classifier.xml") == 2
    assert ahead.asked == ["classifier.xml", "offers.xml"]
    assert await ahead.mirrored() == await plain.mirrored()


async def test_a_broken_file_read_ahead_fails_at_its_own_import(stacks: tuple[Stack, Stack]) -> None:
    ahead, _ = stacks
    files = _files("ut11-small-2.07", "import0_1.xml", "offers0_1.xml")
    files["offers0_1.xml"] = files["offers0_1.xml"][: len(files["offers0_1.xml"]) // 2]
    replies = await ahead.catalog(files)
    assert replies[0].startswith("success"), replies
    assert replies[1].startswith("failure"), replies
    assert "offers0_1.xml" in replies[1]
    mirrored = await ahead.mirrored()
    assert any(entity == "product" for entity, _ in mirrored)
    assert not any(entity == "offer" for entity, _ in mirrored)


async def test_a_file_sent_again_unchanged_is_not_read_ahead(stacks: tuple[Stack, Stack]) -> None:
    """The catalog changed, its offers did not: they are acknowledged unread, ahead or not."""
    ahead, _ = stacks
    files = _files("ut11-small-2.07", "import0_1.xml", "offers0_1.xml")
    await ahead.catalog(files)
    ahead.helper.clear()
    ahead.clock.advance(60)
    files["import0_1.xml"] = files["import0_1.xml"].replace(
        "Коврики для дома".encode(), "Коврики для дачи".encode()
    )
    replies = await ahead.catalog(files)
    assert replies[0].startswith("success"), replies
    assert "not read again" in replies[1]
    assert ahead.helper == ["import0_1.xml"]


# -- the rules of taking a file read ahead ------------------------------------------------------------


async def _done(tmp_path: Path, digest: str = "d1", fail: bool = False) -> tuple[Ahead, Path]:
    spool = tmp_path / "offers.xml.records"
    spool.write_text("x\n")

    async def read() -> tuple[str, tuple[Path, RunContext, FileReport]] | None:
        if fail:
            raise RuntimeError("the helper broke")
        return digest, (spool, RunContext(), FileReport())

    return Ahead("offers.xml", 3, asyncio.ensure_future(read())), spool


@pytest.mark.parametrize(
    ("name", "digest", "generation", "held", "written"),
    [
        ("other.xml", "d1", 3, set(), set()),  # 1C asked for another file
        ("offers.xml", "d2", 3, set(), set()),  # the same name, other bytes
        ("offers.xml", "d1", 4, set(), set()),  # another file was read meanwhile
        ("offers.xml", "d1", 3, {"offer"}, {"product", "offer"}),  # an answer it used may be stale
    ],
)
async def test_a_file_read_ahead_is_dropped_when_what_it_relied_on_changed(
    tmp_path: Path, name: str, digest: str, generation: int, held: set[str], written: set[str]
) -> None:
    ahead, spool = await _done(tmp_path)
    ahead.held, ahead.written = held, written
    assert await ahead.take(name, digest, generation) is None
    await asyncio.sleep(0)  # the drop's callback runs once the reading has ended
    await asyncio.sleep(0)
    assert not spool.exists()


async def test_a_file_read_ahead_is_taken_when_it_still_holds(tmp_path: Path) -> None:
    ahead, spool = await _done(tmp_path)
    ahead.held, ahead.written = {"offer"}, {"product", "category"}
    taken = await ahead.take("offers.xml", "d1", 3)
    assert taken is not None
    assert taken[0] == spool
    assert spool.exists()


async def test_a_reading_ahead_that_failed_leaves_the_file_to_be_read_when_asked(tmp_path: Path) -> None:
    ahead, _ = await _done(tmp_path, fail=True)
    assert await ahead.take("offers.xml", "d1", 3) is None


def test_the_next_file_is_the_one_1c_sends_next(tmp_path: Path) -> None:
    for name in ("import0_1.xml", "offers0_1.xml", "prices0_1.xml", "rests0_1.xml", "notes.txt"):
        (tmp_path / name).write_text("<КоммерческаяИнформация/>")
    current = tmp_path / "import0_1.xml"
    assert next_file(current, {"import0_1.xml"}, 0) == tmp_path / "offers0_1.xml"
    assert next_file(current, {"import0_1.xml", "offers0_1.xml"}, 0) == tmp_path / "prices0_1.xml"
    assert next_file(current, set(), 1 << 20) is None  # too small to be worth the helper
