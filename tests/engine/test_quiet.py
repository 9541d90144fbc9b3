"""Keys one system queued for a linked object are read in that system first, and done there when it shows
the agreed base (engine/quiet.py, issue 14): the echoes of obmen's own writes cost one read, the other
systems' changes still arrive with their own keys, and the bookkeeping is what a full merge keeps."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from obmen.connectors.base import Change
from obmen.engine.context import Engine, EngineSettings
from obmen.engine.policy import Policy
from obmen.engine.scheduler import enqueue_changes
from obmen.engine.worker import Worker, WorkerOptions
from obmen.store import queue, state, tables
from obmen.store.database import Database
from obmen.testing.fakes import FakeSystem, ManualClock

FIELDS = {"order": ["number", "status", "comment"]}
POLICY = {"order.status": "fact:N<P<F"}


class Rig:
    def __init__(self, db: Database) -> None:
        self.db, self.clock = db, ManualClock()
        self.site = FakeSystem("site", fields=FIELDS, clock=self.clock, seed=1)
        self.crm = FakeSystem("bitrix24", fields=FIELDS, clock=self.clock, seed=2)
        settings = EngineSettings(
            batch_size=50, lease_seconds=30, max_attempts=3, backoff_base=1, backoff_cap=10
        )
        self.engine = Engine(
            db=db,
            connectors={"site": self.site, "bitrix24": self.crm},
            policy=Policy.build(POLICY),
            settings=settings,
            clock=self.clock,
        )

    async def events(self, fake: FakeSystem) -> None:
        changes = fake.take_notifications()
        await enqueue_changes(self.engine, fake.system, changes, trigger=f"{fake.system}:event")

    async def drain(self) -> None:
        self.clock.advance(1)
        await Worker(self.engine, name="w", options=WorkerOptions(tenant_lease=False)).drain()

    async def placed(self) -> tuple[str, str, str]:
        """An order placed on the site and reconciled, and the CRM's echo of the create taken in."""
        order = self.site.create("order", {"number": "1", "status": "N", "comment": None})
        await self.events(self.site)
        await self.drain()
        await self.events(self.crm)
        await self.drain()
        (deal,) = self.crm.objects("order")
        async with self.db.begin() as conn:
            cid = (await state.resolve_external(conn, self.engine.tenant, "order", "site", [order]))[order]
        return cid, order, deal

    async def edited_on_site(self, **changes: Any) -> tuple[str, str, str]:
        """An order placed, then edited on the site and the edit reconciled into the CRM."""
        cid, order, deal = await self.placed()
        self.site.edit("order", order, **changes)
        await self.events(self.site)
        await self.drain()
        assert {k: self.crm.get("order", deal)[k] for k in changes} == changes
        return cid, order, deal

    async def edited_in_crm(self) -> tuple[str, str, list[Change]]:
        """An order placed, then its deal's comment edited in the CRM; the CRM's event is not queued."""
        _, order, deal = await self.placed()
        self.crm.edit("order", deal, comment="доставка завтра")
        return order, deal, self.crm.take_notifications()

    async def kept(self, cid: str) -> tuple[Any, Any]:
        async with self.db.begin() as conn:
            bases, sides = await state.load_agreements(conn, self.engine.tenant, "order", [cid])
        return bases[cid], sides.get(cid, {})

    async def journal(self) -> int:
        async with self.db.begin() as conn:
            return int(
                (await conn.execute(sa.select(sa.func.count()).select_from(tables.journal))).scalar_one()
            )


async def test_an_echo_is_read_where_it_came_from_and_nowhere_else(db: Database) -> None:
    rig = Rig(db)
    await rig.edited_on_site(comment="позвонить")
    site, journal = rig.site.calls["fetch"], await rig.journal()
    await rig.events(rig.crm)  # the CRM's event about obmen's own write
    await rig.drain()
    assert rig.site.calls["fetch"] == site  # the site was not asked
    assert await rig.journal() == journal
    async with db.begin() as conn:
        left = (await conn.execute(sa.select(sa.func.count()).select_from(tables.work_items))).scalar_one()
    assert left == 0


async def test_a_change_elsewhere_still_arrives_with_its_own_key(db: Database) -> None:
    rig = Rig(db)
    order, _, crm_event = await rig.edited_in_crm()
    await enqueue_changes(rig.engine, "site", [Change("order", order)], trigger="site:event")
    await rig.drain()  # the site shows its base: done, the CRM's edit not read yet
    assert rig.site.get("order", order)["comment"] is None
    await enqueue_changes(rig.engine, "bitrix24", crm_event, trigger="bitrix24:event")
    await rig.drain()
    assert rig.site.get("order", order)["comment"] == "доставка завтра"


async def test_keys_from_two_systems_folded_into_one_are_read_everywhere(db: Database) -> None:
    rig = Rig(db)
    order, deal, _ = await rig.edited_in_crm()
    await enqueue_changes(rig.engine, "bitrix24", [Change("order", deal)], trigger="bitrix24:event")
    await enqueue_changes(rig.engine, "site", [Change("order", order)], trigger="site:event")
    async with db.begin() as conn:
        rows = (await conn.execute(sa.select(tables.work_items.c.system))).all()
    assert [r.system for r in rows] == [None]
    await rig.drain()
    assert rig.site.get("order", order)["comment"] == "доставка завтра"


async def test_the_resync_reads_every_side(db: Database) -> None:
    rig = Rig(db)
    order, _, _ = await rig.edited_in_crm()  # the CRM's event was lost
    await enqueue_changes(rig.engine, "site", [Change("order", order)], trigger="resync")
    await rig.drain()
    assert rig.site.get("order", order)["comment"] == "доставка завтра"


async def test_a_quiet_echo_keeps_what_a_full_merge_keeps_and_a_step_back_still_counts(db: Database) -> None:
    """The CRM's echo of a status obmen wrote is quiet; what the CRM showed of the fact is kept as a full
    merge keeps it, so the manager who then moves the deal back is heard (docs/architecture.md §2.11)."""
    quiet = Rig(db)
    cid, order, deal = await quiet.edited_on_site(status="P")
    before = await quiet.kept(cid)
    site = quiet.site.calls["fetch"]
    await quiet.events(quiet.crm)
    await quiet.drain()
    assert quiet.site.calls["fetch"] == site
    base, sides = await quiet.kept(cid)
    assert base == before[0]
    # The same echo as a key that names no system takes the full path: the same bookkeeping.
    async with db.begin() as conn:
        await state.save_sides(conn, quiet.engine.tenant, "order", {cid: before[1]})
        await queue.enqueue(
            db,
            conn,
            quiet.engine.tenant,
            [queue.NewItem("order", canonical_id=cid, trigger="x")],
            now=quiet.clock(),
        )
    await quiet.drain()
    assert quiet.site.calls["fetch"] == site + 1
    full = await quiet.kept(cid)
    assert (base, sides) == full
    assert sides["shown"]["bitrix24"]["status"] == 1
    quiet.crm.edit("order", deal, status="N")  # a manager takes the deal back
    await quiet.events(quiet.crm)
    await quiet.drain()
    assert quiet.site.get("order", order)["status"] == "N"
