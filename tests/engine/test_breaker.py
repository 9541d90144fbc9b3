"""An outage is not an item's failure (docs/architecture.md §2.13): the breaker's states, and the engine
behind it with a system that refuses every call."""

from __future__ import annotations

import asyncio
import shutil
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from obmen.connectors.base import Change
from obmen.engine.breaker import Breakers, probe_interval
from obmen.engine.context import Engine, EngineSettings
from obmen.engine.policy import Policy
from obmen.engine.scheduler import Scheduler, enqueue_changes
from obmen.engine.worker import Worker, WorkerOptions
from obmen.errors import AccessRefused
from obmen.store import tables
from obmen.store.database import Database
from obmen.store.keeper import Leases
from obmen.store.status import read_status
from obmen.testing.fakes import FakeSystem, ManualClock

FIRST, CAP = 60.0, 1800.0
FIELDS = {"order": ["number", "comment"]}


@given(probes=st.integers(min_value=0, max_value=200))
def test_probe_intervals_double_from_the_first_up_to_the_cap(probes: int) -> None:
    interval = probe_interval(probes, first=FIRST, cap=CAP)
    assert interval == min(CAP, FIRST * 2**probes)
    assert FIRST <= interval <= CAP
    assert probe_interval(probes + 1, first=FIRST, cap=CAP) >= interval


@dataclass
class Model:
    """What the breaker should be: open or not, since when, failed probes, next probe, calls made."""

    open: bool = False
    since: float = 0.0
    probes: int = 0
    next_probe: float = 0.0
    calls: int = 0

    def refused(self, now: float) -> None:
        if not self.open:
            self.open, self.since, self.probes, self.next_probe = True, now, 0, now + FIRST
        elif now >= self.next_probe:
            self.probes += 1
            self.next_probe = now + min(CAP, FIRST * 2**self.probes)


ACTIONS = st.lists(
    st.one_of(
        st.just(("refuse", 0.0)),
        st.tuples(st.just("advance"), st.floats(min_value=0, max_value=4000)),
        st.tuples(st.just("probe"), st.sampled_from([0.0, 1.0])),
    ),
    max_size=25,
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(actions=ACTIONS)
def test_the_breaker_opens_probes_on_schedule_and_closes_on_an_answer(
    sqlite_template: Path, tmp_path: Path, actions: list[tuple[str, float]]
) -> None:
    path = tmp_path / f"{uuid.uuid4().hex}.db"
    shutil.copy(sqlite_template, path)
    asyncio.run(_run_breaker(f"sqlite:///{path}", actions))


async def _run_breaker(url: str, actions: list[tuple[str, float]]) -> None:
    db = Database.connect(url)
    clock = ManualClock()
    portal = FakeSystem("bitrix24", fields=FIELDS, clock=clock)
    breakers = Breakers(db, "t", clock=clock, first=FIRST, cap=CAP, refresh=0.0)
    model = Model()
    try:
        for kind, value in actions:
            if kind == "refuse":
                await breakers.refused(AccessRefused("no", system="bitrix24", reason="plan"))
                model.refused(clock.now)
            elif kind == "advance":
                clock.advance(value)
            else:
                answers = value == 1.0
                portal.knobs.refuse = None if answers else "plan"
                await breakers.probe({"bitrix24": portal})
                if model.open and clock.now >= model.next_probe:
                    model.calls += 1  # a probe is one call, made only when due
                    if answers:
                        model.open = False
                    else:
                        model.refused(clock.now)
            assert portal.requests == model.calls
            for view in (breakers, await _reread(db, clock)):
                outage = view.outage("bitrix24")
                assert (outage is not None) == model.open
                if outage is not None:
                    assert (outage.since, outage.probes) == (model.since, model.probes)
                    assert outage.next_probe == pytest.approx(model.next_probe)
    finally:
        await db.close()


async def _reread(db: Database, clock: ManualClock) -> Breakers:
    """Another process's view: what the store says."""
    other = Breakers(db, "t", clock=clock, first=FIRST, cap=CAP)
    await other.refresh()
    return other


def _engine(
    db: Database,
    clock: ManualClock,
    refuse: str | None,
    fields: dict[str, dict[str, list[str]]] | None = None,
) -> tuple[Engine, dict[str, FakeSystem]]:
    carried = fields or {"site": FIELDS, "bitrix24": FIELDS}
    fakes = {n: FakeSystem(n, fields=f, clock=clock, seed=i) for i, (n, f) in enumerate(carried.items())}
    fakes["bitrix24"].knobs.refuse = refuse
    settings = EngineSettings(max_attempts=2, backoff_base=1, backoff_cap=5, probe_first=FIRST, probe_cap=CAP)
    return Engine(db=db, connectors=fakes, policy=Policy.build(), settings=settings, clock=clock), fakes


async def test_a_refusing_portal_holds_its_work_parks_nothing_and_is_called_on_the_probe_schedule(
    db: Database,
) -> None:
    clock = ManualClock()
    engine, fakes = _engine(db, clock, refuse="ACCESS_DENIED: REST API is available only on commercial plans")
    orders = [fakes["site"].create("order", {"number": f"S-{n}", "comment": ""}) for n in range(5)]
    await enqueue_changes(engine, "site", [Change("order", o) for o in orders], trigger="site:push")
    worker = Worker(engine, name="w", options=WorkerOptions(tenant_lease=False))
    start = clock.now
    for _ in range(3600 // 5):  # an hour, a look every 5 s: far more than max_attempts
        await worker.drain()
        clock.advance(5)
    status = await read_status(db, engine.tenant, now=clock.now)
    assert status.parked_total == 0
    [outage] = status.outages
    assert (outage.system, outage.since) == ("bitrix24", start)
    assert outage.reason.startswith("ACCESS_DENIED")
    async with db.begin() as conn:
        items = (await conn.execute(sa.select(tables.work_items))).all()
    assert len(items) == 5
    assert all(i.attempts == 0 for i in items)  # held, not failed
    assert all(i.last_error.startswith("held back: bitrix24 refuses: ACCESS_DENIED") for i in items)
    # The first batch's call, then one probe at 1, 3, 7, 15 and 31 min (60 s doubled, §2.13): 6 calls.
    assert fakes["bitrix24"].requests == 6

    fakes["bitrix24"].knobs.refuse = None  # the plan is paid
    clock.advance(outage.next_probe - clock.now)
    await worker.drain()
    made = fakes["bitrix24"].objects("order").values()
    assert sorted(o["number"] for o in made) == [f"S-{n}" for n in range(5)]
    status = await read_status(db, engine.tenant, now=clock.now)
    assert (status.outages, status.depth, status.parked_total) == ([], 0, 0)


async def test_work_that_does_not_need_the_refusing_system_goes_on(db: Database) -> None:
    clock = ManualClock()
    category = {"category": ["name"]}
    systems = {"onec": category, "site": {**FIELDS, **category}, "bitrix24": FIELDS}
    engine, fakes = _engine(db, clock, refuse="NO_AUTH_FOUND", fields=systems)
    await engine.breakers.refused(AccessRefused("no", system="bitrix24", reason="NO_AUTH_FOUND"))
    group = fakes["onec"].create("category", {"name": "Чай"})
    await enqueue_changes(engine, "onec", [Change("category", group)], trigger="onec:exchange")
    await Worker(engine, name="w", options=WorkerOptions(tenant_lease=False)).drain()
    assert [c["name"] for c in fakes["site"].objects("category").values()] == ["Чай"]
    assert fakes["bitrix24"].requests == 0


async def test_the_scheduler_opens_the_breaker_once_and_then_leaves_the_system_alone(
    db: Database, caplog: pytest.LogCaptureFixture
) -> None:
    clock = ManualClock()
    engine, fakes = _engine(db, clock, refuse="PAYMENT_REQUIRED")
    leases = Leases(db, "w", ttl=30, clock=clock)
    scheduler = Scheduler(engine, leases=leases, poll_interval=5, resync_interval=3600)
    for _ in range(10):
        await scheduler.tick()  # never raises: the refusal is an outage, not a failed round
        clock.advance(5)
    assert fakes["bitrix24"].requests == 1
    outage = engine.breakers.outage("bitrix24")
    assert outage is not None
    assert outage.reason == "PAYMENT_REQUIRED"
    opened = [r for r in caplog.records if "refuses obmen" in r.getMessage()]
    assert len(opened) == 1
    assert not [r for r in caplog.records if r.exc_info]
