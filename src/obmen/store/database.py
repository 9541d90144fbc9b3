"""Connecting to the store: SQLite by default (WAL, one file), PostgreSQL by URL; Alembic migrations.

The engine is async everywhere (`sqlite+aiosqlite`, `postgresql+psycopg`); migrations run on a sync
connection of the same database because Alembic is sync. `Database` is the one handle the rest of
obmen holds; the repositories in this package take it as their first argument.
"""

from __future__ import annotations

import asyncio
import contextlib
import weakref
from collections.abc import AsyncIterator
from contextvars import ContextVar
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from obmen.errors import ConfigError
from obmen.store.private import private_sqlite

__all__ = [
    "Connection",
    "Database",
    "Probe",
    "async_url",
    "head_revision",
    "probe",
    "refresh_statistics",
    "sync_url",
    "upgrade",
]

#: The connection type repositories take (re-exported so that callers need not import SQLAlchemy).
Connection = AsyncConnection

_MIGRATIONS = Path(__file__).with_name("migrations")


def async_url(url: str) -> str:
    """Normalise a database URL to its async driver (`sqlite+aiosqlite`, `postgresql+psycopg`)."""
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        return parsed.set(drivername="sqlite+aiosqlite").render_as_string(hide_password=False)
    if backend == "postgresql":
        return parsed.set(drivername="postgresql+psycopg").render_as_string(hide_password=False)
    raise ConfigError(f"database.url: unsupported database {backend!r}: expected sqlite or postgresql")


def sync_url(url: str) -> str:
    """Normalise a database URL to its sync driver (for Alembic)."""
    parsed = make_url(url)
    driver = "sqlite" if parsed.get_backend_name() == "sqlite" else "postgresql+psycopg"
    return parsed.set(drivername=driver).render_as_string(hide_password=False)


def _alembic_config(connection: sa.Connection) -> Config:
    config = Config()
    config.set_main_option("script_location", str(_MIGRATIONS))
    config.attributes["connection"] = connection
    return config


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # WAL lets readers proceed while one writer commits; busy_timeout makes concurrent writers wait
    # instead of failing with "database is locked".
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def upgrade(url: str, revision: str = "head") -> str:
    """Apply migrations up to `revision` and return the revision the database is at."""
    parsed = make_url(sync_url(url))
    if parsed.get_backend_name() == "sqlite":
        private_sqlite(parsed.database)
    engine = sa.create_engine(parsed)
    if parsed.get_backend_name() == "sqlite":
        sa.event.listen(engine, "connect", _sqlite_pragmas)
    try:
        with engine.begin() as connection:
            command.upgrade(_alembic_config(connection), revision)
            current = MigrationContext.configure(connection).get_current_revision()
            # Fresh statistics after a schema change: the planner must not plan on none (or old ones).
            connection.execute(sa.text("ANALYZE"))
    finally:
        engine.dispose()
    return current or "base"


def head_revision() -> str:
    """The newest migration this code knows."""
    script = ScriptDirectory(str(_MIGRATIONS))
    head = script.get_current_head()
    assert head is not None
    return head


@dataclass(frozen=True, slots=True)
class Probe:
    """What a database is like before anything is opened on it (`obmen check`, first contact)."""

    #: The revision it is at; None for an empty (or, on SQLite, absent) database.
    revision: str | None
    head: str
    #: Why it could not be reached, or None.
    error: str | None = None

    @property
    def migrated(self) -> bool:
        """Reachable and at the revision this code expects."""
        return self.error is None and self.revision == self.head


def probe(url: str) -> Probe:
    """Connect once and read the revision, creating nothing (a SQLite file that is absent stays absent)."""
    head = head_revision()
    parsed = make_url(sync_url(url))
    sqlite_file = parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:")
    if sqlite_file and not Path(str(parsed.database)).exists():
        return Probe(None, head)
    engine = sa.create_engine(parsed)
    try:
        with engine.connect() as connection:
            revision = MigrationContext.configure(connection).get_current_revision()
    except sa.exc.SQLAlchemyError as exc:
        # Unreachable, refused, unknown database: the operator needs the driver's own words, one line.
        reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()
        return Probe(None, head, error=reason[0] if reason else type(exc).__name__)
    finally:
        engine.dispose()
    return Probe(revision, head)


#: Rows changed since a table's last ANALYZE, beyond a fifth of its size, that warrant a new one.
_STALE_ROWS = 500
_STALE_SHARE = 0.2


async def refresh_statistics(conn: AsyncConnection, table: str, written: int) -> bool:
    """On PostgreSQL, ANALYZE `table` when a bulk write has left its statistics stale; True if it did.

    Autovacuum catches up within a minute or so, but a queue filled in one go is claimed at once: planned
    on a table believed empty, every claim walks every pending row (issue 14). The check is one cheap
    catalog query, made only after writes of many rows; the ANALYZE samples a bounded number of rows, so
    it costs milliseconds however large the table, and a growing table is analysed at most once per
    fifth of growth. The caller's own uncommitted rows count (PostgreSQL samples them as live).
    """
    if conn.dialect.name != "postgresql" or written < 100:
        return False
    row = (
        await conn.execute(
            sa.text(
                "SELECT s.n_mod_since_analyze, c.reltuples FROM pg_class c "
                "JOIN pg_stat_user_tables s ON s.relid = c.oid WHERE c.oid = to_regclass(:t)"
            ),
            {"t": table},
        )
    ).first()
    changed, size = (int(row[0] or 0), max(0.0, float(row[1] or 0))) if row else (0, 0.0)
    if changed + written < _STALE_ROWS + _STALE_SHARE * size:
        return False
    await conn.execute(sa.text(f"ANALYZE {table}"))
    return True


#: The databases whose transaction the current task (and the tasks it started) is inside.
_TURN: ContextVar[tuple[int, ...]] = ContextVar("obmen_store_turn", default=())


@dataclass(slots=True)
class Database:
    """An async engine plus what the repositories need to know about its dialect."""

    engine: AsyncEngine
    url: str
    #: Tenant → the clock reading until which this process skips giving back expired claims (store.queue).
    reap_after: dict[str, float] = field(default_factory=dict)
    #: SQL statements sent since the pool opened (an executemany counts once): `/metrics`, bench/idle.py.
    statements: int = 0
    #: Event loop → the lock SQLite transactions take turns on (`begin`).
    _turns: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock] = field(
        default_factory=weakref.WeakKeyDictionary
    )

    @classmethod
    def connect(cls, url: str, *, pool_size: int = 5) -> Database:
        """Open a connection pool to `url` (migrations are applied separately, by `upgrade`)."""
        target = async_url(url)
        kwargs: dict[str, Any] = {}
        if make_url(target).get_backend_name() == "postgresql":
            kwargs = {"pool_size": pool_size, "max_overflow": pool_size, "pool_pre_ping": True}
        engine = create_async_engine(target, **kwargs)
        if engine.dialect.name == "sqlite":
            private_sqlite(make_url(target).database)
            sa.event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        db = cls(engine=engine, url=target)
        sa.event.listen(engine.sync_engine, "before_cursor_execute", db._count)
        return db

    def _count(self, *_: Any) -> None:
        self.statements += 1

    @property
    def is_postgres(self) -> bool:
        """Whether the store runs on PostgreSQL (row locks, SKIP LOCKED, LISTEN/NOTIFY)."""
        return self.engine.dialect.name == "postgresql"

    @contextlib.asynccontextmanager
    async def begin(self) -> AsyncIterator[AsyncConnection]:
        """A connection inside one transaction, committed on success and rolled back on error."""
        if self.is_postgres or id(self) in _TURN.get():
            async with self.engine.begin() as connection:
                yield connection
            return
        # SQLite lets one writer in at a time, and a writer that finds the file taken sleeps in SQLite's
        # busy handler (1, 2, 5 … 100 ms a step), a sleep that outlasts most transactions here: at 100k
        # products the 1C import's chunks and the worker's batches spent more time asleep than writing
        # (issue 14). Within a process they take turns on a lock instead and none sleeps. A transaction
        # opened inside another (its tasks too) is already in its turn.
        async with self._turn():
            token = _TURN.set((*_TURN.get(), id(self)))
            try:
                async with self.engine.begin() as connection:
                    yield connection
            finally:
                _TURN.reset(token)

    def _turn(self) -> asyncio.Lock:
        loop = asyncio.get_running_loop()
        lock = self._turns.get(loop)
        if lock is None:
            lock = self._turns[loop] = asyncio.Lock()
        return lock

    async def revision(self) -> str | None:
        """The migration revision the database is at (None for an empty database)."""
        async with self.engine.connect() as connection:
            return await connection.run_sync(
                lambda sync: MigrationContext.configure(sync).get_current_revision()
            )

    async def close(self) -> None:
        """Close every pooled connection."""
        await self.engine.dispose()
