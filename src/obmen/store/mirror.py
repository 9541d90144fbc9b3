"""Mirror and outbox of a pull-only partner (docs/architecture.md §2.7).

1C speaks only when it wants to: it uploads what it has and collects what we prepared. The *mirror*
holds what it last uploaded, and absorbing an upload reports only objects whose fingerprint changed,
so an unchanged re-import enqueues nothing. The *outbox* holds what obmen wants it to collect; a
collection marks rows as sent under a run id and only the partner's `success` acknowledges them
(docs/protocols/commerceml.md §1.7), so a failed exchange simply sends them again.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from obmen.model.fields import canonical_json, canonical_loads, fingerprint_of
from obmen.store.bulk import execute_many
from obmen.store.database import Database
from obmen.store.tables import mirror, outbox

__all__ = [
    "MirrorRecord",
    "MirrorRow",
    "MirrorStore",
    "OutboxItem",
    "Snapshot",
    "absorb",
    "acknowledge",
    "by_origin",
    "collect",
    "digests",
    "narrow",
    "put",
    "read",
    "read_with_queued",
    "scan",
    "touch",
    "withhold",
]

_CHUNK = 500


@dataclass(frozen=True, slots=True)
class MirrorRecord:
    """One object as the partner sent it, already mapped to canonical fields."""

    entity: str
    external_id: str
    fields: Mapping[str, Any]
    origin: str | None = None
    deleted: bool = False
    #: The raw digest of the element it was read from (`digests`); None: not from a raw element.
    digest: str | None = None


@dataclass(frozen=True, slots=True)
class MirrorRow:
    """A mirrored object with its bookkeeping."""

    fields: dict[str, Any]
    origin: str | None
    deleted: bool
    seen_at: float
    changed_at: float
    #: The raw digest of the element it was last read from; None when written from anything else.
    digest: str | None = None


@dataclass(frozen=True, slots=True)
class OutboxItem:
    """One document waiting for the partner."""

    entity: str
    external_id: str
    fields: dict[str, Any]
    version: int
    queued_at: float
    #: The fields obmen changed since the partner last had the object, each with the partner's value it
    #: replaced; None: the whole document is obmen's (a create).
    changed: Mapping[str, Any] | None = None
    #: Not yet acknowledged by the partner.
    pending: bool = True
    #: Fields the partner changed itself while obmen's change of them was in flight: field →
    #: (the value it changed from, obmen's value it never saw) (docs/architecture.md §2.11).
    contested: Mapping[str, tuple[Any, Any]] = field(default_factory=dict)

    def on(self, latest: MirrorRow | None) -> dict[str, Any]:
        """The document as it should reach the partner: its latest upload with obmen's changes on top.

        The partner may have changed the object after obmen queued this (a customer paid on the site
        while a stage move waited): sending the queued document whole would undo that change. A field
        both changed is left as the partner has it: the engine, which reconciles the partner's upload,
        decides it by policy and queues its verdict again (never a silent overwrite).
        """
        if latest is None or latest.deleted or self.changed is None or latest.seen_at <= self.queued_at:
            return self.fields
        ours = {
            k: self.fields[k]
            for k, before in self.changed.items()
            if k in self.fields and latest.fields.get(k) == before
        }
        return {**latest.fields, **ours}

    def unseen(
        self, held: Mapping[str, Any], upload: Mapping[str, Any]
    ) -> tuple[dict[str, Any], dict[str, Any], dict[str, tuple[Any, Any]]]:
        """An upload laid over what the partner held, keeping obmen's changes it has not shown yet.

        A field the upload still shows as it was before obmen's change (1C wrote its document before it
        took ours in) is "not yet seen", not a change back (docs/architecture.md §2.11): obmen's value stays.
        A field the upload shows with obmen's value is seen; one with a third value is the partner's own
        change, for the engine to decide, made without knowing obmen's (*contested*). A field the upload
        does not carry keeps obmen's value. Returns the fields, the changes still unseen (each with the
        value it replaced) and the contested fields (each with the value it replaced and obmen's).
        """
        fields = {**held, **upload}
        unseen: dict[str, Any] = {}
        contested: dict[str, tuple[Any, Any]] = {}
        for name, before in (self.changed or {}).items():
            if name not in self.fields:
                continue
            ours = self.fields[name]
            if name in upload:
                stale = upload[name] == before and before != ours
                if upload[name] not in (before, ours) and before != ours:
                    contested[name] = (before, ours)
            else:
                stale = held.get(name, before) in (before, ours)
            if stale:
                fields[name], unseen[name] = ours, before
        return fields, unseen, contested


_INSERT = mirror.insert()


def _key(tenant: str, system: str) -> Any:
    return sa.and_(mirror.c.tenant == tenant, mirror.c.system == system)


async def absorb(
    conn: AsyncConnection, tenant: str, system: str, records: Sequence[MirrorRecord], *, now: float
) -> list[tuple[str, str]]:
    """Store an upload; returns (entity, id) of the objects that are new or changed."""
    changed: list[tuple[str, str]] = []
    by_entity: dict[str, list[MirrorRecord]] = {}
    for record in records:
        by_entity.setdefault(record.entity, []).append(record)
    for entity, group in by_entity.items():
        for start in range(0, len(group), _CHUNK):
            changed += await _absorb_chunk(conn, tenant, system, entity, group[start : start + _CHUNK], now)
    return changed


async def _absorb_chunk(
    conn: AsyncConnection, tenant: str, system: str, entity: str, records: Sequence[MirrorRecord], now: float
) -> list[tuple[str, str]]:
    ids = [r.external_id for r in records]
    query = sa.select(mirror.c.external_id, mirror.c.fingerprint, mirror.c.deleted, mirror.c.digest).where(
        _key(tenant, system), mirror.c.entity == entity, mirror.c.external_id.in_(ids)
    )
    known = {row.external_id: row for row in await conn.execute(query)}
    fresh: list[dict[str, Any]] = []
    changed: list[dict[str, Any]] = []
    touched: list[str] = []
    redigested: list[dict[str, Any]] = []
    for record in {r.external_id: r for r in records}.values():
        text = canonical_json(record.fields)
        print_ = fingerprint_of(text)
        row: dict[str, Any] = {"fields": text, "fingerprint": print_, "origin": record.origin}
        row |= {"deleted": int(record.deleted), "seen_at": now, "changed_at": now, "digest": record.digest}
        held = known.get(record.external_id)
        if held is None:
            fresh.append(
                {
                    "tenant": tenant,
                    "system": system,
                    "entity": entity,
                    "external_id": record.external_id,
                    **row,
                }
            )
        elif (held.fingerprint, bool(held.deleted)) != (print_, record.deleted):
            changed.append({"b_id": record.external_id, **row})
        elif held.digest != record.digest:
            redigested.append({"b_id": record.external_id, "b_digest": record.digest})
        else:
            touched.append(record.external_id)
    if fresh:
        await execute_many(conn, _INSERT, fresh)
    where = sa.and_(_key(tenant, system), mirror.c.entity == entity)
    if changed:
        stmt = mirror.update().where(where, mirror.c.external_id == sa.bindparam("b_id"))
        await conn.execute(stmt.values({c: sa.bindparam(c) for c in changed[0] if c != "b_id"}), changed)
    if redigested:
        stmt = mirror.update().where(where, mirror.c.external_id == sa.bindparam("b_id"))
        await conn.execute(stmt.values(seen_at=now, digest=sa.bindparam("b_digest")), redigested)
    await touch(conn, tenant, system, entity, touched, now=now)
    return [(entity, r["external_id"]) for r in fresh] + [(entity, r["b_id"]) for r in changed]


async def touch(
    conn: AsyncConnection, tenant: str, system: str, entity: str, external_ids: Sequence[str], *, now: float
) -> None:
    """The partner sent these objects again, unchanged: only when it last did moves."""
    where = sa.and_(_key(tenant, system), mirror.c.entity == entity)
    for start in range(0, len(external_ids), _CHUNK):
        chunk = list(external_ids[start : start + _CHUNK])
        await conn.execute(mirror.update().where(where, mirror.c.external_id.in_(chunk)).values(seen_at=now))


async def digests(
    conn: AsyncConnection, tenant: str, system: str, entity: str, external_ids: Sequence[str]
) -> dict[str, str]:
    """The raw digests held for these objects (those with none are absent)."""
    out: dict[str, str] = {}
    for start in range(0, len(external_ids), _CHUNK):
        query = sa.select(mirror.c.external_id, mirror.c.digest).where(
            _key(tenant, system),
            mirror.c.entity == entity,
            mirror.c.external_id.in_(list(external_ids[start : start + _CHUNK])),
            mirror.c.digest.is_not(None),
        )
        out.update({row.external_id: row.digest for row in await conn.execute(query)})
    return out


async def read(
    conn: AsyncConnection, tenant: str, system: str, entity: str, external_ids: Sequence[str]
) -> dict[str, MirrorRow]:
    """Mirrored objects by id (deleted ones included, flagged)."""
    out: dict[str, MirrorRow] = {}
    for start in range(0, len(external_ids), _CHUNK):
        query = sa.select(mirror).where(
            _key(tenant, system),
            mirror.c.entity == entity,
            mirror.c.external_id.in_(external_ids[start : start + _CHUNK]),
        )
        for row in await conn.execute(query):
            out[row.external_id] = _row(row)
    return out


def _row(row: Any) -> MirrorRow:
    fields = canonical_loads(row.fields)
    return MirrorRow(fields, row.origin, bool(row.deleted), row.seen_at, row.changed_at, row.digest)


async def by_origin(
    conn: AsyncConnection, tenant: str, system: str, entity: str, origins: Sequence[str]
) -> dict[str, tuple[str, MirrorRow]]:
    """Mirrored objects stamped with these canonical ids: origin → (external id, row)."""
    query = sa.select(mirror).where(
        _key(tenant, system), mirror.c.entity == entity, mirror.c.origin.in_(origins)
    )
    return {row.origin: (row.external_id, _row(row)) for row in await conn.execute(query)}


async def scan(
    conn: AsyncConnection,
    tenant: str,
    system: str,
    entity: str,
    after: str | None,
    limit: int,
    *,
    seen_before: float | None = None,
) -> list[str]:
    """Ids of live mirrored objects in id order, after `after`; only those not sent since `seen_before`."""
    query = (
        sa.select(mirror.c.external_id)
        .where(_key(tenant, system), mirror.c.entity == entity, mirror.c.deleted == 0)
        .order_by(mirror.c.external_id)
        .limit(limit)
    )
    if after is not None:
        query = query.where(mirror.c.external_id > after)
    if seen_before is not None:
        query = query.where(mirror.c.seen_at < seen_before)
    return list((await conn.execute(query)).scalars())


def _box(tenant: str, system: str) -> Any:
    return sa.and_(outbox.c.tenant == tenant, outbox.c.system == system)


async def put(
    conn: AsyncConnection,
    tenant: str,
    system: str,
    entity: str,
    items: Mapping[str, Mapping[str, Any]],
    *,
    now: float,
    changed: Mapping[str, Mapping[str, Any]] | None = None,
) -> None:
    """Queue documents for the partner; a newer version of a waiting document replaces it.

    `changed` gives, per document, the fields obmen changed with the values they replaced (absent: the
    whole document is obmen's). A version that replaces one the partner has not collected yet carries
    both versions' changes, each field with the value the partner had before the first of them.
    """
    if not items:
        return
    ids = list(items)
    query = sa.select(outbox.c.external_id, outbox.c.version, outbox.c.acked_version, outbox.c.changed).where(
        _box(tenant, system), outbox.c.entity == entity, outbox.c.external_id.in_(ids)
    )
    held = {row.external_id: row for row in await conn.execute(query)}
    names = changed or {}
    fresh = [
        {
            "tenant": tenant,
            "system": system,
            "entity": entity,
            "external_id": x,
            "fields": canonical_json(items[x]),
            "version": 1,
            "queued_at": now,
            "changed": _changed(names.get(x), "{}"),
        }
        for x in ids
        if x not in held
    ]
    if fresh:
        await conn.execute(outbox.insert(), fresh)
    for x in (x for x in ids if x in held):
        row = held[x]
        # Changes the partner has not shown yet stay named after it collected them (`unseen`, which the
        # ingest narrows as uploads show them); a delivered create's document is no longer all obmen's.
        earlier = row.changed if row.version > row.acked_version or row.changed is not None else "{}"
        await conn.execute(
            outbox.update()
            .where(_box(tenant, system), outbox.c.entity == entity, outbox.c.external_id == x)
            .values(
                fields=canonical_json(items[x]),
                version=row.version + 1,
                queued_at=now,
                changed=_changed(names.get(x), earlier),
            )
        )


def _changed(names: Mapping[str, Any] | None, earlier: str | None) -> str | None:
    """The stored `changed` map: None (whole document) absorbs everything; the earliest value stays."""
    if names is None or earlier is None:
        return None
    return canonical_json({**names, **canonical_loads(earlier)})


def _item(row: Any) -> OutboxItem:
    changed = canonical_loads(row.changed) if row.changed is not None else None
    pending = row.version > row.acked_version
    contested = {k: (v[0], v[1]) for k, v in canonical_loads(row.contested or "{}").items()}
    return OutboxItem(
        row.entity,
        row.external_id,
        canonical_loads(row.fields),
        row.version,
        row.queued_at,
        changed,
        pending,
        contested,
    )


async def narrow(
    conn: AsyncConnection,
    tenant: str,
    system: str,
    entity: str,
    unseen: Mapping[str, Mapping[str, Any]],
    contested: Mapping[str, Mapping[str, tuple[Any, Any]]] | None = None,
) -> None:
    """Keep only these of each document's changed fields: the rest the partner has shown (`unseen`).

    `contested` (whole, per document) replaces what the outbox remembers of the partner's own changes.
    """
    for external_id, names in unseen.items():
        values: dict[str, Any] = {"changed": canonical_json(dict(names))}
        if contested and external_id in contested:
            values["contested"] = canonical_json({k: list(v) for k, v in contested[external_id].items()})
        await conn.execute(
            outbox.update()
            .where(_box(tenant, system), outbox.c.entity == entity, outbox.c.external_id == external_id)
            .values(**values)
        )


async def offer_again(
    conn: AsyncConnection, tenant: str, system: str, entity: str, ids: Sequence[str]
) -> None:
    """Make delivered documents pending again: the partner is to collect them once more."""
    await conn.execute(
        outbox.update()
        .where(
            _box(tenant, system),
            outbox.c.entity == entity,
            outbox.c.external_id.in_(list(ids)),
            outbox.c.version <= outbox.c.acked_version,
        )
        .values(version=outbox.c.acked_version + 1)
    )


async def collect(
    conn: AsyncConnection, tenant: str, system: str, run: str, *, limit: int = 1000
) -> list[OutboxItem]:
    """Documents not yet acknowledged, marked as sent under `run`, each rebuilt on the partner's latest
    upload of the object (`OutboxItem.on`)."""
    query = (
        sa.select(outbox)
        .where(_box(tenant, system), outbox.c.version > outbox.c.acked_version)
        .order_by(outbox.c.queued_at)
        .limit(limit)
    )
    rows = list(await conn.execute(query))
    if rows:
        # One executemany for the whole collection, not a statement per document (issue 14).
        mark = (
            outbox.update()
            .where(
                _box(tenant, system),
                outbox.c.entity == sa.bindparam("b_entity"),
                outbox.c.external_id == sa.bindparam("b_xid"),
            )
            .values(sent_run=run, sent_version=sa.bindparam("b_version"))
        )
        marks = [{"b_entity": r.entity, "b_xid": r.external_id, "b_version": r.version} for r in rows]
        await conn.execute(mark, marks)
    items = [_item(r) for r in rows]
    wanted: dict[str, list[str]] = {}
    for item in items:
        if item.changed is not None:
            wanted.setdefault(item.entity, []).append(item.external_id)
    latest = {
        (entity, x): row
        for entity, ids in wanted.items()
        for x, row in (await read(conn, tenant, system, entity, ids)).items()
    }
    return [replace(i, fields=i.on(latest.get((i.entity, i.external_id)))) for i in items]


async def acknowledge(conn: AsyncConnection, tenant: str, system: str, run: str) -> int:
    """The partner confirmed `run`: what it carried is delivered (newer versions stay pending)."""
    result = await conn.execute(
        outbox.update()
        .where(_box(tenant, system), outbox.c.sent_run == run)
        .values(acked_version=outbox.c.sent_version)
    )
    return int(result.rowcount or 0)


async def withhold(
    conn: AsyncConnection, tenant: str, system: str, run: str, entity: str, external_ids: Sequence[str]
) -> None:
    """Take documents out of `run` (they were not delivered): its acknowledgement leaves them pending.

    Only the run's own marks are cleared, so a newer version queued meanwhile is neither touched nor
    overwritten: putting the collected document back instead would lose that version.
    """
    await conn.execute(
        outbox.update()
        .where(
            _box(tenant, system),
            outbox.c.sent_run == run,
            outbox.c.entity == entity,
            outbox.c.external_id.in_(list(external_ids)),
        )
        .values(sent_run=None, sent_version=None)
    )


async def read_with_queued(
    conn: AsyncConnection, tenant: str, system: str, entity: str, external_ids: Sequence[str]
) -> tuple[dict[str, MirrorRow], dict[str, OutboxItem]]:
    """Mirrored objects by id (as `read`), and their queued documents, delivered or not, newest version
    each: one statement a chunk, since every read of what a partner holds needs both (issue 14)."""
    rows: dict[str, MirrorRow] = {}
    queued: dict[str, OutboxItem] = {}
    for start in range(0, len(external_ids), _CHUNK):
        chunk = external_ids[start : start + _CHUNK]
        for row in await conn.execute(_both(tenant, system, entity, chunk)):
            if row.kind == "m":
                rows[row.external_id] = _row(row)
            else:
                queued[row.external_id] = _item(row)
    return rows, queued


def _both(tenant: str, system: str, entity: str, ids: Sequence[str]) -> sa.CompoundSelect[Any]:
    """The mirror's rows and the outbox's of these ids, in one result: absent columns are NULL."""
    m, o = mirror.c, outbox.c

    def null(kind: type[sa.types.TypeEngine[Any]], name: str) -> Any:
        return sa.cast(sa.null(), kind).label(name)

    int_, float_, text = sa.Integer, sa.Float, sa.Text
    mirrored = sa.select(
        sa.literal("m").label("kind"),
        m.entity,
        m.external_id,
        m.fields,
        m.origin,
        m.deleted,
        m.seen_at,
        m.changed_at,
        m.digest,
        null(int_, "version"),
        null(int_, "acked_version"),
        null(float_, "queued_at"),
        null(text, "changed"),
        null(text, "contested"),
    ).where(_key(tenant, system), m.entity == entity, m.external_id.in_(ids))
    boxed = sa.select(
        sa.literal("o"),
        o.entity,
        o.external_id,
        o.fields,
        null(text, "origin"),
        null(int_, "deleted"),
        null(float_, "seen_at"),
        null(float_, "changed_at"),
        null(text, "digest"),
        o.version,
        o.acked_version,
        o.queued_at,
        o.changed,
        o.contested,
    ).where(_box(tenant, system), o.entity == entity, o.external_id.in_(ids))
    return sa.union_all(mirrored, boxed)


@dataclass(frozen=True, slots=True)
class Snapshot:
    """An object as a mirrored connector sees it (see `obmen.connectors.mirrored.connector`)."""

    fields: Mapping[str, Any]
    origin: str | None
    modified_at: float
    #: `OutboxItem.contested` of the object's document.
    contested: Mapping[str, tuple[Any, Any]] = field(default_factory=dict)


class MirrorStore:
    """The mirror and outbox of one partner system, as the port a mirrored connector needs."""

    def __init__(self, db: Database, tenant: str, system: str, *, clock: Callable[[], float]) -> None:
        self.db, self.tenant, self.system, self.clock = db, tenant, system, clock

    async def snapshots(self, entity: str, external_ids: Sequence[str]) -> dict[str, Snapshot]:
        """Live mirrored objects, overlaid by documents queued after the partner last sent them."""
        async with self.db.begin() as conn:
            rows, queued = await read_with_queued(conn, self.tenant, self.system, entity, external_ids)
        return _overlay(rows, queued)

    async def origins(self, entity: str, canonical_ids: Sequence[str]) -> dict[str, tuple[str, Snapshot]]:
        """Objects obmen created: their external id is the canonical id (or the mirror says so)."""
        async with self.db.begin() as conn:
            stamped = await by_origin(conn, self.tenant, self.system, entity, canonical_ids)
        found = await self.snapshots(entity, canonical_ids)
        out = {cid: (cid, snap) for cid, snap in found.items()}
        for cid, (external_id, _) in stamped.items():
            snap = (await self.snapshots(entity, [external_id])).get(external_id)
            if snap is not None:
                out[cid] = (external_id, snap)
        return out

    async def ids(self, entity: str, after: str | None, limit: int) -> list[str]:
        """Live mirrored ids in order."""
        async with self.db.begin() as conn:
            return await scan(conn, self.tenant, self.system, entity, after, limit)

    async def queue(
        self,
        entity: str,
        documents: Mapping[str, Mapping[str, Any]],
        changed: Mapping[str, Mapping[str, Any]] | None = None,
    ) -> None:
        """Put documents in the outbox; `changed`: the fields obmen changed in each, and their old values."""
        async with self.db.begin() as conn:
            await put(conn, self.tenant, self.system, entity, documents, now=self.clock(), changed=changed)


def _overlay(rows: Mapping[str, MirrorRow], queued: Mapping[str, OutboxItem]) -> dict[str, Snapshot]:
    out: dict[str, Snapshot] = {}
    for external_id, row in rows.items():
        item = queued.get(external_id)
        if item is not None and item.queued_at >= row.seen_at:
            out[external_id] = Snapshot(item.fields, row.origin or external_id, item.queued_at)
        elif item is not None and item.pending and item.changed is not None and not row.deleted:
            # The partner changed the object while obmen's changes wait for it: it will have both
            # (a field both changed shows the partner's value, for the engine to decide).
            out[external_id] = Snapshot(item.on(row), row.origin, row.changed_at, item.contested)
        elif not row.deleted:
            contested = item.contested if item is not None else {}
            out[external_id] = Snapshot(row.fields, row.origin, row.changed_at, contested)
    for external_id, item in queued.items():
        # Created by obmen and not uploaded back yet: it exists as far as the partner will know.
        if external_id not in rows:
            out[external_id] = Snapshot(item.fields, external_id, item.queued_at)
    return out
