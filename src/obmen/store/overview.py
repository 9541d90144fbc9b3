"""What the operator's dashboard shows at a glance (docs/operations.md §7.1).

Each system's health as the store sees it (its last exchange or event from the checkpoints, its last
confirmed and failed writes from the journal), the counts of queued, waiting, retrying, parked and
conflicting items, throughput and latency per time bucket from the journal, and the lists of parked
and waiting items with their reasons. Read-only; every query is bounded.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from obmen.store import facts, notes, outages
from obmen.store.database import Connection, Database
from obmen.store.queue import WAITS_FOR
from obmen.store.tables import conflicts, cursors, journal, links, parked, work_items

__all__ = ["counts", "overview", "parked_items", "parked_keys", "waiting_items"]

_W = work_items.c
_J = journal.c


async def overview(
    db: Database, tenant: str, *, now: float, hours: int = 24, bucket: float = 3600.0
) -> dict[str, Any]:
    """Systems' health, item counts and the journal's throughput and latency per `bucket` seconds."""
    since = now - hours * 3600.0
    async with db.begin() as conn:
        return {
            "now": now,
            "systems": await _systems(conn, tenant, since),
            "counts": await _counts(conn, tenant, now),
            "series": await _series(conn, db, tenant, since, now, bucket),
            "bucket": bucket,
        }


async def counts(db: Database, tenant: str, *, now: float) -> dict[str, int]:
    """The item counts alone (the dashboard's badges poll them)."""
    async with db.begin() as conn:
        return await _counts(conn, tenant, now)


async def _systems(conn: Connection, tenant: str, since: float) -> dict[str, dict[str, Any]]:
    """System → last checkpoint (source, value, time), last applied and failed write, links, writes since."""
    out: dict[str, dict[str, Any]] = {}

    def of(system: str) -> dict[str, Any]:
        return out.setdefault(
            system,
            {
                "checkpoints": [],
                "last_write_at": None,
                "last_failure": None,
                "writes": 0,
                "failed": 0,
                "links": 0,
                "outage": None,
            },
        )

    # What `obmen check` read is large (users, stages, fields) and not shown here: left in the table.
    query = sa.select(cursors).where(cursors.c.tenant == tenant, ~cursors.c.source.startswith(facts.PREFIX))
    marks = list(await conn.execute(query))
    for row in marks:
        if notes.own(row.source):  # obmen's own notes (breakers, loads), not a system's checkpoints
            continue
        system = row.source.partition(":")[0]
        of(system)["checkpoints"].append({"source": row.source, "value": row.value, "at": row.updated_at})
    # An open breaker: the system refuses obmen (docs/architecture.md §2.13).
    for system, outage in outages.outages_of({r.source: (r.value, r.updated_at) for r in marks}).items():
        of(system)["outage"] = outage
    # Writes only: links found by matching and an operator's decisions change no remote object.
    remote = sa.and_(_J.tenant == tenant, _J.target_system != "obmen", _J.action != "link")
    rows = await conn.execute(
        sa.select(_J.target_system, _J.status, sa.func.max(_J.at), sa.func.count())
        .where(remote, _J.at >= since)
        .group_by(_J.target_system, _J.status)
    )
    for system, status, at, count in rows:
        if status == "applied":
            of(system).update(last_write_at=at, writes=count)
        elif status == "failed":
            of(system)["failed"] = count
    failures = await conn.execute(
        sa.select(_J.target_system, _J.at, _J.error)
        .where(remote, _J.status == "failed", _J.at >= since)
        .order_by(_J.at.desc())
        .limit(50)
    )
    for row in failures:
        entry = of(row.target_system)
        if entry["last_failure"] is None:
            entry["last_failure"] = {"at": row.at, "error": row.error}
    counted = await conn.execute(
        sa.select(links.c.system, sa.func.count()).where(links.c.tenant == tenant).group_by(links.c.system)
    )
    for system, count in counted:
        of(system)["links"] = count
    for entry in out.values():
        entry["checkpoints"].sort(key=lambda c: -c["at"])
        entry["last_event_at"] = entry["checkpoints"][0]["at"] if entry["checkpoints"] else None
    return dict(sorted(out.items()))


async def _counts(conn: Connection, tenant: str, now: float) -> dict[str, int]:
    """Queued (due), delayed, running, waiting (for a referenced object), held (by a refusing system),
    retrying, parked, conflicts."""
    waits = _W.last_error.like(f"{WAITS_FOR}%")
    kind = sa.case(
        (_W.state == "running", "running"),
        (waits, "waiting"),
        (_W.last_error.like(f"{outages.HELD}%"), "held"),
        (_W.last_error.is_not(None), "retrying"),
        (_W.not_before > now, "delayed"),
        else_="queued",
    )
    counts = dict.fromkeys(("queued", "delayed", "running", "waiting", "held", "retrying"), 0)
    rows = await conn.execute(sa.select(kind, sa.func.count()).where(_W.tenant == tenant).group_by(kind))
    counts.update({str(r[0]): int(r[1]) for r in rows})
    counts["depth"] = sum(counts.values())
    counts["parked"] = await _count(conn, sa.select(parked).where(parked.c.tenant == tenant))
    open_ = sa.and_(conflicts.c.tenant == tenant, conflicts.c.resolved_at.is_(None))
    counts["conflicts"] = await _count(conn, sa.select(conflicts).where(open_))
    counts["decided"] = await _count(
        conn, sa.select(conflicts).where(open_, conflicts.c.decided_at.is_not(None))
    )
    return counts


async def _count(conn: Connection, query: sa.Select[Any]) -> int:
    return int((await conn.execute(sa.select(sa.func.count()).select_from(query.subquery()))).scalar_one())


async def _series(
    conn: Connection, db: Database, tenant: str, since: float, now: float, bucket: float
) -> list[dict[str, Any]]:
    """Per bucket from `since`: writes applied and failed, mean and max latency (enqueue → confirmed)."""
    offset = (_J.at - since) / bucket
    # Both truncate a positive number toward zero; PostgreSQL's CAST would round instead.
    index = sa.func.floor(offset) if db.is_postgres else sa.cast(offset, sa.Integer)
    latency = _J.settled_at - _J.enqueued_at
    applied = _J.status == "applied"
    rows = await conn.execute(
        sa.select(
            index.label("i"),
            sa.func.sum(sa.case((applied, 1), else_=0)),
            sa.func.sum(sa.case((_J.status == "failed", 1), else_=0)),
            sa.func.avg(sa.case((applied, latency), else_=None)),
            sa.func.max(sa.case((applied, latency), else_=None)),
        )
        .where(_J.tenant == tenant, _J.at >= since, _J.target_system != "obmen", _J.action != "link")
        .group_by(index)
    )
    found = {int(r[0]): r for r in rows}
    out = []
    for i in range(int((now - since) // bucket) + 1):
        r = found.get(i)
        out.append(
            {
                "at": since + i * bucket,
                "writes": int(r[1] or 0) if r else 0,
                "failed": int(r[2] or 0) if r else 0,
                "latency_avg": float(r[3]) if r and r[3] is not None else None,
                "latency_max": float(r[4]) if r and r[4] is not None else None,
            }
        )
    return out


async def parked_items(
    db: Database, tenant: str, *, limit: int = 50, offset: int = 0, reason: str | None = None
) -> dict[str, Any]:
    """Parked items, newest first, a page at a time; and how many share each reason."""
    where = [parked.c.tenant == tenant]
    if reason is not None:
        where.append(parked.c.reason == reason)
    async with db.begin() as conn:
        query = sa.select(parked).where(*where)
        total = await _count(conn, query)
        page = query.order_by(parked.c.parked_at.desc(), parked.c.key).limit(limit).offset(offset)
        items = [r._asdict() for r in await conn.execute(page)]
        grouped = await conn.execute(
            sa.select(parked.c.reason, sa.func.count())
            .where(parked.c.tenant == tenant)
            .group_by(parked.c.reason)
            .order_by(sa.func.count().desc(), parked.c.reason)
            .limit(20)
        )
        reasons = [{"reason": r, "count": c} for r, c in grouped]
    return {"total": total, "items": items, "reasons": reasons, "limit": limit, "offset": offset}


async def parked_keys(db: Database, tenant: str, reason: str) -> list[str]:
    """Keys of every parked item with exactly this reason (to retry them together)."""
    async with db.begin() as conn:
        rows = await conn.execute(
            sa.select(parked.c.key).where(parked.c.tenant == tenant, parked.c.reason == reason)
        )
        return [r.key for r in rows]


async def waiting_items(db: Database, tenant: str, *, limit: int = 50, offset: int = 0) -> dict[str, Any]:
    """Queue items that carry a reason (waiting for a referenced object, or retrying after an error)."""
    where = sa.and_(_W.tenant == tenant, _W.last_error.is_not(None))
    async with db.begin() as conn:
        query = sa.select(work_items).where(where)
        total = await _count(conn, query)
        page = query.order_by(_W.enqueued_at, _W.id).limit(limit).offset(offset)
        items = [
            {
                "key": r.key,
                "entity": r.entity,
                "canonical_id": r.canonical_id,
                "system": r.system,
                "external_id": r.external_id,
                "state": r.state,
                "reason": r.last_error,
                "waiting": r.last_error.startswith(WAITS_FOR),
                "attempts": r.attempts,
                "trigger": r.trigger,
                "enqueued_at": r.enqueued_at,
                "not_before": r.not_before,
            }
            for r in await conn.execute(page)
        ]
    return {"total": total, "items": items, "limit": limit, "offset": offset}
