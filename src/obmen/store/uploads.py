"""The last files a partner uploaded, each absorbed to its end, by digest (docs/architecture.md §2.5).

A pull-only partner (1C) sends its whole catalog again and again, mostly unchanged. The row of a file is
written only once the file was absorbed to its end, and it stays good while the mirror still holds what
the file said: any later change of the content of one of its entities (another file, a retirement)
voids it, and so does the next ingest of the same name, which forgets it before reading. A file that
listed objects in full is good only once its run's `deactivate` retired what it did not mention
(`settle`), so a run that ended before its deactivate leaves nothing to skip.
"""

from __future__ import annotations

import json
from collections.abc import Collection
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from obmen.store.tables import mirror, uploads

__all__ = ["Upload", "changed_since", "forget", "last", "remember", "settle", "void"]

#: A file not absorbed or confirmed for this long is forgotten (names that carry a fresh GUID each run
#: would otherwise pile up); forgetting one only costs reading it once more.
_KEEP = 30 * 86400.0


@dataclass(frozen=True, slots=True)
class Upload:
    """The last file of one name and kind absorbed to its end."""

    kind: str
    name: str
    digest: str
    entities: frozenset[str]
    full: frozenset[str]
    run: str
    settled: bool
    held_at: float


def _key(tenant: str, system: str) -> sa.ColumnElement[bool]:
    return sa.and_(uploads.c.tenant == tenant, uploads.c.system == system)


def _upload(row: sa.Row[tuple[object, ...]]) -> Upload:
    m = row._mapping
    return Upload(
        kind=str(m["kind"]),
        name=str(m["name"]),
        digest=str(m["digest"]),
        entities=frozenset(json.loads(str(m["entities"]))),
        full=frozenset(json.loads(str(m["full"]))),
        run=str(m["run"]),
        settled=bool(m["settled"]),
        held_at=float(str(m["held_at"])),
    )


async def last(conn: AsyncConnection, tenant: str, system: str, kind: str, name: str) -> Upload | None:
    """The last file of this name and kind absorbed to its end, if one is remembered."""
    query = sa.select(uploads).where(_key(tenant, system), uploads.c.kind == kind, uploads.c.name == name)
    row = (await conn.execute(query)).first()
    return _upload(row) if row is not None else None


async def changed_since(
    conn: AsyncConnection,
    tenant: str,
    system: str,
    entities: Collection[str],
    since: float,
    until: float | None = None,
) -> bool:
    """Whether the content of any mirrored object of `entities` changed after `since` (up to `until`)."""
    if not entities:
        return False
    where = [mirror.c.tenant == tenant, mirror.c.system == system, mirror.c.entity.in_(sorted(entities))]
    where.append(mirror.c.changed_at > since)
    if until is not None:
        where.append(mirror.c.changed_at <= until)
    query = sa.select(sa.literal(1)).select_from(mirror).where(*where).limit(1)
    return (await conn.execute(query)).first() is not None


async def remember(conn: AsyncConnection, tenant: str, system: str, upload: Upload) -> None:
    """Keep `upload` as the last file of its name and kind; old rows of the same kind are dropped."""
    await forget(conn, tenant, system, upload.kind, upload.name)
    await conn.execute(
        uploads.delete().where(
            _key(tenant, system), uploads.c.kind == upload.kind, uploads.c.held_at < upload.held_at - _KEEP
        )
    )
    await conn.execute(
        uploads.insert().values(
            tenant=tenant,
            system=system,
            kind=upload.kind,
            name=upload.name,
            digest=upload.digest,
            entities=json.dumps(sorted(upload.entities)),
            full=json.dumps(sorted(upload.full)),
            run=upload.run,
            settled=int(upload.settled),
            held_at=upload.held_at,
        )
    )


async def forget(conn: AsyncConnection, tenant: str, system: str, kind: str, name: str) -> None:
    """The file of this name and kind is being read again (or is void): nothing of it may be skipped."""
    await conn.execute(
        uploads.delete().where(_key(tenant, system), uploads.c.kind == kind, uploads.c.name == name)
    )


async def void(conn: AsyncConnection, tenant: str, system: str, run: str, entities: Collection[str]) -> None:
    """Forget the files of `run` that listed any of `entities` in full (their retirement did not happen)."""
    rows = (await conn.execute(sa.select(uploads).where(_key(tenant, system), uploads.c.run == run))).all()
    for upload in map(_upload, rows):
        if upload.full & set(entities):
            await forget(conn, tenant, system, upload.kind, upload.name)


async def settle(
    conn: AsyncConnection, tenant: str, system: str, run: str, *, retired_from: float, now: float
) -> int:
    """`run`'s deactivate retired what its files did not mention: they hold again as of `now`.

    A file whose entities another file changed after it and before the retirement (`retired_from`) no
    longer holds what it said alone, and is forgotten. Returns how many files were settled.
    """
    rows = (await conn.execute(sa.select(uploads).where(_key(tenant, system), uploads.c.run == run))).all()
    settled = 0
    for upload in map(_upload, rows):
        if await changed_since(conn, tenant, system, upload.entities, upload.held_at, retired_from):
            await forget(conn, tenant, system, upload.kind, upload.name)
            continue
        stmt = uploads.update().where(
            _key(tenant, system), uploads.c.kind == upload.kind, uploads.c.name == upload.name
        )
        await conn.execute(stmt.values(settled=1, held_at=now))
        settled += 1
    return settled
