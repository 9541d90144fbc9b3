"""Repositories for the engine's state, one module per table family (links, bases, intents, journal,
conflicts, cursors and leases).

Every function takes an open connection so that the reconciler can compose a whole batch's outcome
(bases, links, journal, conflicts, queue completion) into one transaction. Callers use them as
`state.fetch_links(…)`: this package is their one namespace.
"""

from __future__ import annotations

from obmen.store.state.bases import load_agreements, save_bases, save_sides
from obmen.store.state.conflicts import (
    ConflictNotOpen,
    closed_conflicts,
    decide_conflict,
    open_conflicts,
    open_conflicts_of,
    record_conflicts,
    resolve_conflicts,
)
from obmen.store.state.intents import add_intents, drop_intents, fetch_intents, pending_creates
from obmen.store.state.journal import (
    Enqueued,
    JournalEntry,
    plan_writes,
    record_links_in_journal,
    settle_writes,
)
from obmen.store.state.leases import (
    acquire_lease,
    cursors_under,
    get_cursor,
    lease_holder,
    release_lease,
    set_cursor,
)
from obmen.store.state.links import (
    LinkConflict,
    add_links,
    fetch_links,
    fetch_links_of,
    resolve_external,
    resolve_externals,
)

__all__ = [
    "ConflictNotOpen",
    "Enqueued",
    "JournalEntry",
    "LinkConflict",
    "acquire_lease",
    "add_intents",
    "add_links",
    "closed_conflicts",
    "cursors_under",
    "decide_conflict",
    "drop_intents",
    "fetch_intents",
    "fetch_links",
    "fetch_links_of",
    "get_cursor",
    "lease_holder",
    "load_agreements",
    "open_conflicts",
    "open_conflicts_of",
    "pending_creates",
    "plan_writes",
    "record_conflicts",
    "record_links_in_journal",
    "release_lease",
    "resolve_conflicts",
    "resolve_external",
    "resolve_externals",
    "save_bases",
    "save_sides",
    "set_cursor",
    "settle_writes",
]
