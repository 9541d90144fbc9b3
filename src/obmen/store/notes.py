"""obmen's own notes in `cursors`, beside the systems' checkpoints: a load's progress (store/progress.py), an
open breaker (store/outages.py) and what `obmen check` read (store/facts.py). Readers that list a
system's checkpoints (`obmen status`, the overview) leave these out by this one list."""

from __future__ import annotations

from obmen.store import facts, outages, progress

__all__ = ["OWN", "own"]

#: The `cursors.source` prefixes of obmen's own notes.
OWN = (progress.PREFIX, outages.PREFIX, facts.PREFIX)


def own(source: str) -> bool:
    """Whether a cursor is one of obmen's notes, not a system's checkpoint."""
    return source.startswith(OWN)
