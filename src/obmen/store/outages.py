"""Open circuit breakers, kept in the store so that every process shows them (docs/architecture.md §2.13).

An outage is a row of `cursors` under `breaker:<system>` holding JSON: why the system refuses, since when,
how many probes failed and when the next one is due. The worker that holds the tenant's lease probes and
closes it; `obmen status`, the dashboard and a scheduler in another process read it. Work items held back
by an outage are pending with a `last_error` that begins with `HELD`, so closing the breaker can release
them at once.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from obmen.store.state import cursors_under, set_cursor
from obmen.store.tables import cursors, work_items

__all__ = [
    "HELD",
    "PREFIX",
    "Outage",
    "clear_outage",
    "held_reason",
    "outages_of",
    "read_outages",
    "save_outage",
]

PREFIX = "breaker:"
#: How the `last_error` of an item held back by an outage begins.
HELD = "held back: "


@dataclass(frozen=True, slots=True)
class Outage:
    """One system that refuses obmen: its breaker is open."""

    system: str
    reason: str
    #: When the breaker opened (a failed probe does not move it).
    since: float
    #: When the system is to be tried again.
    next_probe: float
    #: Probes that failed since it opened.
    probes: int = 0


def held_reason(system: str, reason: str) -> str:
    """The `last_error` of an item held back while `system` refuses."""
    return f"{HELD}{system} refuses: {reason}"


def outages_of(rows: dict[str, tuple[str | None, float]]) -> dict[str, Outage]:
    """The outages among `cursors` rows (source → (value, updated_at)); unreadable rows are skipped."""
    out: dict[str, Outage] = {}
    for source, (value, _) in rows.items():
        if not source.startswith(PREFIX) or not value:
            continue
        try:
            data = json.loads(value)
            outage = Outage(
                system=str(data["system"]),
                reason=str(data["reason"]),
                since=float(data["since"]),
                next_probe=float(data["next_probe"]),
                probes=int(data.get("probes", 0)),
            )
        except (ValueError, KeyError, TypeError):
            continue
        out[outage.system] = outage
    return out


async def read_outages(conn: AsyncConnection, tenant: str) -> dict[str, Outage]:
    """Every open breaker of the tenant: system → outage."""
    return outages_of(await cursors_under(conn, tenant, PREFIX))


async def save_outage(conn: AsyncConnection, tenant: str, outage: Outage, *, now: float) -> None:
    """Open a breaker, or record a failed probe."""
    value = json.dumps(asdict(outage), ensure_ascii=False)
    await set_cursor(conn, tenant, PREFIX + outage.system, value, now=now)


async def clear_outage(conn: AsyncConnection, tenant: str, system: str, *, now: float) -> int:
    """Close a breaker and release the items it held back; returns how many were released."""
    await conn.execute(
        sa.delete(cursors).where(cursors.c.tenant == tenant, cursors.c.source == PREFIX + system)
    )
    w = work_items.c
    result = await conn.execute(
        sa.update(work_items)
        .where(
            w.tenant == tenant,
            w.state == "pending",
            w.not_before > now,
            w.last_error.startswith(held_reason(system, ""), autoescape=True),
        )
        .values(not_before=now)
    )
    return int(result.rowcount or 0)
