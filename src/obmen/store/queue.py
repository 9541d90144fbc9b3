"""The durable work queue of keys (docs/architecture.md §2.1).

Semantics, after procrastinate's `queueing_lock` + `lock` and controller-runtime's de-duplicating queue:

* An item is a *key*: `order:<canonical id>` for a linked object, `order@site:<external id>` for one
  that obmen has not linked yet. At most one *pending* item per key (a unique partial index); enqueuing
  a key that is already pending only pulls its `not_before` earlier.
* At most one *running* item per `lock`. A linked key is its own lock. Unlinked keys of one entity
  share the lock `<entity>@new`, so two new objects that are the same real-world thing (the same
  person created on two sides) are matched one after the other, never both created.
* A claim takes a batch of one entity type, oldest first, skipping locked rows (`FOR UPDATE SKIP
  LOCKED` on PostgreSQL), in one `UPDATE … RETURNING` statement served by the index
  `(tenant, state, not_before, id)`. Claims of one tenant are serialised by a transaction-scoped
  advisory lock on PostgreSQL (SQLite serialises writers anyway), so the lock check and the claim are
  one atomic step; the statement taking it also asks whether anything is ready, so an empty claim is
  one statement on either store. A bulk enqueue refreshes the queue's statistics on PostgreSQL
  (`database.refresh_statistics`): a claim planned on a table believed empty walks every pending row.
* A running item has a lease. A worker that dies stops renewing it; the next claim after expiry puts
  its items back (or drops them where a newer pending item for the key already exists).
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TypeVar

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from obmen.store.bulk import execute_many
from obmen.store.database import Database, refresh_statistics
from obmen.store.tables import links, work_items

#: A row of `work_items` as the upserts take it.
_Row = TypeVar("_Row", bound=Mapping[str, object])

__all__ = ["Claimed", "NewItem", "claim", "enqueue", "heartbeat", "in_lock_order", "pending_insert"]

_W = work_items.c


@dataclass(frozen=True, slots=True)
class NewItem:
    """A key to enqueue: linked (`canonical_id`) or not yet linked (`system` + `external_id`).

    A linked key may name the `system` whose event, poll or ping queued it: the one source its reconcile
    reads first (engine/quiet.py). Folded with a key from another system, it names none.
    """

    entity: str
    canonical_id: str | None = None
    system: str | None = None
    external_id: str | None = None
    trigger: str = "manual"
    delay: float = 0.0
    #: What it waits for, as a wait names it ("counterparty 7 in site"): due after `delay` at the latest,
    #: and at once when an object of that entity is linked (`release_waiters`, docs/architecture.md §2.14).
    waits_for: str | None = None

    @property
    def key(self) -> str:
        """The de-duplication key."""
        if self.canonical_id is not None:
            return f"{self.entity}:{self.canonical_id}"
        return f"{self.entity}@{self.system}:{self.external_id}"

    @property
    def lock(self) -> str:
        """The serialisation lock: the key itself, or one lock for all new objects of the entity."""
        return self.key if self.canonical_id is not None else f"{self.entity}@new"


@dataclass(frozen=True, slots=True)
class Claimed:
    """A work item a worker holds until it completes, fails or its lease runs out."""

    id: int
    key: str
    entity: str
    canonical_id: str | None
    system: str | None
    external_id: str | None
    attempts: int
    trigger: str
    enqueued_at: float
    #: When it began waiting for a referenced object, if it waits (docs/architecture.md §2.14).
    waiting_since: float | None = None


def in_lock_order(db: Database, rows: Iterable[_Row]) -> list[_Row]:
    """Rows for `pending_insert` in the order PostgreSQL should lock them: by key, on PostgreSQL.

    Two upserts of overlapping keys in different orders each wait for the other's uncommitted insert of
    a key the other holds, a deadlock PostgreSQL breaks by failing one (seen when an echo finished fast
    enough to leave its key pending while a feed queued it again). In one order, one waits for the other.
    SQLite lets one writer in at a time, and keeps the order the keys came in (the order claims take).
    """
    return sorted(rows, key=lambda r: str(r["key"])) if db.is_postgres else list(rows)


def pending_insert(db: Database, *, carry_attempts: bool = False) -> sa.Insert:
    """An upsert into the pending set: an existing pending key keeps the earlier `not_before`.

    With `carry_attempts` (a retry folding into a newer pending item) the attempt count and last error
    carry over too, so a key that keeps failing still reaches the parking threshold. Executed with a
    list of rows (executemany), so its compiled form is cached; a multi-row VALUES clause would be
    compiled again for every batch size.
    """
    return _upsert(db.is_postgres, carry_attempts)


@functools.cache
def _upsert(postgres: bool, carry_attempts: bool) -> sa.Insert:
    # Built once per dialect: building it (`excluded` proxies every column) cost more than running it.
    where = sa.text("state = 'pending'")
    stmt = postgresql.insert(work_items) if postgres else sqlite.insert(work_items)
    lowest = sa.func.least if postgres else sa.func.min
    highest = sa.func.greatest if postgres else sa.func.max
    update: dict[str, object] = {
        "not_before": lowest(_W.not_before, stmt.excluded.not_before),
        # A linked key queued by two systems names neither: it is read everywhere (engine/quiet.py).
        "system": sa.case((_W.system == stmt.excluded.system, _W.system), else_=sa.null()),
    }
    if carry_attempts:
        update["attempts"] = highest(_W.attempts, stmt.excluded.attempts)
        update["last_error"] = stmt.excluded.last_error
        update["waiting_since"] = stmt.excluded.waiting_since
    return stmt.on_conflict_do_update(index_elements=["tenant", "key"], index_where=where, set_=update)


#: The links of some objects, named by (entity, system, external id): one statement for a whole batch,
#: served by the primary key, built once like `_upsert`.
_LINKED = sa.select(links.c.entity, links.c.system, links.c.external_id, links.c.canonical_id).where(
    links.c.tenant == sa.bindparam("tenant"),
    sa.tuple_(links.c.entity, links.c.system, links.c.external_id).in_(sa.bindparam("keys", expanding=True)),
)


#: Keys per `_LINKED` lookup (three bound values each).
_LINK_CHUNK = 500


async def _resolve_links(conn: AsyncConnection, tenant: str, items: Sequence[NewItem]) -> list[NewItem]:
    """Turn unlinked keys whose object is linked by now into linked keys (one key per object)."""
    unlinked = [i for i in items if i.canonical_id is None]
    if not unlinked:
        return list(items)
    wanted = {(i.entity, str(i.system), str(i.external_id)) for i in unlinked if i.external_id is not None}
    known: dict[tuple[str, str, str], str] = {}
    ordered = sorted(wanted)
    # In chunks: PostgreSQL refuses a 20,000-row tuple list as too deep to plan (issue 14's deep queue).
    for start in range(0, len(ordered), _LINK_CHUNK):
        rows = await conn.execute(_LINKED, {"tenant": tenant, "keys": ordered[start : start + _LINK_CHUNK]})
        known.update({(r.entity, r.system, r.external_id): r.canonical_id for r in rows})
    resolved = []
    for item in items:
        cid = known.get((item.entity, str(item.system), str(item.external_id)))
        if item.canonical_id is None and cid is not None:
            # The system that spoke stays with the linked key (engine/quiet.py reads it first).
            item = NewItem(
                entity=item.entity,
                canonical_id=cid,
                system=item.system,
                trigger=item.trigger,
                delay=item.delay,
            )
        resolved.append(item)
    return resolved


async def enqueue(
    db: Database,
    conn: AsyncConnection,
    tenant: str,
    items: Iterable[NewItem],
    *,
    now: float,
    seen: set[str] | None = None,
) -> int:
    """Add keys to the queue (de-duplicated while pending); returns how many distinct keys were given.

    `seen` collects the keys as queued (linked objects under their canonical key), so that a load that
    meets one object in three systems counts it once.
    """
    batch = await _resolve_links(conn, tenant, list(items))
    rows: dict[str, dict[str, object]] = {}
    for item in batch:
        row = rows.get(item.key)
        not_before = now + item.delay
        if row is not None:
            row["not_before"] = min(float(str(row["not_before"])), not_before)
            if row["system"] != item.system:
                row["system"] = None  # two systems spoke: the key is read everywhere
            if item.waits_for is None:  # one of the two waits for nothing: neither does the key
                row["last_error"] = row["waiting_since"] = None
            continue
        rows[item.key] = {
            "tenant": tenant,
            "key": item.key,
            "lock": item.lock,
            "entity": item.entity,
            "canonical_id": item.canonical_id,
            "system": item.system,
            "external_id": item.external_id,
            "state": "pending",
            "not_before": not_before,
            "attempts": 0,
            "trigger": item.trigger,
            "enqueued_at": now,
            "last_error": None if item.waits_for is None else f"{WAITS_FOR}{item.waits_for}",
            "waiting_since": None if item.waits_for is None else now,
        }
    values = in_lock_order(db, rows.values())
    if seen is not None:
        seen.update(rows)
    if values:
        await execute_many(conn, pending_insert(db), values)
        await refresh_statistics(conn, "work_items", len(values))
    if values and db.is_postgres:
        # Delivered at commit: idle workers wake at once instead of at their next poll (store.notify).
        await conn.execute(sa.select(sa.func.pg_notify("obmen_work", tenant)))
    return len(values)


def _reap_due(db: Database, tenant: str, now: float, lease: float) -> bool:
    """Whether this claim gives back expired claims: at most every third of a lease per process (issue 14).

    A dead worker's items return a third of a lease later at worst, and a busy or idle worker stops
    spending two statements on every claim. A clock that went back (tests) reaps at once.
    """
    after = db.reap_after.get(tenant)
    if after is not None and now < after and after - now <= lease / 3:
        return False
    db.reap_after[tenant] = now + lease / 3
    return True


async def _reap(conn: AsyncConnection, tenant: str, now: float) -> None:
    """Give the items of dead workers (expired leases) back to the queue."""
    expired = sa.and_(_W.tenant == tenant, _W.state == "running", _W.lease_until < now)
    pending = work_items.alias("pending")
    shadowed = sa.exists().where(
        pending.c.tenant == _W.tenant, pending.c.key == _W.key, pending.c.state == "pending"
    )
    await conn.execute(sa.delete(work_items).where(expired, shadowed))
    await conn.execute(
        sa.update(work_items).where(expired).values(state="pending", claimed_by=None, lease_until=None)
    )


async def _serialised(conn: AsyncConnection, tenant: str, now: float, *, asks: bool) -> bool:
    """Take the tenant's claim lock (PostgreSQL); with `asks`, also whether anything is ready at all.

    The lock comes first in its own statement: the claim after it must read a snapshot taken once the
    lock is held. The readiness test rides in the same statement, so an idle worker's empty claim costs
    one statement, as on SQLite (issue 14); a key that became ready under this snapshot waits for the next
    claim, which its enqueue's notification wakes.
    """
    lock = sa.func.pg_advisory_xact_lock(sa.func.hashtext("claim:" + tenant))
    if not asks:
        await conn.execute(sa.select(lock))
        return True
    ready = sa.exists().where(_W.tenant == tenant, _W.state == "pending", _W.not_before <= now)
    row = (await conn.execute(sa.select(lock, ready))).one()
    return bool(row[1])


async def claim(
    db: Database, tenant: str, worker: str, *, limit: int, lease: float, now: float
) -> list[Claimed]:
    """Claim up to `limit` ready items of one entity type whose lock nobody holds."""
    async with db.begin() as conn:
        running, pending = work_items.alias("running"), work_items.alias("pending")
        p = pending.c
        reaps = _reap_due(db, tenant, now, lease)
        if db.is_postgres and not await _serialised(conn, tenant, now, asks=not reaps):
            return []
        if reaps:
            await _reap(conn, tenant, now)
        free = ~sa.exists().where(
            running.c.tenant == p.tenant, running.c.lock == p.lock, running.c.state == "running"
        )
        ready = sa.and_(p.tenant == tenant, p.state == "pending", p.not_before <= now, free)
        oldest = sa.select(p.entity).where(ready).order_by(p.not_before, p.id).limit(1).scalar_subquery()
        chosen = sa.select(p.id).where(ready, p.entity == oldest).order_by(p.not_before, p.id).limit(limit)
        if db.is_postgres:
            chosen = chosen.with_for_update(skip_locked=True)
        # One statement: the oldest ready entity, its batch, and the claim itself (no round trips).
        claimed = (
            sa.update(work_items)
            .where(_W.id.in_(chosen.scalar_subquery()))
            .values(state="running", claimed_by=worker, lease_until=now + lease, attempts=_W.attempts + 1)
            .returning(
                _W.id, _W.key, _W.entity, _W.canonical_id, _W.system, _W.external_id, _W.attempts,
                _W.trigger, _W.enqueued_at, _W.not_before, _W.waiting_since,
            )
        )  # fmt: skip
        rows = sorted((await conn.execute(claimed)).all(), key=lambda r: (r.not_before, r.id))
    return [
        Claimed(
            id=r.id,
            key=r.key,
            entity=r.entity,
            canonical_id=r.canonical_id,
            system=r.system,
            external_id=r.external_id,
            attempts=r.attempts,
            trigger=r.trigger,
            enqueued_at=r.enqueued_at,
            waiting_since=r.waiting_since,
        )
        for r in rows
    ]


async def heartbeat(db: Database, worker: str, *, lease: float, now: float) -> int:
    """Extend the lease of every item `worker` holds; returns how many it still holds."""
    async with db.begin() as conn:
        result = await conn.execute(
            sa.update(work_items)
            .where(_W.claimed_by == worker, _W.state == "running")
            .values(lease_until=now + lease)
        )
    return result.rowcount


async def owned(conn: AsyncConnection, worker: str, ids: Sequence[int]) -> set[int]:
    """Which of `ids` this worker still holds (a slow worker may have lost some to lease expiry)."""
    if not ids:
        return set()
    query = sa.select(_W.id).where(_W.id.in_(ids), _W.claimed_by == worker, _W.state == "running")
    if conn.dialect.name == "postgresql":
        query = query.with_for_update()
    return {r.id for r in await conn.execute(query)}


async def relock(conn: AsyncConnection, tenant: str, moves: Sequence[tuple[int, str, str]]) -> None:
    """Re-key running unlinked items as the linked objects they turned out to be: (id, entity, cid).

    Once an unlinked item is adopted, notifications for the object enqueue its *linked* key; holding
    that key's lock keeps them waiting until this item is finished.
    """
    if not moves:
        return
    rows = [{"b_id": item_id, "b_key": f"{entity}:{cid}", "b_cid": cid} for item_id, entity, cid in moves]
    stmt = (
        sa.update(work_items)
        .where(_W.id == sa.bindparam("b_id"), _W.tenant == tenant)
        .values(
            lock=sa.bindparam("b_key"),
            key=sa.bindparam("b_key"),
            canonical_id=sa.bindparam("b_cid"),
            system=None,
            external_id=None,
        )
    )
    await conn.execute(stmt, rows)  # one executemany for the whole batch


async def try_relock(db: Database, tenant: str, item_id: int, entity: str, cid: str) -> bool:
    """Re-key one running unlinked item as the linked object `cid`, unless another item holds that lock."""
    lock = f"{entity}:{cid}"
    async with db.begin() as conn:
        if db.is_postgres:
            await conn.execute(sa.select(sa.func.pg_advisory_xact_lock(sa.func.hashtext("claim:" + tenant))))
        held = await conn.execute(
            sa.select(_W.id).where(
                _W.tenant == tenant, _W.lock == lock, _W.state == "running", _W.id != item_id
            )
        )
        if held.first() is not None:
            return False
        await relock(conn, tenant, [(item_id, entity, cid)])
    return True


async def complete(conn: AsyncConnection, ids: Sequence[int]) -> None:
    """Remove finished items."""
    if ids:
        await conn.execute(sa.delete(work_items).where(_W.id.in_(list(ids))))


async def complete_owned(conn: AsyncConnection, worker: str, ids: Sequence[int]) -> set[int]:
    """Remove the finished items of `ids` this worker still holds; returns those (`owned` and `complete`
    in one statement, for a batch whose every item is done)."""
    if not ids:
        return set()
    held = sa.and_(_W.id.in_(list(ids)), _W.claimed_by == worker, _W.state == "running")
    return {r.id for r in await conn.execute(sa.delete(work_items).where(held).returning(_W.id))}


#: How a wait for a referenced object begins its `last_error` (engine/plan.py writes it).
WAITS_FOR = "waits for "


async def release_waiters(conn: AsyncConnection, tenant: str, entity: str, *, now: float) -> int:
    """Items waiting for objects of `entity` to be linked may go now: some just were.

    A waiter comes back after a short delay anyway; this only spares it the rest of the delay. One whose
    object is still not linked waits again (spending no attempt), so releasing too many costs one
    reconcile each, never a lost or parked item.
    """
    result = await conn.execute(
        sa.update(work_items)
        .where(
            _W.tenant == tenant,
            _W.state == "pending",
            _W.not_before > now,
            _W.last_error.like(f"{WAITS_FOR}{entity} %"),
        )
        .values(not_before=now)
    )
    return int(result.rowcount or 0)
