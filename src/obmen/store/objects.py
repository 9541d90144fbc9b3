"""Objects by what a person knows of them: summaries for human names, and search (docs/operations.md §7.1).

A summary is read from the agreed base: an order's number, its customer's name and its total; a
person's name, phones and e-mails; a product's name and article. The dashboard turns summaries into
names ("Заказ №132 · Анна Смирнова · 15 270 ₽") wherever it shows an object. Search finds objects by
number, name, phone, e-mail, article, or an id in any system; a person found by phone or name brings
their orders along.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator
from typing import Any

import sqlalchemy as sa

from obmen.store.database import Connection, Database
from obmen.store.state._sql import chunks
from obmen.store.tables import bases, links

__all__ = ["ENTITY_ORDER", "refs_in", "search", "summaries"]

#: How search results are ordered: what an operator most often looks for first.
ENTITY_ORDER = ("order", "counterparty", "offer", "product", "invoice", "lead", "category", "user")
_KEPT = (
    "number",
    "name",
    "title",
    "status",
    "total",
    "phones",
    "emails",
    "article",
    "kind",
    "customer",
    "order",
)
_CANDIDATES = 500


def refs_in(value: Any) -> Iterator[tuple[str, str]]:
    """Every (entity, id) referenced in a field value (`{"$ref": entity, "id": id}`)."""
    if isinstance(value, dict):
        if "$ref" in value and "id" in value and len(value) == 2:
            yield str(value["$ref"]), str(value["id"])
            return
        for item in value.values():
            yield from refs_in(item)
    elif isinstance(value, list):
        for item in value:
            yield from refs_in(item)


async def summaries(
    db: Database, tenant: str, pairs: Iterable[tuple[str, str]]
) -> dict[tuple[str, str], dict[str, Any]]:
    """(entity, canonical id) → summary, for the objects the store has a base or links for."""
    async with db.begin() as conn:
        return await _summaries(conn, tenant, set(pairs))


async def _summaries(
    conn: Connection, tenant: str, pairs: set[tuple[str, str]]
) -> dict[tuple[str, str], dict[str, Any]]:
    out: dict[tuple[str, str], dict[str, Any]] = {}
    customers: set[tuple[str, str]] = set()
    for entity in sorted({e for e, _ in pairs}):
        ids = sorted(c for e, c in pairs if e == entity)
        for chunk in chunks(ids):
            for cid, fields, updated_at in await conn.execute(
                sa.select(bases.c.canonical_id, bases.c.fields, bases.c.updated_at).where(
                    bases.c.tenant == tenant, bases.c.entity == entity, bases.c.canonical_id.in_(chunk)
                )
            ):
                summary = _summary(entity, cid, json.loads(fields))
                summary["updated_at"] = updated_at
                out[(entity, cid)] = summary
                customers.update(refs_in(summary.get("customer")))
            for row in await conn.execute(
                sa.select(links.c.canonical_id, links.c.system, links.c.external_id).where(
                    links.c.tenant == tenant, links.c.entity == entity, links.c.canonical_id.in_(chunk)
                )
            ):
                entry = out.setdefault((entity, row.canonical_id), _summary(entity, row.canonical_id, {}))
                entry["links"][row.system] = row.external_id
    await _name_customers(conn, tenant, out, customers - set(out))
    return out


def _summary(entity: str, cid: str, fields: dict[str, Any]) -> dict[str, Any]:
    kept = {k: fields[k] for k in _KEPT if fields.get(k) not in (None, [], "")}
    return {"entity": entity, "canonical_id": cid, "links": {}, **kept}


async def _name_customers(
    conn: Connection, tenant: str, out: dict[tuple[str, str], dict[str, Any]], missing: set[tuple[str, str]]
) -> None:
    """An order's summary names its customer (read from the counterparty's base)."""
    ids = [cid for entity, cid in missing if entity == "counterparty"]
    found = {}
    for chunk in chunks(ids):
        rows = await conn.execute(
            sa.select(bases.c.canonical_id, bases.c.fields).where(
                bases.c.tenant == tenant,
                bases.c.entity == "counterparty",
                bases.c.canonical_id.in_(chunk),
            )
        )
        found.update({cid: json.loads(fields).get("name") for cid, fields in rows})
    for summary in out.values():
        for entity, cid in refs_in(summary.get("customer")):
            name = found.get(cid) or out.get((entity, cid), {}).get("name")
            if name:
                summary["customer_name"] = name


def _digits(text: str) -> str:
    digits = re.sub(r"\D", "", text)
    # A Russian number dialled with a leading 8 is stored as +7 (model/normalize.py).
    return "7" + digits[1:] if len(digits) == 11 and digits.startswith("8") else digits


def _like(text: str) -> str:
    return "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def _matches(q: str, fields: dict[str, Any]) -> bool:
    """Whether a decoded base answers the query (the SQL prefilter is broad: this decides)."""
    folded, digits = q.casefold().lstrip("№#"), _digits(q)
    for name in ("name", "title", "number", "article", "barcode", "xml_id"):
        value = fields.get(name)
        if isinstance(value, str) and folded and folded in value.casefold():
            return True
    if any(isinstance(e, str) and folded in e.casefold() for e in fields.get("emails") or ()):
        return True
    phones = fields.get("phones") or ()
    return len(digits) >= 5 and any(isinstance(p, str) and digits in _digits(p) for p in phones)


def _variants(q: str) -> set[str]:
    """What to look for in the stored JSON: SQLite folds only ASCII case, so Cyrillic is tried as typed,
    lower, upper and capitalised; a phone by its digits."""
    bare = q.lstrip("№#").strip()
    out = {bare, bare.lower(), bare.upper(), bare.capitalize(), bare.title()}
    digits = _digits(q)
    if len(digits) >= 5 and len(digits) >= len(re.sub(r"\s", "", bare)) / 2:
        out.add(digits)
    return {v for v in out if v}


async def search(
    db: Database, tenant: str, q: str, *, entity: str | None = None, limit: int = 20, offset: int = 0
) -> list[dict[str, Any]]:
    """Objects matching `q` (an id in any system, `system:id`, number, name, phone, e-mail, article), as
    summaries; with an empty `q`, the most recently agreed objects."""
    q = q.strip()
    async with db.begin() as conn:
        if not q:
            query = sa.select(bases.c.entity, bases.c.canonical_id).where(bases.c.tenant == tenant)
            if entity is not None:
                query = query.where(bases.c.entity == entity)
            query = query.order_by(bases.c.updated_at.desc()).limit(limit).offset(offset)
            pairs = [(r.entity, r.canonical_id) for r in await conn.execute(query)]
            found = await _summaries(conn, tenant, set(pairs))
            return [found[p] for p in pairs if p in found]
        exact = await _by_id(conn, tenant, q)
        matched = await _by_content(conn, tenant, q, entity)
        people = [cid for e, cid in matched if e == "counterparty"]
        matched += await _orders_of(conn, tenant, people)
        pairs = list(dict.fromkeys([*exact, *matched]))
        if entity is not None:
            pairs = [p for p in pairs if p[0] == entity]
        found = await _summaries(conn, tenant, set(pairs))
    rank = {e: i for i, e in enumerate(ENTITY_ORDER)}
    ordered = sorted(
        (p for p in pairs if p in found),
        key=lambda p: (p not in exact, rank.get(p[0], len(rank)), -(found[p].get("updated_at") or 0)),
    )
    return [found[p] for p in ordered[offset : offset + limit]]


async def _by_id(conn: Connection, tenant: str, q: str) -> list[tuple[str, str]]:
    """Objects whose canonical id or an external id (bare or `system:id`) is `q`."""
    system, sep, ident = q.partition(":")
    where = [links.c.external_id == q, links.c.canonical_id == q]
    if sep and ident:
        where.append(sa.and_(links.c.system == system, links.c.external_id == ident))
    rows = await conn.execute(
        sa.select(links.c.entity, links.c.canonical_id).where(links.c.tenant == tenant, sa.or_(*where))
    )
    return list(dict.fromkeys((r.entity, r.canonical_id) for r in rows))


async def _by_content(conn: Connection, tenant: str, q: str, entity: str | None) -> list[tuple[str, str]]:
    like = [bases.c.fields.like(_like(v), escape="\\") for v in _variants(q)]
    query = sa.select(bases.c.entity, bases.c.canonical_id, bases.c.fields).where(
        bases.c.tenant == tenant, sa.or_(*like)
    )
    if entity is not None and entity != "order":
        query = query.where(bases.c.entity.in_([entity, "counterparty"]))
    rows = await conn.execute(query.order_by(bases.c.updated_at.desc()).limit(_CANDIDATES))
    return [(r.entity, r.canonical_id) for r in rows if _matches(q, json.loads(r.fields))]


async def _orders_of(conn: Connection, tenant: str, people: list[str]) -> list[tuple[str, str]]:
    """Orders whose customer is one of these counterparties (newest first)."""
    if not people:
        return []
    refs = [json.dumps({"$ref": "counterparty", "id": cid}, separators=(",", ":")) for cid in people[:50]]
    like = [bases.c.fields.like(_like(f'"customer":{ref}'), escape="\\") for ref in refs]
    rows = await conn.execute(
        sa.select(bases.c.canonical_id)
        .where(bases.c.tenant == tenant, bases.c.entity == "order", sa.or_(*like))
        .order_by(bases.c.updated_at.desc())
        .limit(_CANDIDATES)
    )
    return [("order", r.canonical_id) for r in rows]
