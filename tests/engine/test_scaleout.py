"""Scale-out on PostgreSQL with real `obmen worker` processes (procrastinate's acceptance tier).

Two workers share one database and three fake systems kept in SQLite files. The fake records every
overlapping fetch of the same object by two processes; per-key locks must keep that at zero. Then one
worker is killed with SIGKILL in the middle of its work: after the lease runs out the other takes the
tenant over and finishes everything; nothing is lost, nothing is created twice.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from obmen.connectors.base import Change
from obmen.engine.context import Engine
from obmen.engine.policy import Policy
from obmen.engine.scheduler import enqueue_changes
from obmen.store.database import Database
from obmen.testing.fakes import FakeSystem

# Several processes on one database: PostgreSQL only (SQLite serves one process).
pytestmark = [pytest.mark.pg, pytest.mark.parametrize("database_url", ["postgres"], indirect=True)]

FIELDS = {"counterparty": ["name", "emails", "phones", "comment"], "order": ["number", "status", "comment"]}
SYSTEMS = ("onec", "site", "bitrix24")


def fakes(tmp: Path, **kwargs: object) -> dict[str, FakeSystem]:
    return {name: FakeSystem(name, fields=FIELDS, path=str(tmp / f"{name}.db"), **kwargs) for name in SYSTEMS}  # type: ignore[arg-type]


def spawn(url: str, tmp: Path, *flags: str, latency: float = 0.02) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "OBMEN_DATABASE__URL": url,
        "OBMEN_WORKER__LEASE_SECONDS": "3",
        "OBMEN_WORKER__TENANT_LEASE_SECONDS": "3",
        "OBMEN_WORKER__BATCH_SIZE": "10",
        "OBMEN_WORKER__POLL_INTERVAL": "0.2",
    }
    fake_args = [a for name in SYSTEMS for a in ("--fake", f"{name}={tmp / f'{name}.db'}")]
    fake_args += ["--fake-latency", str(latency), "--fake-overlaps", str(tmp / "overlaps")]
    with (tmp / "workers.log").open("ab") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "obmen.testing.worker", "--no-schedule", *fake_args, *flags],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=log,
        )


async def seed(url: str, tmp: Path, count: int) -> dict[str, FakeSystem]:
    systems = fakes(tmp)
    site = systems["site"]
    for i in range(count):
        site.create("counterparty", {"name": f"Клиент {i}", "emails": [f"c{i}@example.ru"]})
    db = Database.connect(url)
    engine = Engine(db=db, connectors=systems, policy=Policy.build())  # type: ignore[arg-type]
    changes = [Change("counterparty", x) for x in site.objects("counterparty")]
    await enqueue_changes(engine, "site", changes, trigger="test")
    await db.close()
    return systems


def wait_for(predicate: object, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return True
        time.sleep(0.2)
    return False


def stop(*procs: subprocess.Popen[bytes]) -> None:
    for proc in procs:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
    for proc in procs:
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()


def synced(systems: dict[str, FakeSystem], count: int) -> bool:
    return all(len(systems[n].objects("counterparty")) >= count for n in ("onec", "bitrix24"))


def test_two_workers_never_reconcile_the_same_key_at_once(database_url: str, tmp_path: Path) -> None:
    count = 120
    systems = asyncio.run(seed(database_url, tmp_path, count))
    # Without the tenant lease both workers claim at once: only the per-key locks keep them apart.
    workers = [spawn(database_url, tmp_path, "--no-tenant-lease") for _ in range(2)]
    try:
        # A stream of events keeps every key coming back while the workers are busy with it: only the
        # per-key locks stop the second worker from taking a key the first one is reconciling.
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and not synced(systems, count):
            asyncio.run(_refeed(database_url, systems))
        assert synced(systems, count), "workers did not finish"
        for _ in range(10):
            asyncio.run(_refeed(database_url, systems))
    finally:
        stop(*workers)
    assert [len(systems[n].objects("counterparty")) for n in SYSTEMS] == [count] * 3
    overlaps = tmp_path / "overlaps"
    records = (
        sorted(p.name for p in overlaps.iterdir() if not p.name.startswith(".")) if overlaps.exists() else []
    )
    assert records == []
    assert sum(len(f.writes()) for f in systems.values()) == 2 * count


async def _refeed(url: str, systems: dict[str, FakeSystem]) -> None:
    db = Database.connect(url)
    engine = Engine(db=db, connectors=systems, policy=Policy.build())  # type: ignore[arg-type]
    for name, fake in systems.items():
        fake.take_notifications()
        changes = [Change("counterparty", x) for x in fake.objects("counterparty")]
        await enqueue_changes(engine, name, changes, trigger="event")
    await db.close()
    await asyncio.sleep(0.1)


def test_sigkill_mid_batch_loses_nothing(database_url: str, tmp_path: Path) -> None:
    count = 80
    systems = asyncio.run(seed(database_url, tmp_path, count))
    victim = spawn(database_url, tmp_path, latency=0.3)
    assert wait_for(lambda: len(systems["bitrix24"].objects("counterparty")) > 0, 60), "victim never started"
    heir = spawn(database_url, tmp_path, latency=0.3)  # waits: the victim holds the tenant lease
    victim.send_signal(signal.SIGKILL)
    victim.wait(timeout=10)
    try:
        assert wait_for(lambda: synced(systems, count), 120), "the heir did not finish the victim's work"
    finally:
        stop(heir)
    assert [len(systems[n].objects("counterparty")) for n in SYSTEMS] == [count] * 3
    for name in ("onec", "bitrix24"):
        origins = list(systems[name].origins("counterparty").values())
        assert len(set(origins)) == count  # one object per canonical id: no create was repeated
