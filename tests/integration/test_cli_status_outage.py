"""`obmen status` names a system that refuses obmen first, in both languages (docs/architecture.md §2.13)."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path

from obmen.store.database import Database
from obmen.store.outages import Outage, save_outage

SINCE = 1_767_225_600.0  # 2026-01-01 00:00:00 UTC


async def _refusing(url: str) -> None:
    db = Database.connect(url)
    try:
        async with db.begin() as conn:
            outage = Outage("bitrix24", "ACCESS_DENIED: REST is for paid plans", SINCE, SINCE + 180, probes=1)
            await save_outage(conn, "default", outage, now=SINCE + 60)
    finally:
        await db.close()


def test_status_says_which_system_refuses_since_when_and_when_it_is_tried_again(tmp_path: Path) -> None:
    env = {**os.environ, "OBMEN_STATE_DIR": str(tmp_path / "state")}

    def obmen(*args: str) -> subprocess.CompletedProcess[str]:
        command = [sys.executable, "-m", "obmen", *args]
        return subprocess.run(command, env=env, capture_output=True, text=True, timeout=60, cwd=tmp_path)

    assert obmen("db", "upgrade").returncode == 0
    asyncio.run(_refusing(f"sqlite:///{tmp_path / 'state' / 'obmen.db'}"))
    text = obmen("status")
    data = json.loads(obmen("status", "--json").stdout)
    assert text.returncode == 0, text.stderr
    line = next(x for x in text.stdout.splitlines() if "refuses" in x)
    assert "Bitrix24 refuses: ACCESS_DENIED: REST is for paid plans since 2026-01-01 00:00:00 UTC" in line
    assert "next probe at 2026-01-01 00:03:00 UTC" in line
    assert "Битрикс24 отказывает: ACCESS_DENIED" in line
    [outage] = data["outages"]
    assert (outage["system"], outage["since"], outage["next_probe"], outage["probes"]) == (
        "bitrix24",
        SINCE,
        SINCE + 180,
        1,
    )
    assert all(not c["source"].startswith("breaker:") for c in data["checkpoints"])
