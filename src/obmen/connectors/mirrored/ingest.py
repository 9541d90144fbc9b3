"""Uploads into a pull-only partner's mirror, and the partner's outbox (docs/architecture.md §2.1, §2.7).

An upload is absorbed and the keys of the objects whose fingerprint changed are enqueued *in the same
transaction*: a crash can lose neither the change nor its key, and an unchanged re-upload enqueues
nothing. Every record is laid over the mirrored fields: a partial one (a prices-only or rests-only file,
docs/protocols/commerceml.md §2.5; a document without a status) never erases what another file said.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from obmen.connectors.mirrored.records import Record
from obmen.model.payments import unfold
from obmen.store import mirror, queue, state
from obmen.store.database import Database
from obmen.store.mirror import MirrorRecord, MirrorStore, OutboxItem
from obmen.store.queue import NewItem

__all__ = ["CATALOG_ID", "LAST_ORDER", "ORDER_NUMBERS", "Absorbed", "MirrorIngest", "Refusal"]

#: Mirror bookkeeping (entity `catalog#id`, id `catalog`): the `Ид` of 1C's catalog, `{"id": …}`. A site
#: finds its catalog (infoblock) by this `Ид`, so obmen's pushes to a site must carry the same one.
CATALOG_ID = "catalog#id"
#: Mirror bookkeeping: order number → `{"order": external id}` of the order the partner got under it.
ORDER_NUMBERS = "order#number"
#: Mirror bookkeeping: counterparty → `{"order": external id}` of the last order that carried it.
LAST_ORDER = "counterparty#order"

log = logging.getLogger(__name__)

_PAGE = 500

#: `(entity, the object as the partner uploaded it) -> the fields it will not take from obmen now`.
Refusal = Callable[[str, Mapping[str, Any]], Collection[str]]


@dataclass(slots=True)
class Absorbed:
    """What one upload did: records seen and keys enqueued, by entity."""

    seen: dict[str, int] = field(default_factory=dict)
    enqueued: dict[str, int] = field(default_factory=dict)

    def add(self, other: Absorbed) -> None:
        """Fold another batch's counts into these."""
        for mine, theirs in ((self.seen, other.seen), (self.enqueued, other.enqueued)):
            for entity, count in theirs.items():
                mine[entity] = mine.get(entity, 0) + count

    def summary(self) -> str:
        """`product 36 (2 changed), offer 44 (0 changed)`."""
        return ", ".join(
            f"{entity} {count} ({self.enqueued.get(entity, 0)} changed)"
            for entity, count in self.seen.items()
        )


class MirrorIngest:
    """The mirror and outbox of one partner system, as the exchange paths use them."""

    def __init__(
        self,
        db: Database,
        tenant: str,
        system: str,
        *,
        clock: Callable[[], float] = time.time,
        on_enqueued: Callable[[], None] | None = None,
        refuses: Refusal | None = None,
    ) -> None:
        self.db, self.tenant, self.system, self.clock = db, tenant, system, clock
        self._store = MirrorStore(db, tenant, system, clock=clock)
        #: Told once an absorb's keys are committed: a worker in this process can start at once.
        self.on_enqueued = on_enqueued
        #: The fields the partner will not take from obmen in the state it uploaded (a site's paid order
        #: keeps its basket): such a pending change is the partner's answer, not "not yet seen".
        self.refuses = refuses

    async def absorb(self, records: Sequence[Record], *, trigger: str) -> Absorbed:
        """Store an upload's records; enqueue the keys of new or changed objects atomically with it."""
        result = Absorbed()
        seen = [r for r in records if r.unchanged]
        records = [r for r in records if not r.unchanged]
        async with self.db.begin() as conn:
            now = self.clock()
            for entity, ids in _by_entity(seen).items():
                await mirror.touch(conn, self.tenant, self.system, entity, ids, now=now)
            whole = await self._overlay(conn, records)
            changed = await mirror.absorb(conn, self.tenant, self.system, whole, now=now)
            items = [
                NewItem(entity=entity, system=self.system, external_id=x, trigger=trigger)
                for entity, x in changed
            ]
            await queue.enqueue(self.db, conn, self.tenant, items, now=now)
        if changed and self.on_enqueued is not None:
            self.on_enqueued()
        for entity in [r.entity for r in seen] + [r.entity for r in whole]:
            result.seen[entity] = result.seen.get(entity, 0) + 1
        for entity, _ in changed:
            result.enqueued[entity] = result.enqueued.get(entity, 0) + 1
        return result

    async def _overlay(self, conn: Any, records: Sequence[Record]) -> list[MirrorRecord]:
        """Lay each record over what the partner holds: what a file does not carry stays as it was.

        An object obmen created and the partner has not uploaded yet exists only in the outbox; that
        document is its base, and the canonical id it was created under stays its origin. A field the
        upload still shows as it was before obmen changed it is not yet seen, not a change back
        (`OutboxItem.unseen`, docs/architecture.md §2.11); the outbox forgets the changes an upload shows.
        """
        by_entity = _by_entity(records)
        known: dict[tuple[str, str], tuple[dict[str, Any], str | None]] = {}
        items: dict[tuple[str, str], OutboxItem] = {}
        # What the partner holds now: its last upload, or what obmen sent it since (as `snapshots`).
        current: dict[tuple[str, str], Mapping[str, Any]] = {}
        for entity, ids in by_entity.items():
            rows, queued = await mirror.read_with_queued(conn, self.tenant, self.system, entity, ids)
            known.update({(entity, x): (item.fields, x) for x, item in queued.items()})
            items.update({(entity, x): item for x, item in queued.items()})
            current.update({(entity, x): item.fields for x, item in queued.items()})
            known.update({(entity, x): (row.fields, row.origin) for x, row in rows.items()})
            current.update(
                {(entity, x): row.fields for x, row in rows.items() if _newer(row.seen_at, queued.get(x))}
            )
        out: list[MirrorRecord] = []
        narrowed: dict[str, dict[str, dict[str, Any]]] = {}
        again: dict[str, list[str]] = {}
        disputed: dict[str, dict[str, dict[str, tuple[Any, Any]]]] = {}
        for record in records:
            key = (record.entity, record.external_id)
            base, origin = known.get(key, ({}, None))
            item = items.get(key)
            if record.entity == "order":
                record = replace(record, fields=_unfolded(record.fields, current.get(key) or base))
            if item is not None and item.changed:
                fields, unseen, contested = item.unseen(base, record.fields)
                self._refused(record, {**base, **record.fields}, fields, unseen, contested, item)
                if unseen and not item.pending:
                    # The partner had obmen's document and still shows what it replaced: its upload was
                    # written before, or it kept its own (1C keeps an order it changed since its last
                    # upload). Either way the document is offered again, not left unseen for good.
                    again.setdefault(record.entity, []).append(record.external_id)
                if unseen != item.changed:
                    narrowed.setdefault(record.entity, {})[record.external_id] = unseen
                    if contested:
                        # The partner changed these itself, never having seen obmen's values: the
                        # engine's `conflict` rule takes the two as concurrent (docs/architecture.md §2.11).
                        whole = {**item.contested, **contested}
                        disputed.setdefault(record.entity, {})[record.external_id] = whole
                    items[key] = replace(item, changed=unseen)
            else:
                fields = {**base, **record.fields}
            if record.entity == "counterparty":
                fields.update(_contacts_added(current.get(key, {}), record.fields))
            # A later record of the same object in this batch builds on the earlier one.
            known[key] = (fields, origin)
            current[key] = fields
            out.append(MirrorRecord(record.entity, record.external_id, fields, origin, digest=record.digest))
        for entity, unseen in narrowed.items():
            await mirror.narrow(conn, self.tenant, self.system, entity, unseen, disputed.get(entity))
        for entity, ids in again.items():
            await mirror.offer_again(conn, self.tenant, self.system, entity, ids)
        return out

    def _refused(
        self,
        record: Record,
        shown: Mapping[str, Any],
        fields: dict[str, Any],
        unseen: dict[str, Any],
        contested: dict[str, tuple[Any, Any]],
        item: OutboxItem,
    ) -> None:
        """Take obmen's unseen changes the partner refuses in the state it shows as its own answer.

        The site's loader keeps the basket of an order paid meanwhile (docs/protocols/commerceml.md §2.7):
        offered again, obmen's basket would never be taken. The partner's basket is then its own edit,
        concurrent with obmen's, and the merge decides between them (docs/architecture.md §2.11).
        """
        refused = set(self.refuses(record.entity, shown)) & unseen.keys() if self.refuses else set()
        for name in refused:
            contested[name] = (unseen.pop(name), item.fields[name])
            fields[name] = shown.get(name)
            log.warning(
                "%s %s %s: the partner keeps its own %s; obmen's change is taken back for the merge",
                self.system,
                record.entity,
                record.external_id,
                name,
            )

    async def held(self, items: Sequence[tuple[str, str, str]]) -> set[tuple[str, str]]:
        """Which of (entity, id, raw digest) the mirror holds exactly as sent (`read(known_many=…)`)."""
        wanted: dict[str, list[str]] = {}
        for entity, external_id, _ in items:
            wanted.setdefault(entity, []).append(external_id)
        async with self.db.begin() as conn:
            found = {
                (entity, x): digest
                for entity, ids in wanted.items()
                for x, digest in (await mirror.digests(conn, self.tenant, self.system, entity, ids)).items()
            }
        return {(entity, x) for entity, x, digest in items if found.get((entity, x)) == digest}

    async def retire(
        self, entities: Collection[str], *, before: float, trigger: str, flag: str = "active"
    ) -> Absorbed:
        """Mark inactive every live object of `entities` that no upload mentioned since `before`.

        A full catalog run ends with this (docs/protocols/commerceml.md §1.6): what 1C no longer sends is gone
        from sale, but kept (inactive) so that its links and history survive.
        """
        result = Absorbed()
        for entity in entities:
            after: str | None = None
            while True:
                async with self.db.begin() as conn:
                    # Only what no upload mentioned since `before` is read (a full run mentions most).
                    ids = await mirror.scan(
                        conn, self.tenant, self.system, entity, after, _PAGE, seen_before=before
                    )
                    rows = await mirror.read(conn, self.tenant, self.system, entity, ids)
                stale = [
                    Record(entity, x, {**row.fields, flag: False})
                    for x, row in rows.items()
                    if row.seen_at < before and row.fields.get(flag, True) is not False
                ]
                if stale:
                    result.add(await self.absorb(stale, trigger=trigger))
                if len(ids) < _PAGE:
                    break
                after = ids[-1]
        return result

    async def collect(self, run: str, *, limit: int = 1000) -> list[OutboxItem]:
        """Outbox documents not yet acknowledged, marked as sent under `run`."""
        async with self.db.begin() as conn:
            return await mirror.collect(conn, self.tenant, self.system, run, limit=limit)

    async def acknowledge(self, run: str) -> int:
        """The partner confirmed `run`: what it carried is delivered."""
        async with self.db.begin() as conn:
            return await mirror.acknowledge(conn, self.tenant, self.system, run)

    async def snapshots(self, entity: str, external_ids: Sequence[str]) -> dict[str, Mapping[str, Any]]:
        """Fields of objects as the partner holds them or will once it collects its outbox."""
        found = await self._store.snapshots(entity, list(dict.fromkeys(external_ids)))
        return {x: snap.fields for x, snap in found.items()}

    async def note(self, what: str, text: str) -> None:
        """Record how the last exchange went (`<system>:<what>`), shown as a checkpoint by `obmen status`."""
        async with self.db.begin() as conn:
            await state.set_cursor(conn, self.tenant, f"{self.system}:{what}", text[:500], now=self.clock())

    async def withhold(self, run: str, entity: str, external_ids: Sequence[str]) -> None:
        """Documents `run` collected but did not deliver stay pending when it is acknowledged."""
        async with self.db.begin() as conn:
            await mirror.withhold(conn, self.tenant, self.system, run, entity, external_ids)

    async def remember(self, entity: str, entries: Mapping[str, Mapping[str, Any]]) -> None:
        """Keep bookkeeping rows in the mirror (an index, say) without enqueueing anything."""
        records = [MirrorRecord(entity, x, dict(fields)) for x, fields in entries.items()]
        async with self.db.begin() as conn:
            await mirror.absorb(conn, self.tenant, self.system, records, now=self.clock())

    async def recall(self, entity: str, external_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        """Bookkeeping rows kept by `remember`."""
        async with self.db.begin() as conn:
            rows = await mirror.read(
                conn, self.tenant, self.system, entity, list(dict.fromkeys(external_ids))
            )
        return {x: row.fields for x, row in rows.items()}

    async def rekey_orders(self, chunk: Sequence[Record]) -> list[Record]:
        """Put orders under the id obmen gave them, found by number; index new orders by number.

        1C sends an order obmen handed to it back under its own `Ид` but with the same `Номер` (§2.7).
        Such an order keeps the customer it was sent with: 1C's own counterparty id would look like a
        new customer to every other system.
        """
        numbers = [str(r.fields["number"]) for r in chunk if r.entity == "order" and r.fields.get("number")]
        known = await self.recall(ORDER_NUMBERS, numbers)
        ours: dict[int, Record] = {}
        theirs: set[str] = set()
        fresh: dict[str, dict[str, str]] = {}
        born: dict[str, dict[str, str]] = {}
        for index, record in enumerate(chunk):
            number = str(record.fields.get("number") or "") if record.entity == "order" else ""
            mine = str(known[number]["order"]) if number in known else None
            if mine is not None:
                fields = {k: v for k, v in record.fields.items() if k != "customer"}
                ours[index] = Record("order", mine, fields)
                theirs.add(_customer(record.fields) or "")
            elif number and mine is None:
                fresh[number] = {"order": record.external_id}
                if party := _customer(record.fields):
                    born[party] = {"order": record.external_id}
        if fresh:
            await self.remember(ORDER_NUMBERS, fresh)
            await self.remember(LAST_ORDER, born)
        return [
            ours.get(i, record)
            for i, record in enumerate(chunk)
            if not (record.entity == "counterparty" and record.external_id in theirs)
        ]


def _by_entity(records: Sequence[Record]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for record in records:
        out.setdefault(record.entity, []).append(record.external_id)
    return out


def _customer(fields: Mapping[str, Any]) -> str | None:
    ref = fields.get("customer")
    return str(ref["id"]) if isinstance(ref, Mapping) and ref.get("id") else None


def _newer(seen_at: float, item: OutboxItem | None) -> bool:
    return item is None or seen_at > item.queued_at


def _unfolded(upload: dict[str, Any], held: Mapping[str, Any]) -> dict[str, Any]:
    """An upload's one payment for the whole order (1C's `Оплачен`, a site's `Заказ оплачен` without
    payment documents) shown over the several payments the partner was given (obmen.model.payments)."""
    folded, several = upload.get("payments"), held.get("payments")
    if not isinstance(folded, list) or len(folded) != 1 or not isinstance(several, list) or len(several) < 2:
        return upload
    one = folded[0] if isinstance(folded[0], Mapping) else {}
    return {**upload, "payments": unfold(several, bool(one.get("paid")), one.get("paid_at"))}


#: A counterparty's multi-valued contacts (model.Counterparty).
_CONTACTS = ("phones", "emails")


def _contacts_added(current: Mapping[str, Any], upload: Mapping[str, Any]) -> dict[str, list[Any]]:
    """Phones and e-mails of an upload added to those the partner already holds, none dropped.

    A partner sends a customer only inside an order, with the contacts typed for that order
    (docs/protocols/commerceml.md §2.6): a phone missing there is not a phone removed, or a customer's second
    order would erase what a manager added to the contact in the CRM.
    """
    out: dict[str, list[Any]] = {}
    for name in _CONTACTS:
        if name in upload and isinstance(current.get(name), list):
            out[name] = sorted({*current[name], *(upload[name] or [])}, key=str)
    return out
