"""The next catalog file read while the last one is absorbed (docs/architecture.md §2.5).

1C uploads a run's files before it asks to import them (one archive holds them all, §1.4) and then asks
for them one after another: the catalog, its offers, prices, stock. While one file's records are
absorbed on the loop, the reading helper sits idle; it reads the file 1C will most likely ask for next
into a spool of its own, with a copy of the run's context. That spool is taken only when 1C asks for
exactly that file with the same bytes, the run's context unchanged since (no other file read
meanwhile), and no absorb since has written an entity for which the mirror's answers were used (the
items found unchanged, whose answer that absorb could have made stale). Anything else drops it, and the
file is read as before: reading ahead changes when a file is read, never what it imports.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import logging
from collections.abc import Awaitable, Callable, Collection, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from obmen.connectors.commerceml import KnownMany, RunContext
from obmen.connectors.mirrored.records import FileReport
from obmen.connectors.onec.repeats import file_digest, file_kind
from obmen.connectors.onec.spooler import Spooler

__all__ = ["Ahead", "next_file", "read_ahead"]

log = logging.getLogger(__name__)

#: The order 1C sends a catalog's files in (docs/protocols/commerceml.md §1.4); other names come last.
_ORDER = ("import", "offers", "prices", "rests")

Spooled = tuple[Path, RunContext, FileReport]


@dataclass(slots=True)
class Ahead:
    """A file being read (or read) ahead of its `import` call."""

    name: str
    #: The run's context generation it was read from (each file read, or skipped, makes a new one).
    generation: int
    #: Its digest and spool, or None when it was not read (sent unchanged, or the helper was busy).
    task: asyncio.Task[tuple[str, Spooled] | None]
    #: Entities the mirror's answers said were held as sent, while it was read.
    held: set[str] = field(default_factory=set)
    #: Entities written to the mirror since it began.
    written: set[str] = field(default_factory=set)

    async def take(self, name: str, digest: str, generation: int) -> Spooled | None:
        """Its spool, if it is still what reading `name` with those bytes now would give; else None."""
        if (name, generation) != (self.name, self.generation):
            self.drop()
            return None
        try:
            done = await asyncio.shield(self.task)
        except Exception:
            # Read again where it is asked for: a bad file fails there, with that file's own error.
            log.debug("1C exchange: reading %s ahead failed; it is read again", name, exc_info=True)
            return None
        if done is None or done[0] != digest or self.held & self.written:
            self.drop()
            return None
        return done[1]

    def drop(self) -> None:
        """Forget it; its spool is deleted once the reading ends."""
        self.task.add_done_callback(_delete_spool)


def _delete_spool(task: asyncio.Task[tuple[str, Spooled] | None]) -> None:
    if task.cancelled() or task.exception() is not None:
        return
    done = task.result()
    if done is not None:
        with contextlib.suppress(OSError):
            done[1][0].unlink(missing_ok=True)


def next_file(current: Path, done: Collection[str], min_bytes: int) -> Path | None:
    """The catalog file beside `current` that 1C will most likely ask for next, if one is worth reading.

    Only a file big enough for the reading helper is: a smaller one is read in moments when asked for.
    """

    def rank(path: Path) -> tuple[int, str]:
        kind = file_kind(path.name)
        return (_ORDER.index(kind) if kind in _ORDER else len(_ORDER), path.name)

    candidates = [
        p
        for p in current.parent.glob("*.xml")
        if p != current and p.name not in done and p.is_file() and p.stat().st_size >= min_bytes
    ]
    return min(candidates, key=rank) if candidates else None


def read_ahead(
    spooler: Spooler,
    path: Path,
    name: str,
    *,
    context: RunContext,
    generation: int,
    repeated: Callable[[str], Awaitable[bool]],
    known: KnownMany,
) -> Ahead:
    """Start reading `path` ahead, in the helper only, with a copy of `context`.

    `repeated(digest)` tells a file 1C sent again unchanged, which its `import` will skip unread.
    """
    ahead: Ahead

    def noting(batch: Sequence[tuple[str, str, str]]) -> Collection[tuple[str, str]]:
        held = known(batch)
        ahead.held.update(kind for kind, _ in held)
        return held

    # Copied now, on the loop: the run's own context changes in place once its next file is read.
    own, report = copy.deepcopy(context), FileReport()

    async def read() -> tuple[str, Spooled] | None:
        digest = await asyncio.to_thread(file_digest, path)
        if await repeated(digest):
            return None
        # Only in the helper: read in a thread here, it would slow the absorb it is meant to overlap.
        spool = await asyncio.to_thread(spooler.run_in_helper, path, own, report, noting)
        return None if spool is None else (digest, (spool, own, report))

    ahead = Ahead(name, generation, asyncio.ensure_future(read()))
    ahead.task.add_done_callback(_retrieved)
    return ahead


def _retrieved(task: asyncio.Task[tuple[str, Spooled] | None]) -> None:
    """A failure of a file never asked for (the run ended first) is not an error left unretrieved."""
    if not task.cancelled() and task.exception() is not None:
        log.debug("1C exchange: reading %s ahead failed", task.get_name(), exc_info=task.exception())
