"""Committing a batch's outcome: links of created objects, bases, conflicts, journal, queue verdicts.

One transaction, and only for the items this worker still holds: a worker that was too slow and lost
its lease leaves the outcome to whoever holds the key now (the remote writes it made are harmless to
repeat: the next reconcile finds the sides already equal to the target).

Verdicts follow controller-runtime's `reconcileHandler`: success → done; a transient error → retry
with exponential backoff and jitter; a permanent error, or too many attempts → parked with the reason.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace

from obmen.connectors.base import Create, WriteResult
from obmen.errors import ObmenError, PermanentError, TransientError
from obmen.store import queue, state
from obmen.store.database import Connection
from obmen.store.queue import Claimed
from obmen.sync.context import Batch, Engine
from obmen.sync.merge import fingerprint

__all__ = ["fail_batch", "settle"]


def _results_by_op(batch: Batch, results: Mapping[str, Sequence[WriteResult]]) -> dict[int, WriteResult]:
    by_op: dict[int, WriteResult] = {}
    for system, system_results in results.items():
        ops = [op for p in batch.plans.values() for s, op, _ in p.ops if s == system]
        for op, result in zip(ops, system_results, strict=False):
            by_op[id(op)] = result
        for op in ops[len(system_results) :]:
            by_op[id(op)] = WriteResult(op, error=TransientError(f"{system} returned no result for a write"))
    return by_op


def _error_of(batch: Batch, cid: str, by_op: Mapping[int, WriteResult]) -> ObmenError | None:
    plan = batch.plans.get(cid)
    if plan is None:
        return None
    errors = [by_op[id(op)].error for _, op, _ in plan.ops if by_op[id(op)].error is not None]
    permanent = [e for e in errors if isinstance(e, PermanentError)]
    return permanent[0] if permanent else (errors[0] if errors else None)


async def settle(
    engine: Engine,
    worker: str,
    batch: Batch,
    journal_ids: Mapping[tuple[str, int], int],
    results: Mapping[str, Sequence[WriteResult]],
) -> None:
    """Commit everything the batch achieved and give each item its verdict."""
    by_op = _results_by_op(batch, results)
    now = engine.clock()
    tenant, entity = engine.tenant, batch.entity
    applied = []
    async with engine.db.begin() as conn:
        held = await queue.owned(conn, worker, [i.id for i in batch.items])
        held_cids = {batch.item_cid[i] for i in held if i in batch.item_cid}
        outcomes, created, confirmed = [], [], []
        for cid, plan in batch.plans.items():
            for system, op, entry in plan.ops:
                result = by_op[id(op)]
                jid = journal_ids[(system, id(op))]
                outcomes.append(
                    (jid, "applied" if result.ok else "failed", result.external_id, _text(result.error))
                )
                if result.ok:
                    applied.append(entry)
                if result.ok and isinstance(op, Create) and result.external_id:
                    created.append((cid, system, result.external_id))
                    confirmed.append((cid, system))
        await state.add_links(conn, tenant, entity, created, now=now)
        await state.drop_intents(conn, tenant, entity, confirmed)
        await state.settle_writes(conn, outcomes, now=now)
        await _save_agreement(conn, engine, batch, by_op, held_cids, now)
        await _verdicts(conn, engine, batch, by_op, held, now)
        # A completed object is read again (never after a failed write: that one backs off).
        back = [
            queue.NewItem(entity=entity, canonical_id=cid, trigger="completed")
            for cid, plan in batch.plans.items()
            if plan.read_back and cid in held_cids and _error_of(batch, cid, by_op) is None
        ]
        if batch.follow_ups or back:
            await queue.enqueue(engine.db, conn, tenant, [*batch.follow_ups, *back], now=now)
        if created or batch.new_links:
            # Objects referring to these (an order to its new customer) need not wait out their delay.
            await queue.release_waiters(conn, tenant, entity, now=now)
    if engine.observer is not None:
        enqueued = {batch.item_cid.get(i.id): i.enqueued_at for i in batch.items}
        for entry in applied:
            engine.observer.applied(entry, enqueued_at=enqueued.get(entry.canonical_id), now=now)


async def _save_agreement(
    conn: Connection,
    engine: Engine,
    batch: Batch,
    by_op: Mapping[int, WriteResult],
    held_cids: set[str],
    now: float,
) -> None:
    """New bases for objects whose every write landed; conflicts opened and settled."""
    tenant, entity = engine.tenant, batch.entity
    new_bases = {}
    for cid, plan in batch.plans.items():
        if cid not in held_cids:
            continue
        await state.record_conflicts(
            conn, tenant, entity, [(cid, c.field, c.base, c.candidates) for c in plan.conflicts], now=now
        )
        settled = [(cid, f) for f in plan.settled if (cid, f) in batch.open_conflicts]
        await state.resolve_conflicts(conn, tenant, entity, settled, how="agreed", now=now)
        if _error_of(batch, cid, by_op) is None and plan.target != batch.bases.get(cid):
            new_bases[cid] = (plan.target, fingerprint(plan.target))
    await state.save_bases(conn, tenant, entity, new_bases, now=now)


async def _verdicts(
    conn: Connection,
    engine: Engine,
    batch: Batch,
    by_op: Mapping[int, WriteResult],
    held: set[int],
    now: float,
) -> None:
    done, waits = [], []
    for item in batch.items:
        if item.id not in held:
            continue
        if item.id in batch.waiting_items:
            waits.append(_wait(item, batch.waiting_items[item.id], engine))
            continue
        cid = batch.item_cid.get(item.id)
        if item.id in batch.vanished or cid is None:
            done.append(item.id)
            continue
        if item.canonical_id is None:
            # Adopted in this batch: it comes back, if at all, as the linked object it now is.
            item = replace(item, key=f"{item.entity}:{cid}", canonical_id=cid, system=None, external_id=None)
        if cid in batch.waiting:
            waits.append(_wait(item, batch.waiting[cid], engine))
            continue
        error = _error_of(batch, cid, by_op)
        if error is None:
            done.append(item.id)
        else:
            await fail_item(conn, engine, item, error, now)
    await queue.complete(conn, done)
    await queue.retry_many(engine.db, conn, engine.tenant, waits, now=now)


async def fail_item(
    conn: Connection, engine: Engine, item: Claimed, error: BaseException, now: float
) -> None:
    """Retry a failed item with backoff, or park it when retrying is useless or has gone on too long."""
    reason = f"{type(error).__name__}: {_text(error)}"
    if isinstance(error, PermanentError):
        await queue.park(engine.db, conn, engine.tenant, item, reason=reason, now=now)
        return
    settings = engine.settings
    delay = queue.backoff(item.attempts, base=settings.backoff_base, cap=settings.backoff_cap)
    if isinstance(error, TransientError) and error.retry_after:
        delay = max(delay, error.retry_after)
    await _retry_or_park(conn, engine, item, reason, delay, now)


def _wait(item: Claimed, reason: str, engine: Engine) -> queue.Retry:
    """Look again soon: the objects it refers to are on their way (their keys were enqueued).

    Waiting spends no attempt: an order whose new customer takes a few rounds to reach a busy portal
    is not failing, and parking it would stop the flow for nothing. A reference that never resolves
    shows as the referred object's own failure (it is parked with its reason) and as this item's
    `last_error` in the queue. A batch's waits go back together (`queue.retry_many`).
    """
    return queue.Retry(item, reason, engine.settings.ref_retry_delay, spent=False)


async def _retry_or_park(
    conn: Connection, engine: Engine, item: Claimed, reason: str, delay: float, now: float
) -> None:
    if item.attempts >= engine.settings.max_attempts:
        reason = f"gave up after {item.attempts} attempts: {reason}"
        await queue.park(engine.db, conn, engine.tenant, item, reason=reason, now=now)
    else:
        await queue.retry(engine.db, conn, engine.tenant, item, error=reason, delay=delay, now=now)


async def fail_batch(engine: Engine, worker: str, items: Sequence[Claimed], error: BaseException) -> None:
    """A whole batch failed before it could write (a read failed): every held item gets the verdict."""
    now = engine.clock()
    async with engine.db.begin() as conn:
        held = await queue.owned(conn, worker, [i.id for i in items])
        for item in items:
            if item.id in held:
                await fail_item(conn, engine, item, error, now)


def _text(error: BaseException | None) -> str | None:
    if error is None:
        return None
    return str(error)[:1000] or type(error).__name__
