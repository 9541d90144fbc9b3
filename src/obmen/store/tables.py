"""The schema: every table obmen keeps, in SQLAlchemy Core, portable between SQLite and PostgreSQL.

Times are UNIX seconds as floats (cheap to compare on both databases, and the engine's clock is
injected as a float anyway). Field maps are JSON text. Every row belongs to a tenant: one tenant is one
set of connected systems (one 1C infobase, one site, one Bitrix24 portal).
"""

from __future__ import annotations

from sqlalchemy import (
    Column,
    Float,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "pk": "pk_%(table_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s",
    }
)

_ID = String(64)
_EXT = String(255)

#: The id map: canonical id ⇄ (system, external id), unique both ways (docs/architecture.md §2.4).
links = Table(
    "links",
    metadata,
    Column("tenant", _ID, primary_key=True),
    Column("entity", _ID, primary_key=True),
    Column("system", _ID, primary_key=True),
    Column("external_id", _EXT, primary_key=True),
    Column("canonical_id", _ID, nullable=False),
    Column("created_at", Float, nullable=False),
    UniqueConstraint("tenant", "entity", "canonical_id", "system"),
)

#: The base: canonical field values all linked systems last agreed on (docs/architecture.md §2.2).
bases = Table(
    "bases",
    metadata,
    Column("tenant", _ID, primary_key=True),
    Column("entity", _ID, primary_key=True),
    Column("canonical_id", _ID, primary_key=True),
    Column("fields", Text, nullable=False),
    Column("fingerprint", String(64), nullable=False),
    Column("updated_at", Float, nullable=False),
    #: {"shown": {system: {field: level}}, "held": {system: {field: print}}, "unknown": {system: {field:
    #: value}}}: what each side last showed of each fact, the values it showed against the agreed ones and
    #: which fields it could not tell (docs/architecture.md §2.11, §2.12).
    Column("sides", Text),
)

#: The work queue of keys: deduplicated while pending, one running item per lock.
work_items = Table(
    "work_items",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("tenant", _ID, nullable=False),
    Column("key", String(400), nullable=False),
    Column("lock", String(400), nullable=False),
    Column("entity", _ID, nullable=False),
    Column("canonical_id", _ID),
    Column("system", _ID),
    Column("external_id", _EXT),
    Column("state", String(16), nullable=False),
    Column("not_before", Float, nullable=False),
    Column("attempts", Integer, nullable=False, server_default=text("0")),
    Column("last_error", Text),
    Column("trigger", String(64), nullable=False),
    Column("enqueued_at", Float, nullable=False),
    Column("claimed_by", String(128)),
    Column("lease_until", Float),
    #: When the item began waiting for a referenced object (docs/architecture.md §2.14).
    Column("waiting_since", Float),
    Index(
        "uq_work_items_pending_key",
        "tenant",
        "key",
        unique=True,
        sqlite_where=text("state = 'pending'"),
        postgresql_where=text("state = 'pending'"),
    ),
    #: Serves the claim's `ORDER BY not_before, id` (migration 0005).
    Index("ix_work_items_claim", "tenant", "state", "not_before", "id"),
    Index("ix_work_items_lock", "tenant", "lock", "state"),
)

#: Source checkpoints: where each change feed was last read up to.
cursors = Table(
    "cursors",
    metadata,
    Column("tenant", _ID, primary_key=True),
    Column("source", _ID, primary_key=True),
    Column("value", Text),
    Column("updated_at", Float, nullable=False),
)

#: Every write obmen makes, written ahead of the remote call and settled after it (docs/architecture.md §2.8).
journal = Table(
    "journal",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("tenant", _ID, nullable=False),
    Column("at", Float, nullable=False),
    Column("entity", _ID, nullable=False),
    Column("canonical_id", _ID, nullable=False),
    Column("action", String(16), nullable=False),
    Column("source_system", _ID),
    Column("target_system", _ID, nullable=False),
    Column("external_id", _EXT),
    Column("fields", Text, nullable=False),
    Column("trigger", String(64), nullable=False),
    Column("status", String(16), nullable=False),
    Column("error", Text),
    #: When the key that caused the write was enqueued, and when the write was confirmed (latency).
    Column("enqueued_at", Float),
    Column("settled_at", Float),
    Index("ix_journal_object", "tenant", "entity", "canonical_id"),
    Index("ix_journal_at", "tenant", "at"),
)

#: Fields that changed on several sides to different values under the `conflict` policy.
conflicts = Table(
    "conflicts",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("tenant", _ID, nullable=False),
    Column("entity", _ID, nullable=False),
    Column("canonical_id", _ID, nullable=False),
    Column("field", String(128), nullable=False),
    Column("base", Text, nullable=False),
    Column("candidates", Text, nullable=False),
    Column("created_at", Float, nullable=False),
    Column("resolved_at", Float),
    Column("resolution", Text),
    #: An operator's decision, waiting for the engine to apply it: the value (JSON), the side it was
    #: taken from (NULL for a typed value), who and when (migration 0006).
    Column("decision", Text),
    Column("decided_side", _ID),
    Column("decided_by", String(128)),
    Column("decided_at", Float),
    Index(
        "uq_conflicts_open",
        "tenant",
        "entity",
        "canonical_id",
        "field",
        unique=True,
        sqlite_where=text("resolved_at IS NULL"),
        postgresql_where=text("resolved_at IS NULL"),
    ),
)

#: Work items that failed permanently or too often: never dropped, retried by an operator.
parked = Table(
    "parked",
    metadata,
    Column("tenant", _ID, primary_key=True),
    Column("key", String(400), primary_key=True),
    Column("entity", _ID, nullable=False),
    Column("canonical_id", _ID),
    Column("system", _ID),
    Column("external_id", _EXT),
    Column("reason", Text, nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("trigger", String(64), nullable=False),
    Column("parked_at", Float, nullable=False),
)

#: Idempotency intents: a create is recorded here before the remote call (docs/architecture.md §2.4).
intents = Table(
    "intents",
    metadata,
    Column("tenant", _ID, primary_key=True),
    Column("entity", _ID, primary_key=True),
    Column("canonical_id", _ID, primary_key=True),
    Column("system", _ID, primary_key=True),
    Column("created_at", Float, nullable=False),
    Column("attempts", Integer, nullable=False, server_default=text("1")),
)

#: Leases: one live owner per name (a tenant's rate limiter, the scheduler, the site exchange), expiring
#: unless its process's heartbeat renews it (store/keeper.py, docs/operations.md §10).
leases = Table(
    "leases",
    metadata,
    Column("name", String(200), primary_key=True),
    Column("owner", String(128), nullable=False),
    Column("expires_at", Float, nullable=False),
    #: When `owner` took the lease (a renewal keeps it); NULL on rows written before revision 0009.
    Column("acquired_at", Float),
    #: The ttl it was taken with, and when its loop last made progress and what it was doing then.
    Column("ttl", Float),
    Column("ticked_at", Float),
    Column("doing", String(200)),
)

#: What a pull-only partner last told us (1C's uploads, the site's order exports): docs/architecture.md §2.7.
mirror = Table(
    "mirror",
    metadata,
    Column("tenant", _ID, primary_key=True),
    Column("system", _ID, primary_key=True),
    Column("entity", _ID, primary_key=True),
    Column("external_id", _EXT, primary_key=True),
    Column("fields", Text, nullable=False),
    Column("fingerprint", String(64), nullable=False),
    Column("origin", _ID),
    Column("deleted", Integer, nullable=False, server_default=text("0")),
    #: Last time the partner sent this object, changed or not; `changed_at` when its content changed.
    Column("seen_at", Float, nullable=False),
    Column("changed_at", Float, nullable=False),
    #: The raw digest of the element the partner last sent (store/mirror.py `digests`); NULL when the row
    #: was last written from anything else, so only an untouched row can be skipped unparsed.
    Column("digest", String(32)),
)

#: What obmen wants a pull-only partner to collect; acknowledged only when the partner confirms.
outbox = Table(
    "outbox",
    metadata,
    Column("tenant", _ID, primary_key=True),
    Column("system", _ID, primary_key=True),
    Column("entity", _ID, primary_key=True),
    Column("external_id", _EXT, primary_key=True),
    Column("fields", Text, nullable=False),
    Column("version", Integer, nullable=False),
    Column("queued_at", Float, nullable=False),
    #: JSON object: the fields obmen changed since the partner last had the object, each with the
    #: partner's value it replaced; NULL: the whole document is obmen's (store/mirror.py `OutboxItem.on`).
    Column("changed", Text),
    #: JSON object: fields the partner changed itself while obmen's change of them was in flight, each
    #: with [the value it changed from, obmen's value it never saw] (`OutboxItem.contested`).
    Column("contested", Text),
    #: The run that last collected it and the version that run carried; `acked_version` after success.
    Column("sent_run", String(64)),
    Column("sent_version", Integer),
    Column("acked_version", Integer, nullable=False, server_default=text("0")),
    Index("ix_outbox_pending", "tenant", "system", "acked_version", "version"),
)

__all__ = [
    "bases",
    "conflicts",
    "cursors",
    "intents",
    "journal",
    "leases",
    "links",
    "metadata",
    "mirror",
    "outbox",
    "parked",
    "work_items",
]

#: The last file of each name and kind a partner's upload brought that was absorbed to its end
#: (store/uploads.py): an upload equal to it byte for byte is acknowledged without being read.
uploads = Table(
    "uploads",
    metadata,
    Column("tenant", _ID, primary_key=True),
    Column("system", _ID, primary_key=True),
    #: What the file is (`import`, `offers`, `prices`, `rests`…, from its name) and its path in the run.
    Column("kind", _ID, primary_key=True),
    Column("name", String(512), primary_key=True),
    Column("digest", String(64), nullable=False),
    #: JSON lists: the entities the file wrote, and those it listed in full (its run may retire them).
    Column("entities", Text, nullable=False),
    Column("full", Text, nullable=False),
    #: The run that absorbed it; 1 once the mirror holds what the file said, with its run's retirements.
    Column("run", String(64), nullable=False),
    Column("settled", Integer, nullable=False, server_default=text("0")),
    #: When the mirror last held exactly what the file said: a later change of its entities voids it.
    Column("held_at", Float, nullable=False),
)
