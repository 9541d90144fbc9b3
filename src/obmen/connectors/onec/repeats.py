"""Catalog files 1C sends again byte for byte: known by their digest, not read (docs/architecture.md §2.5).

1C sends its whole catalog on every full exchange, mostly unchanged. A file whose bytes equal the last
file of the same name and kind that obmen absorbed to its end is acknowledged without reading an item,
as long as the mirror still holds what that file said (`obmen.store.uploads`): a file cut short by a
crash was never remembered, and the next ingest of a name forgets the old one before it reads.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Collection
from pathlib import Path, PurePosixPath

from obmen.store import uploads
from obmen.store.database import Database
from obmen.store.uploads import Upload

__all__ = ["Repeats", "file_digest", "file_kind"]

_KIND = re.compile(r"[a-z]+")
_BLOCK = 1024 * 1024


def file_kind(name: str) -> str:
    """A file's kind by its name, as 1C names them: `import0_1.xml` → `import`, `rests___<guid>` → `rests`."""
    match = _KIND.match(PurePosixPath(name).name.lower())
    return match.group(0) if match else "file"


def file_digest(path: Path) -> str:
    """A digest of the file's bytes (read in blocks: memory stays flat however large the file)."""
    hasher = hashlib.blake2b(digest_size=16)
    with path.open("rb") as fh:
        while block := fh.read(_BLOCK):
            hasher.update(block)
    return hasher.hexdigest()


class Repeats:
    """The last files 1C's uploads brought, as one tenant's exchange endpoint asks about them."""

    def __init__(self, db: Database, tenant: str, system: str) -> None:
        self.db, self.tenant, self.system = db, tenant, system

    async def held(self, kind: str, name: str, digest: str) -> Upload | None:
        """The file last absorbed under this name and kind, when it has these bytes and still holds."""
        async with self.db.begin() as conn:
            upload = await uploads.last(conn, self.tenant, self.system, kind, name)
            if upload is None or upload.digest != digest or not upload.settled:
                return None
            if await uploads.changed_since(conn, self.tenant, self.system, upload.entities, upload.held_at):
                return None
        return upload

    async def forget(self, kinds_names: Collection[tuple[str, str]]) -> None:
        """These files are read again, or their skip did not hold: none of them may be skipped next."""
        async with self.db.begin() as conn:
            for kind, name in kinds_names:
                await uploads.forget(conn, self.tenant, self.system, kind, name)

    async def remember(self, upload: Upload) -> None:
        """A file was absorbed to its end."""
        async with self.db.begin() as conn:
            await uploads.remember(conn, self.tenant, self.system, upload)

    async def void(self, run: str, entities: Collection[str]) -> None:
        """`run`'s files that listed any of `entities` in full were not followed by their retirement."""
        async with self.db.begin() as conn:
            await uploads.void(conn, self.tenant, self.system, run, entities)

    async def settle(self, run: str, *, retired_from: float, now: float) -> int:
        """`run`'s deactivate is done: its files hold again as of `now` (`uploads.settle`)."""
        async with self.db.begin() as conn:
            return await uploads.settle(
                conn, self.tenant, self.system, run, retired_from=retired_from, now=now
            )
