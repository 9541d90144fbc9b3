"""`Remote.incomplete`: a side that lacks a part obmen maintains is rewritten once, then left alone."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

from obmen.connectors.base import Remote, WriteOp, WriteResult
from obmen.engine.context import Engine, EngineSettings
from obmen.engine.policy import Policy
from obmen.engine.scheduler import enqueue_changes, full_resync
from obmen.engine.worker import Worker, WorkerOptions
from obmen.store.database import Database
from obmen.testing.fakes import FakeSystem, ManualClock

FIELDS = {"order": ["number", "status", "lines"]}
#: A basket, as the fakes keep it (any value: the engine compares it whole).
LINES = [["Чай", "1"]]


class WithParts(FakeSystem):
    """A CRM whose orders have a second part (an invoice) that only an obmen write builds.

    Honest to the contract: an order reads as incomplete until a write reaches it, and a write builds
    the part from the fields it carries, as the Bitrix24 connector builds a smart invoice from them.
    """

    def __init__(self, *args: Any, **kw: Any) -> None:
        super().__init__(*args, **kw)
        #: external id → the fields the part was built from.
        self.parts: dict[str, dict[str, Any]] = {}

    async def fetch(self, entity: str, external_ids: Sequence[str]) -> Mapping[str, Remote]:
        found = await super().fetch(entity, external_ids)
        # The number lives in the part (as an order's number lives in its invoice): without it, unknown.
        return {
            k: self._whole(r, self.parts[k]) if k in self.parts else self._lacking(r)
            for k, r in found.items()
        }

    @staticmethod
    def _whole(remote: Remote, part: Mapping[str, Any]) -> Remote:
        return dataclasses.replace(remote, fields={**remote.fields, "number": part["number"]})

    @staticmethod
    def _lacking(remote: Remote) -> Remote:
        fields = {k: v for k, v in remote.fields.items() if k != "number"}
        return dataclasses.replace(remote, fields=fields, incomplete=True)

    async def write(self, ops: Sequence[WriteOp]) -> Sequence[WriteResult]:
        results = await super().write(ops)
        for result in results:
            if result.ok and result.external_id is not None:
                part = self.parts.setdefault(result.external_id, {})
                part.update(result.op.fields)
                # A part built without a number is numbered after its deal, as `CRM-<deal>` (writes.py).
                part.setdefault("number", f"CRM-{result.external_id}")
        return results


def _setup(db: Database) -> tuple[Engine, dict[str, FakeSystem], ManualClock]:
    clock = ManualClock()
    fakes: dict[str, FakeSystem] = {
        "site": FakeSystem("site", fields=FIELDS, clock=clock, seed=1),
        "bitrix24": WithParts("bitrix24", fields=FIELDS, clock=clock, seed=2),
    }
    settings = EngineSettings(batch_size=50, lease_seconds=30, max_attempts=3, backoff_base=1, backoff_cap=10)
    engine = Engine(db=db, connectors=fakes, policy=Policy.build({}), settings=settings, clock=clock)
    return engine, fakes, clock


async def _round(engine: Engine, fakes: dict[str, FakeSystem]) -> None:
    for name, fake in fakes.items():
        await enqueue_changes(engine, name, fake.take_notifications(), trigger=f"{name}:push")
    await Worker(engine, name="w1", options=WorkerOptions(tenant_lease=False)).drain()


async def test_incomplete_side_with_nothing_to_add_is_written_once_then_left_alone(db: Database) -> None:
    engine, fakes, clock = _setup(db)
    crm = fakes["bitrix24"]
    assert isinstance(crm, WithParts)
    # A manager's deal: its number would live in the part, so it has none yet.
    deal = crm.create("order", {"status": "N", "lines": [{"name": "Кеды"}]})

    await _round(engine, fakes)
    # Nothing differs on the CRM side, yet its part is built from every field obmen carries there.
    updates = [w for w in crm.writes() if w["kind"] == "update"]
    assert updates == [
        {
            "kind": "update",
            "entity": "order",
            "id": deal,
            "canonical_id": None,
            "fields": {"status": "N", "lines": [{"name": "Кеды"}]},
        }
    ]
    assert crm.parts[deal] == {"number": f"CRM-{deal}", "status": "N", "lines": [{"name": "Кеды"}]}
    # The site got the order only once it read back complete: with the number the CRM made up.
    (made,) = fakes["site"].objects("order").values()
    assert made == {"number": f"CRM-{deal}", "status": "N", "lines": [{"name": "Кеды"}]}

    # Complete now: echoes, further rounds and a full resync write nothing anywhere.
    before = sum(len(f.writes()) for f in fakes.values())
    for _ in range(3):
        clock.advance(60)
        await _round(engine, fakes)
    await full_resync(engine)
    await _round(engine, fakes)
    assert sum(len(f.writes()) for f in fakes.values()) == before


async def test_incomplete_side_with_a_change_gets_every_carried_field(db: Database) -> None:
    engine, fakes, clock = _setup(db)
    crm = fakes["bitrix24"]
    assert isinstance(crm, WithParts)
    site_id = fakes["site"].create("order", {"number": "B-2", "status": "N", "lines": LINES})
    await _round(engine, fakes)
    (deal,) = crm.objects("order")
    assert not [w for w in crm.writes() if w["kind"] == "update"]  # made whole by obmen's create
    crm.parts.pop(deal)  # the part vanished (a manager deleted the invoice), and the number with it
    fakes["site"].edit("order", site_id, status="P")

    clock.advance(60)
    await _round(engine, fakes)
    last = [w for w in crm.writes() if w["kind"] == "update"][-1]
    # The change alone would be {"status": "P"}: the incomplete side gets the whole order instead.
    assert last["fields"] == {"number": "B-2", "status": "P", "lines": LINES}
    assert crm.parts[deal]["status"] == "P"
    # The number the CRM could not show was unknown there, not erased: the site keeps it.
    assert fakes["site"].get("order", site_id) == {"number": "B-2", "status": "P", "lines": LINES}


async def test_an_order_without_lines_reaches_the_other_systems_once_it_has_them(db: Database) -> None:
    """A deal made in the CRM before its products (the demo's flow 5 raced it): an empty order is not
    created elsewhere, since a site cannot add lines to an order made empty; with lines it is."""
    engine, fakes, _ = _setup(db)
    crm = fakes["bitrix24"]
    deal = crm.create("order", {"number": "CRM-3", "status": "N", "lines": []})
    await _round(engine, fakes)
    assert fakes["site"].objects("order") == {}
    crm.edit("order", deal, lines=LINES)
    await _round(engine, fakes)
    assert [o["lines"] for o in fakes["site"].objects("order").values()] == [LINES]
