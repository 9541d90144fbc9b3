"""`Capabilities.read_only` through the engine and the store (docs/architecture.md §2.15).

A site shows its buyer's phones but takes no write of them: a CRM edit reaches the other system, is never
written to the site, and the site's old value, read again and again, never undoes it; once the site's
value moves, it votes.
"""

from __future__ import annotations

import dataclasses

from obmen.engine.context import Engine, EngineSettings
from obmen.engine.policy import Policy
from obmen.engine.scheduler import enqueue_changes
from obmen.engine.worker import Worker, WorkerOptions
from obmen.store.database import Database
from obmen.testing.fakes import FakeSystem, ManualClock

FIELDS = {"counterparty": ["name", "phones"]}
OLD, EDITED, MOVED = ["+79120000001"], ["+79120000001", "+74950000002"], ["+79990000003"]


def _setup(db: Database) -> tuple[Engine, dict[str, FakeSystem], ManualClock]:
    clock = ManualClock()
    site = FakeSystem("site", fields=FIELDS, creates=[], clock=clock, seed=1)
    site.capabilities = dataclasses.replace(
        site.capabilities, read_only={"counterparty": frozenset({"phones"})}
    )
    fakes = {
        "site": site,
        "bitrix24": FakeSystem("bitrix24", fields=FIELDS, clock=clock, seed=2),
        "onec": FakeSystem("onec", fields=FIELDS, clock=clock, seed=3),
    }
    settings = EngineSettings(batch_size=50, lease_seconds=30, max_attempts=3, backoff_base=1, backoff_cap=10)
    return (
        Engine(db=db, connectors=fakes, policy=Policy.build({}), settings=settings, clock=clock),
        fakes,
        clock,
    )


async def _round(engine: Engine, fakes: dict[str, FakeSystem], clock: ManualClock) -> None:
    clock.advance(1)
    for name, fake in fakes.items():
        await enqueue_changes(engine, name, fake.take_notifications(), trigger=f"{name}:push")
    await Worker(engine, name="w1", options=WorkerOptions(tenant_lease=False)).drain()


def _only(fake: FakeSystem) -> tuple[str, dict[str, object]]:
    [(external_id, fields)] = fake.objects("counterparty").items()
    return external_id, fields


async def test_a_crm_edit_is_not_written_to_the_read_only_side_nor_undone_by_it(db: Database) -> None:
    engine, fakes, clock = _setup(db)
    site_id = fakes["site"].create("counterparty", {"name": "Ирина", "phones": OLD})
    await _round(engine, fakes, clock)
    crm_id, crm = _only(fakes["bitrix24"])
    assert crm["phones"] == OLD

    fakes["bitrix24"].edit("counterparty", crm_id, phones=EDITED)
    await _round(engine, fakes, clock)
    assert _only(fakes["onec"])[1]["phones"] == EDITED
    assert fakes["site"].get("counterparty", site_id) == {"name": "Ирина", "phones": OLD}

    # The site is read again, newer than the CRM, still showing what it showed: nothing is undone.
    fakes["site"].edit("counterparty", site_id, name="Ирина")
    await _round(engine, fakes, clock)
    assert _only(fakes["bitrix24"])[1]["phones"] == EDITED
    assert _only(fakes["onec"])[1]["phones"] == EDITED
    assert fakes["site"].get("counterparty", site_id) == {"name": "Ирина", "phones": OLD}

    # The buyer gives another phone on the site: that moves, and it reaches the others.
    fakes["site"].edit("counterparty", site_id, phones=MOVED)
    await _round(engine, fakes, clock)
    assert _only(fakes["bitrix24"])[1]["phones"] == MOVED
    assert _only(fakes["onec"])[1]["phones"] == MOVED


async def test_a_create_carries_no_field_the_target_only_shows(db: Database) -> None:
    """An object made on a side that only shows a field (a site order's buyer, docs/protocols/site-rest.md
    §6.5) is made without it; the other fields go, and the side still shows nothing to vote with."""
    engine, fakes, clock = _setup(db)
    site = fakes["site"]
    site.capabilities = dataclasses.replace(site.capabilities, creates=frozenset({"counterparty"}))
    fakes["bitrix24"].create("counterparty", {"name": "Олег", "phones": OLD})
    await _round(engine, fakes, clock)
    [(site_id, made)] = site.objects("counterparty").items()
    assert made.get("name") == "Олег"
    assert made.get("phones") in (None, [])
    assert _only(fakes["onec"])[1]["phones"] == OLD
    await _round(engine, fakes, clock)
    assert _only(fakes["bitrix24"])[1]["phones"] == OLD
    assert site.get("counterparty", site_id).get("phones") in (None, [])


async def test_an_update_carries_what_its_target_showed_of_the_fields_it_writes(db: Database) -> None:
    """`Update.read`: a connector that reads again before it writes compares with it (§2.11)."""
    engine, fakes, clock = _setup(db)
    fakes["site"].create("counterparty", {"name": "Ирина", "phones": OLD})
    await _round(engine, fakes, clock)
    crm_id, _ = _only(fakes["bitrix24"])
    onec_id, _ = _only(fakes["onec"])
    seen: list[object] = []
    write = fakes["onec"].write

    async def recording(ops):  # type: ignore[no-untyped-def]
        seen.extend(ops)
        return await write(ops)

    fakes["onec"].write = recording  # type: ignore[method-assign]
    fakes["bitrix24"].edit("counterparty", crm_id, name="Ирина Смирнова")
    await _round(engine, fakes, clock)
    assert [(op.external_id, op.fields, op.read) for op in seen] == [  # type: ignore[attr-defined]
        (onec_id, {"name": "Ирина Смирнова"}, {"name": "Ирина"})
    ]
