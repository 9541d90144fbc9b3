"""What a partner's uploads left in its mirror, read as that system's facts (obmen.store.facts): a partner
that calls obmen is never called back (docs/architecture.md §2.7), so its mirror is what is known of it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from typing import Any

from obmen.store.mirror import MirrorStore

__all__ = ["SCAN", "named", "seen"]

#: Mirrored objects looked at per entity: price types and warehouses are few; statuses repeat.
SCAN = 5000
_PAGE = 500


async def named(mirror: MirrorStore, entity: str) -> dict[str, str]:
    """Id → name of the first `SCAN` mirrored objects of `entity` (1C's `Ид` of a price type, a warehouse)."""
    out: dict[str, str] = {}
    async for found in _pages(mirror, entity):
        out.update({ident: str(fields.get("name") or "") for ident, fields in found.items()})
    return out


async def seen(mirror: MirrorStore, entity: str, field: str) -> set[str]:
    """The values of `field` among the first `SCAN` mirrored objects of `entity` (the site's statuses)."""
    values: set[str] = set()
    async for found in _pages(mirror, entity):
        values |= {str(f[field]) for f in found.values() if f.get(field) not in (None, "")}
    return values


async def _pages(mirror: MirrorStore, entity: str) -> AsyncIterator[dict[str, Mapping[str, Any]]]:
    """The mirrored fields of `entity`, a page at a time, up to `SCAN` objects."""
    after: str | None = None
    for _ in range(SCAN // _PAGE):
        ids = await mirror.ids(entity, after, _PAGE)
        if not ids:
            return
        yield {ident: snap.fields for ident, snap in (await mirror.snapshots(entity, ids)).items()}
        after = ids[-1]
