"""What happened to one object, and what obmen did lately (docs/architecture.md).

See §2.8 "everything explains itself".

`recent_propagations` lists the last applied journal rows with each object's ids in every system and the
latency from the key being enqueued to the write being confirmed. `timeline` answers "what happened to
order 132?": its links, agreed base, journal, conflicts, queue and parked state and what a pull-only
partner has yet to collect, in time order. Both return JSON-safe data; `timeline_lines` renders a
timeline for a terminal.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from obmen.store.database import Connection, Database
from obmen.store.tables import bases, conflicts, journal, links, outbox, parked, work_items

__all__ = [
    "Timeline",
    "parse_key",
    "parse_target",
    "propagations",
    "read_propagations",
    "timeline",
    "timeline_json",
    "timeline_lines",
]


def _latency(enqueued_at: float | None, settled_at: float | None) -> float | None:
    """Enqueue → confirmation, when the journal row knows both (rows before migration 0003 do not)."""
    if enqueued_at is None or settled_at is None:
        return None
    return round(max(0.0, settled_at - enqueued_at), 6)


def _journal_event(row: Any) -> dict[str, Any]:
    fields = json.loads(row.fields)
    return {
        "id": row.id,
        "at": row.at,
        "entity": row.entity,
        "canonical_id": row.canonical_id,
        "action": row.action,
        "status": row.status,
        "source_system": row.source_system,
        "target_system": row.target_system,
        "external_id": row.external_id,
        "changed": sorted(fields),
        "fields": fields,
        "trigger": row.trigger,
        "error": row.error,
        "enqueued_at": row.enqueued_at,
        "settled_at": row.settled_at,
        "latency": _latency(row.enqueued_at, row.settled_at),
    }


async def _links_of(conn: Connection, tenant: str, pairs: set[tuple[str, str]]) -> dict[tuple[str, str], Any]:
    """(entity, canonical id) → {system: external id}."""
    out: dict[tuple[str, str], dict[str, str]] = {pair: {} for pair in pairs}
    for entity in {e for e, _ in pairs}:
        ids = [c for e, c in pairs if e == entity]
        rows = await conn.execute(
            sa.select(links.c.canonical_id, links.c.system, links.c.external_id).where(
                links.c.tenant == tenant, links.c.entity == entity, links.c.canonical_id.in_(ids)
            )
        )
        for row in rows:
            out[(entity, row.canonical_id)][row.system] = row.external_id
    return out


async def propagations(conn: Connection, tenant: str, *, limit: int = 20) -> list[dict[str, Any]]:
    """The last `limit` applied journal rows, newest first, each with the object's ids per system."""
    query = (
        sa.select(journal)
        .where(journal.c.tenant == tenant, journal.c.status == "applied")
        # (at, id) walks ix_journal_at backwards; by id alone both databases sort the whole journal.
        .order_by(journal.c.at.desc(), journal.c.id.desc())
        .limit(limit)
    )
    events = [_journal_event(row) for row in await conn.execute(query)]
    ids = await _links_of(conn, tenant, {(e["entity"], e["canonical_id"]) for e in events})
    for event in events:
        event["links"] = ids[(event["entity"], event["canonical_id"])]
        del event["fields"]  # the list shows which fields changed; the timeline shows their values
    return events


async def read_propagations(db: Database, tenant: str, *, limit: int = 20) -> list[dict[str, Any]]:
    """`propagations` in a transaction of its own."""
    async with db.begin() as conn:
        return await propagations(conn, tenant, limit=limit)


def parse_key(key: str) -> tuple[str | None, str]:
    """`system:external_id` → (system, external id); a bare canonical id → (None, id)."""
    # Canonical ids are hex (sync.adoption) and system names have no colon, so the first colon splits.
    system, sep, ident = key.partition(":")
    if not sep:
        return None, key
    if not system or not ident:
        raise ValueError(f"expected a canonical id or system:external_id, got {key!r}")
    return system, ident


def parse_target(target: str) -> tuple[str, str]:
    """`order:site:132` or `order:<canonical id>` (the CLI's form) → (entity, key)."""
    entity, sep, key = target.partition(":")
    if not sep or not entity or not key:
        raise ValueError(f"expected entity:canonical_id or entity:system:external_id, got {target!r}")
    parse_key(key)
    return entity, key


@dataclass(slots=True)
class Timeline:
    """Everything the store knows about one object."""

    entity: str
    key: str
    canonical_id: str | None = None
    links: dict[str, str] = field(default_factory=dict)
    base: dict[str, Any] | None = None
    base_updated_at: float | None = None
    events: list[dict[str, Any]] = field(default_factory=list)
    queued: list[dict[str, Any]] = field(default_factory=list)
    parked: list[dict[str, Any]] = field(default_factory=list)
    outbox: list[dict[str, Any]] = field(default_factory=list)
    #: system → field → what the system holds that tells nothing of the field (an unmapped stage, §2.12).
    unknown: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: system → field → what the system showed, when last read, against the agreed value: a field it only
    #: shows (docs/architecture.md §2.15) or a write it could not take (an unmapped status, §2.12).
    held: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: Journal rows left out: only the newest `limit` are read (a product's stock changes every run).
    omitted: int = 0

    @property
    def found(self) -> bool:
        """Whether the store knows anything about the object."""
        return bool(self.canonical_id or self.events or self.queued or self.parked)


async def timeline(db: Database, tenant: str, entity: str, key: str, *, limit: int = 500) -> Timeline:
    """The history of one object given by its canonical id or `system:external_id`.

    At most the newest `limit` journal rows are included; `omitted` counts the older ones.
    """
    system, ident = parse_key(key)
    out = Timeline(entity=entity, key=key)
    async with db.begin() as conn:
        if system is None:
            out.canonical_id = ident
        else:
            found = await conn.execute(
                sa.select(links.c.canonical_id).where(
                    links.c.tenant == tenant,
                    links.c.entity == entity,
                    links.c.system == system,
                    links.c.external_id == ident,
                )
            )
            out.canonical_id = found.scalar_one_or_none()
        pairs = {(system, ident)} if system is not None else set()
        if out.canonical_id is not None:
            await _linked_history(conn, tenant, out, limit)
            pairs |= set(out.links.items())
            if not out.links and out.base is None and not out.events:
                out.canonical_id = None  # a bare id nobody has heard of
        await _work_state(conn, tenant, out, pairs)
    out.events.sort(key=_order(out.events))
    return out


def _order(events: list[dict[str, Any]]) -> Callable[[dict[str, Any]], tuple[float, float]]:
    """Time order; within one instant the journal's own order, with a created object's link right
    after its create (the link is the confirmation), other links before the writes they caused, and
    parking and conflicts after the writes whose outcome they are."""
    creates = {
        (e["target_system"], e["external_id"]): e["id"]
        for e in events
        if e["kind"] == "write" and e["action"] == "create" and e["external_id"]
    }

    def key(e: dict[str, Any]) -> tuple[float, float]:
        if e["kind"] == "write":
            return e["at"], e["id"]
        if e["kind"] == "linked":
            created = creates.get((e["system"], e["external_id"]))
            return e["at"], -1.0 if created is None else created + 0.5
        return e["at"], math.inf

    return key


async def _linked_history(conn: Connection, tenant: str, out: Timeline, limit: int) -> None:
    """Links, base, journal and conflicts of a linked object."""
    cid, entity = out.canonical_id, out.entity
    rows = await conn.execute(
        sa.select(links).where(
            links.c.tenant == tenant, links.c.entity == entity, links.c.canonical_id == cid
        )
    )
    for row in rows:
        out.links[row.system] = row.external_id
        out.events.append(
            {"kind": "linked", "at": row.created_at, "system": row.system, "external_id": row.external_id}
        )
    base = (
        await conn.execute(
            sa.select(bases).where(
                bases.c.tenant == tenant, bases.c.entity == entity, bases.c.canonical_id == cid
            )
        )
    ).first()
    if base is not None:
        out.base, out.base_updated_at = json.loads(base.fields), base.updated_at
        sides = json.loads(base.sides) if base.sides else {}
        out.unknown = sides.get("unknown", {})
        out.held = _behind(out.base or {}, sides.get("held", {}))
    where = sa.and_(journal.c.tenant == tenant, journal.c.entity == entity, journal.c.canonical_id == cid)
    query = sa.select(journal).where(where).order_by(journal.c.id.desc()).limit(limit)
    newest = (await conn.execute(query)).all()
    out.events += [{"kind": "write", **_journal_event(row)} for row in reversed(newest)]
    if len(newest) == limit:
        total = await conn.execute(sa.select(sa.func.count()).select_from(journal).where(where))
        out.omitted = total.scalar_one() - limit
    where = sa.and_(
        conflicts.c.tenant == tenant, conflicts.c.entity == entity, conflicts.c.canonical_id == cid
    )
    for row in await conn.execute(sa.select(conflicts).where(where)):
        out.events.append(
            {
                "kind": "conflict_opened",
                "at": row.created_at,
                "field": row.field,
                "base": json.loads(row.base),
                "candidates": json.loads(row.candidates),
            }
        )
        if row.resolved_at is not None:
            closed = {"kind": "conflict_closed", "at": row.resolved_at, "field": row.field}
            out.events.append({**closed, "resolution": row.resolution})


async def _work_state(conn: Connection, tenant: str, out: Timeline, pairs: set[tuple[str, str]]) -> None:
    """Queue items, parked items and outbox documents under the object's linked or unlinked keys."""
    keys = {f"{out.entity}@{s}:{x}" for s, x in pairs}
    if out.canonical_id is not None:
        keys.add(f"{out.entity}:{out.canonical_id}")
    w = work_items.c
    rows = await conn.execute(sa.select(work_items).where(w.tenant == tenant, w.key.in_(keys)).order_by(w.id))
    out.queued = [
        {
            "key": r.key,
            "state": r.state,
            "not_before": r.not_before,
            "attempts": r.attempts,
            "last_error": r.last_error,
            "trigger": r.trigger,
            "enqueued_at": r.enqueued_at,
        }
        for r in rows
    ]
    rows = await conn.execute(sa.select(parked).where(parked.c.tenant == tenant, parked.c.key.in_(keys)))
    for r in rows:
        item = {
            "key": r.key,
            "reason": r.reason,
            "attempts": r.attempts,
            "trigger": r.trigger,
            "at": r.parked_at,
        }
        out.parked.append(item)
        out.events.append({"kind": "parked", **item})
    for system, ident in sorted(pairs):
        row = (
            await conn.execute(
                sa.select(outbox).where(
                    outbox.c.tenant == tenant,
                    outbox.c.system == system,
                    outbox.c.entity == out.entity,
                    outbox.c.external_id == ident,
                )
            )
        ).first()
        if row is not None:
            out.outbox.append(
                {
                    "system": system,
                    "external_id": ident,
                    "version": row.version,
                    "acked_version": row.acked_version,
                    "delivered": row.acked_version >= row.version,
                    "queued_at": row.queued_at,
                    "sent_run": row.sent_run,
                }
            )


def _behind(base: dict[str, Any], seen: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The values each side showed, when last read, that differ from the agreed ones."""
    out: dict[str, dict[str, Any]] = {}
    for system, fields in seen.items():
        for name, value in fields.items():
            if json.dumps(value, sort_keys=True) != json.dumps(base.get(name), sort_keys=True):
                out.setdefault(system, {})[name] = value
    return out


def timeline_json(t: Timeline) -> dict[str, Any]:
    """The timeline as JSON-safe data (the API and `obmen status --timeline --json`)."""
    return {
        "entity": t.entity,
        "key": t.key,
        "canonical_id": t.canonical_id,
        "links": t.links,
        "base": t.base,
        "base_updated_at": t.base_updated_at,
        "events": t.events,
        "queued": t.queued,
        "parked": t.parked,
        "outbox": t.outbox,
        "unknown": t.unknown,
        "held": t.held,
        "omitted": t.omitted,
    }


def _when(at: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(at)) + f".{int(at * 1000) % 1000:03d}"


def _event_line(e: dict[str, Any]) -> str:
    kind = e["kind"]
    if kind == "linked":
        return f"linked / связан: {e['system']}:{e['external_id']}"
    if kind == "write":
        source = e["source_system"] or "obmen"
        target = e["target_system"] + (f":{e['external_id']}" if e["external_id"] else "")
        line = f"{e['action']} {source} → {target} [{e['status']}] {', '.join(e['changed'])} ({e['trigger']})"
        if e["latency"] is not None:
            line += f" in {e['latency'] * 1000:.0f} ms"
        return line + (f": {e['error']}" if e["error"] else "")
    if kind == "conflict_opened":
        return f"conflict opened / конфликт: {e['field']} {json.dumps(e['candidates'], ensure_ascii=False)}"
    if kind == "conflict_closed":
        return f"conflict closed / конфликт закрыт: {e['field']} ({e['resolution']})"
    return f"parked / отложено: {e['key']} after {e['attempts']} attempts: {e['reason']}"


def timeline_lines(t: Timeline) -> list[str]:
    """The timeline as lines of text for a terminal, oldest event first."""
    if not t.found:
        return [f"{t.entity} {t.key}: nothing known / ничего не известно"]
    ids = ", ".join(f"{s}:{x}" for s, x in sorted(t.links.items())) or "not linked / не связан"
    lines = [f"{t.entity} {t.canonical_id or t.key}: {ids}"]
    if t.omitted:
        lines.append(f"… {t.omitted} older writes not shown / более ранние записи не показаны")
    lines += [f"{_when(e['at'])}  {_event_line(e)}" for e in t.events]
    lines += [f"queued / в очереди: {q['key']} {q['state']} (attempts {q['attempts']})" for q in t.queued]
    for box in t.outbox:
        state = "collected / забран" if box["delivered"] else "waits to be collected / ждёт выгрузки"
        lines.append(f"outbox {box['system']}:{box['external_id']} v{box['version']}: {state}")
    for system, fields in sorted(t.unknown.items()):
        for name, held in sorted(fields.items()):
            lines.append(f"{system} tells nothing of {name} / не сообщает {name}: {held}")
    for system, fields in sorted(t.held.items()):
        for name, held in sorted(fields.items()):
            shown = json.dumps(held, ensure_ascii=False)
            lines.append(f"{system} showed its own {name} when last read / показывал своё {name}: {shown}")
    if t.base is not None:
        lines.append(f"base / согласовано: {json.dumps(t.base, ensure_ascii=False, sort_keys=True)}")
    return lines
