"""A batch's verdicts: one `Outcome` per item, decided from what the steps returned, then committed.

`decide` is pure: adoption's answer for each item, the object's plan or wait, and its writes' results
make the item `Done`, `ReadBack` (done, and read again: its writes completed it), `Wait` (it refers to an
object on its way), `Retry` (a transient failure: backoff, `obmen.errors.backoff`), `Defer` (a system it
needs refuses obmen as a whole: held back until that system's next probe, docs/architecture.md §2.13)
or `Park` (retrying is useless, or has gone on too long). The verdicts follow controller-runtime's
`reconcileHandler`.

`settle` commits everything in one transaction, and only for the items this worker still holds: a
worker that was too slow and lost its lease leaves the outcome to whoever holds the key now (the remote
writes it made are harmless to repeat: the next reconcile finds the sides already equal to the target).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

from obmen.connectors.base import Create, WriteResult
from obmen.engine.context import Engine, Known, Plan
from obmen.engine.merge import fingerprint
from obmen.errors import ObmenError, PermanentError, SystemRefused, TransientError, backoff
from obmen.store import queue, setbacks, state
from obmen.store.database import Connection
from obmen.store.outages import held_reason
from obmen.store.queue import Claimed

__all__ = [
    "Adopted",
    "Defer",
    "Done",
    "Outcome",
    "Park",
    "Planned",
    "ReadBack",
    "Retry",
    "Wait",
    "decide",
    "fail_batch",
    "failure",
    "hold_batch",
    "settle",
]


@dataclass(frozen=True, slots=True)
class Done:
    """Nothing more to do for this item."""


@dataclass(frozen=True, slots=True)
class ReadBack:
    """Done, and its object is read again: the writes completed it (a deal given its invoice)."""

    canonical_id: str


@dataclass(frozen=True, slots=True)
class Wait:
    """Look again soon: it refers to objects on their way. A wait spends no attempt."""

    reason: str


@dataclass(frozen=True, slots=True)
class Retry:
    """A transient failure: try again after `after` seconds."""

    reason: str
    after: float


@dataclass(frozen=True, slots=True)
class Defer:
    """A system it needs refuses obmen as a whole: try after `after` seconds, spending no attempt."""

    reason: str
    after: float


@dataclass(frozen=True, slots=True)
class Park:
    """Retrying is useless or has gone on too long: an operator looks at it."""

    reason: str


Outcome = Done | ReadBack | Wait | Retry | Defer | Park

#: Adoption's answer per item id: the canonical id it now has, or already its outcome.
Adopted = Mapping[int, "str | Outcome"]


@dataclass(frozen=True, slots=True)
class Planned:
    """The plan step's answer: a plan per object, or why the object must wait."""

    plans: Mapping[str, Plan]
    waits: Mapping[str, str]
    #: Keys to enqueue with the outcome: objects referred to that obmen does not hold yet.
    follow_ups: Sequence[queue.NewItem] = ()


def failure(engine: Engine, item: Claimed, error: BaseException) -> Retry | Defer | Park:
    """Retry with backoff, or park when retrying is useless or has gone on too long; an outage defers."""
    if isinstance(error, SystemRefused):
        # Not the item's failure: it waits for the system's breaker to close (docs/architecture.md §2.13).
        return Defer(held_reason(error.system, error.reason), engine.breakers.delay(error.system))
    reason = f"{type(error).__name__}: {_text(error)}"
    if isinstance(error, PermanentError):
        return Park(reason)
    if item.attempts >= engine.settings.max_attempts:
        return Park(f"gave up after {item.attempts} attempts: {reason}")
    s = engine.settings
    delay = backoff(item.attempts, base=s.backoff_base, cap=s.backoff_cap)
    if isinstance(error, TransientError) and error.retry_after:
        delay = max(delay, error.retry_after)
    return Retry(reason, delay)


def waiting(engine: Engine, item: Claimed, reason: str) -> Wait | Park:
    """Wait for a referenced object, or park once the wait has lasted `max_wait` (§2.14)."""
    since = item.waiting_since
    if since is not None and engine.clock() - since >= engine.settings.max_wait:
        hours = (engine.clock() - since) / 3600
        return Park(f"{reason}, which never arrived (waited {hours:.1f} h)")
    return Wait(reason)


def error_of(plan: Plan | None, results: Mapping[int, WriteResult]) -> ObmenError | None:
    """The error that decides a plan's fate: the item's own permanent one first, then a system's refusal,
    else the first transient one."""
    if plan is None:
        return None
    errors = [e for w in plan.writes if (e := results[w.n].error) is not None]
    refused: list[ObmenError] = [e for e in errors if isinstance(e, SystemRefused)]
    permanent = [e for e in errors if isinstance(e, PermanentError) and not isinstance(e, SystemRefused)]
    return next(iter(permanent + refused + errors), None)


def decide(
    engine: Engine,
    items: Sequence[Claimed],
    adopted: Adopted,
    planned: Planned,
    results: Mapping[int, WriteResult],
) -> dict[int, Outcome]:
    """One outcome per item, from what the steps returned."""
    out: dict[int, Outcome] = {}
    for item in items:
        cid = adopted.get(item.id)
        if cid is None or not isinstance(cid, str):
            out[item.id] = cid if cid is not None else Done()
            continue
        if cid in planned.waits:
            out[item.id] = waiting(engine, item, planned.waits[cid])
            continue
        plan = planned.plans.get(cid)
        error = error_of(plan, results)
        if error is not None:
            out[item.id] = failure(engine, item, error)
        elif plan is not None and plan.read_back:
            out[item.id] = ReadBack(cid)
        else:
            out[item.id] = Done()
    return out


async def settle(
    engine: Engine,
    worker: str,
    known: Known,
    items: Sequence[Claimed],
    adopted: Adopted,
    planned: Planned,
    journal_ids: Mapping[int, int],
    results: Mapping[int, WriteResult],
) -> dict[int, Outcome]:
    """Commit everything the batch achieved and give each item its outcome; returns the outcomes."""
    outcomes = decide(engine, items, adopted, planned, results)
    now = engine.clock()
    tenant, entity = engine.tenant, known.entity
    applied = []
    # A batch done throughout (a no-op above all) learns what it holds by removing it (one statement).
    finished = all(isinstance(outcomes[i.id], Done | ReadBack) for i in items)
    async with engine.db.begin() as conn:
        ids = [i.id for i in items]
        held = await (queue.complete_owned if finished else queue.owned)(conn, worker, ids)
        held_cids = {c for i in held if isinstance(c := adopted.get(i), str)}
        journal, created = [], []
        for cid, plan in planned.plans.items():
            for w in plan.writes:
                result = results[w.n]
                journal.append(
                    (
                        journal_ids[w.n],
                        "applied" if result.ok else "failed",
                        result.external_id,
                        _text(result.error),
                    )
                )
                if result.ok:
                    applied.append(w.entry)
                if result.ok and isinstance(w.op, Create) and result.external_id:
                    created.append((cid, w.system, result.external_id))
        await state.add_links(conn, tenant, entity, created, now=now)
        await state.drop_intents(conn, tenant, entity, [(cid, system) for cid, system, _ in created])
        await state.settle_writes(conn, journal, now=now)
        await _save_agreement(conn, engine, known, planned, results, held_cids, now)
        back = await _apply(conn, engine, items, adopted, outcomes, held, now, completed=finished)
        if planned.follow_ups or back:
            await queue.enqueue(engine.db, conn, tenant, [*planned.follow_ups, *back], now=now)
        if created or known.new_links:
            # Objects referring to these (an order to its new customer) need not wait out their delay.
            await queue.release_waiters(conn, tenant, entity, now=now)
    if engine.observer is not None:
        enqueued = {adopted.get(i.id): i.enqueued_at for i in items}
        for entry in applied:
            engine.observer.applied(entry, enqueued_at=enqueued.get(entry.canonical_id), now=now)
    return outcomes


async def _save_agreement(
    conn: Connection,
    engine: Engine,
    known: Known,
    planned: Planned,
    results: Mapping[int, WriteResult],
    held_cids: set[str],
    now: float,
) -> None:
    """New bases for objects whose every write landed; conflicts opened and settled."""
    tenant, entity = engine.tenant, known.entity
    new_bases = {}
    for cid, plan in planned.plans.items():
        if cid not in held_cids:
            continue
        await state.record_conflicts(
            conn, tenant, entity, [(cid, c.field, c.base, c.candidates) for c in plan.conflicts], now=now
        )
        landed = error_of(plan, results) is None
        # Closed only once every write landed: a failed write keeps a person's decision for the retry.
        settled = [(cid, f) for f in plan.settled if landed and (cid, f) in known.open_conflicts]
        await state.resolve_conflicts(conn, tenant, entity, settled, how="agreed", now=now)
        if landed and plan.target != known.bases.get(cid):
            new_bases[cid] = (plan.target, fingerprint(plan.target))
    await state.save_bases(conn, tenant, entity, new_bases, now=now)
    # What the sides showed is true whatever became of the writes (docs/architecture.md §2.11).
    sides = {
        cid: plan.sides
        for cid, plan in planned.plans.items()
        if cid in held_cids and plan.sides != known.sides.get(cid, {})
    }
    await state.save_sides(conn, tenant, entity, sides)


async def _apply(
    conn: Connection,
    engine: Engine,
    items: Sequence[Claimed],
    adopted: Adopted,
    outcomes: Mapping[int, Outcome],
    held: set[int],
    now: float,
    *,
    completed: bool = False,
) -> list[queue.NewItem]:
    """Give the held items their outcomes in the queue; returns the read-back keys to enqueue.

    `completed`: the done items are removed already (`queue.complete_owned`).
    """
    done: list[int] = []
    waits: list[setbacks.Retry] = []
    back: dict[str, queue.NewItem] = {}
    for item in items:
        if item.id not in held:
            continue
        cid = adopted.get(item.id)
        if item.canonical_id is None and isinstance(cid, str):
            # Adopted in this batch: it comes back, if at all, as the linked object it now is.
            item = replace(item, key=f"{item.entity}:{cid}", canonical_id=cid, system=None, external_id=None)
        match outcomes[item.id]:
            case Done():
                done.append(item.id)
            case ReadBack(canonical_id=read):
                done.append(item.id)
                back[read] = queue.NewItem(entity=item.entity, canonical_id=read, trigger="completed")
            case Wait(reason=reason):
                # A batch's waits go back together, spending no attempt (docs/architecture.md §2.14).
                since = item.waiting_since if item.waiting_since is not None else now
                waits.append(
                    setbacks.Retry(
                        item, reason, engine.settings.ref_retry_delay, spent=False, waiting_since=since
                    )
                )
            case Retry(reason=reason, after=after):
                await setbacks.retry(engine.db, conn, engine.tenant, item, error=reason, delay=after, now=now)
            case Defer(reason=reason, after=after):
                waits.append(setbacks.Retry(item, reason, after, spent=False))
            case Park(reason=reason):
                await setbacks.park(engine.db, conn, engine.tenant, item, reason=reason, now=now)
    if not completed:
        await queue.complete(conn, done)
    await setbacks.retry_many(engine.db, conn, engine.tenant, waits, now=now)
    return list(back.values())


async def fail_batch(engine: Engine, worker: str, items: Sequence[Claimed], error: BaseException) -> None:
    """A whole batch failed before it could write (a read failed): every held item gets the verdict."""
    now = engine.clock()
    outcomes: dict[int, Outcome] = {i.id: failure(engine, i, error) for i in items}
    async with engine.db.begin() as conn:
        held = await queue.owned(conn, worker, [i.id for i in items])
        await _apply(conn, engine, items, {}, outcomes, held, now)


async def hold_batch(engine: Engine, worker: str, items: Sequence[Claimed], system: str) -> None:
    """A system the batch needs refuses obmen: every held item waits for its probe, no call made."""
    outage = engine.breakers.outage(system)
    reason = held_reason(system, outage.reason if outage is not None else "refused")
    outcomes: dict[int, Outcome] = {i.id: Defer(reason, engine.breakers.delay(system)) for i in items}
    async with engine.db.begin() as conn:
        held = await queue.owned(conn, worker, [i.id for i in items])
        await _apply(conn, engine, items, {}, outcomes, held, engine.clock())


def _text(error: BaseException | None) -> str | None:
    if error is None:
        return None
    return str(error)[:1000] or type(error).__name__
