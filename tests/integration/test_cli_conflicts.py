"""`obmen conflicts list|resolve` against a real store: the decision is the dashboard's."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from obmen.store import state
from obmen.store.database import Database, upgrade


def _obmen(*args: str) -> list[str]:
    return [sys.executable, "-m", "obmen", *args]


@pytest.fixture
def store(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path}/obmen.db"
    upgrade(url)
    return url


async def _one_conflict(url: str) -> None:
    db = Database.connect(url)
    try:
        async with db.begin() as conn:
            await state.record_conflicts(
                conn, "default", "order", [("c1", "comment", None, {"site": "А", "bitrix24": "Б"})], now=10.0
            )
    finally:
        await db.close()


def _run(url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {"OBMEN_DATABASE__URL": url, "PATH": "/usr/bin:/bin", "COLUMNS": "200"}
    return subprocess.run(_obmen("conflicts", *args), env=env, capture_output=True, text=True, timeout=60)


async def test_list_then_resolve_by_side_or_value(store: str) -> None:
    await _one_conflict(store)
    listed = _run(store, "list", "--json")
    assert listed.returncode == 0, listed.stderr
    (conflict,) = json.loads(listed.stdout)
    assert conflict["candidates"] == {"site": "А", "bitrix24": "Б"}
    table = _run(store, "list")
    assert "Conflicts / конфликты: 1" in table.stdout
    assert _run(store, "resolve", str(conflict["id"])).returncode == 2  # neither --side nor --value
    wrong = _run(store, "resolve", str(conflict["id"]), "--side", "onec")
    assert wrong.returncode == 2
    assert "side must be one of bitrix24, site" in wrong.stderr
    assert _run(store, "resolve", str(conflict["id"]), "--value", "{oops", "--json").returncode == 2
    done = _run(store, "resolve", str(conflict["id"]), "--side", "site")
    assert done.returncode == 0, done.stderr
    assert 'order.comment = "А"' in done.stdout
    typed = _run(store, "resolve", str(conflict["id"]), "--value", "Домофон")
    assert typed.returncode == 0
    (decided,) = json.loads(_run(store, "list", "--json").stdout)
    assert decided["decision"] == "Домофон"
    assert decided["decided_by"].startswith("cli:")
    assert decided["decided_side"] is None
    assert _run(store, "resolve", "999", "--side", "site").returncode == 2
