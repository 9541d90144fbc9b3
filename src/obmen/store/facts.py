"""What the connected systems really have (pipelines, stages, statuses, users, fields), as `obmen check`
last read it: kept in the store so the dashboard shows it beside the mapping without calling a remote
system on every page load (docs/operations.md §7.1).

One row of `cursors` per system under `facts:<system>`, holding JSON; its `updated_at` is when it was read.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from obmen.store.database import Database
from obmen.store.state import cursors_under, set_cursor

__all__ = ["PREFIX", "Facts", "read_facts", "save_facts"]

PREFIX = "facts:"


@dataclass(frozen=True, slots=True)
class Facts:
    """One system's facts and when they were read."""

    system: str
    data: dict[str, Any]
    read_at: float


async def save_facts(db: Database, tenant: str, system: str, data: dict[str, Any], *, now: float) -> None:
    """Replace what is known of `system` by what was just read."""
    async with db.begin() as conn:
        await set_cursor(conn, tenant, PREFIX + system, json.dumps(data, ensure_ascii=False), now=now)


async def read_facts(db: Database, tenant: str) -> dict[str, Facts]:
    """Every system's last read facts; a row this code cannot read is left out."""
    async with db.begin() as conn:
        rows = await cursors_under(conn, tenant, PREFIX)
    out: dict[str, Facts] = {}
    for source, (value, at) in rows.items():
        try:
            data = json.loads(value or "")
        except ValueError:
            continue
        if isinstance(data, dict):
            system = source[len(PREFIX) :]
            out[system] = Facts(system, data, float(at))
    return out
