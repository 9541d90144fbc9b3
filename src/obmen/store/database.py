"""Connecting to the store: SQLite by default (WAL, one file), PostgreSQL by URL; Alembic migrations.

The engine is async everywhere (`sqlite+aiosqlite`, `postgresql+psycopg`); migrations run on a sync
connection of the same database because Alembic is sync. `Database` is the one handle the rest of
obmen holds; the repositories in this package take it as their first argument.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
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

__all__ = ["Connection", "Database", "async_url", "sync_url", "upgrade"]

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
    if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    engine = sa.create_engine(parsed)
    if parsed.get_backend_name() == "sqlite":
        sa.event.listen(engine, "connect", _sqlite_pragmas)
    try:
        with engine.begin() as connection:
            command.upgrade(_alembic_config(connection), revision)
            current = MigrationContext.configure(connection).get_current_revision()
    finally:
        engine.dispose()
    return current or "base"


def head_revision() -> str:
    """The newest migration this code knows."""
    script = ScriptDirectory(str(_MIGRATIONS))
    head = script.get_current_head()
    assert head is not None
    return head


@dataclass(slots=True)
class Database:
    """An async engine plus what the repositories need to know about its dialect."""

    engine: AsyncEngine
    url: str

    @classmethod
    def connect(cls, url: str, *, pool_size: int = 5) -> Database:
        """Open a connection pool to `url` (migrations are applied separately, by `upgrade`)."""
        target = async_url(url)
        kwargs: dict[str, Any] = {}
        if make_url(target).get_backend_name() == "postgresql":
            kwargs = {"pool_size": pool_size, "max_overflow": pool_size, "pool_pre_ping": True}
        engine = create_async_engine(target, **kwargs)
        if engine.dialect.name == "sqlite":
            sa.event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        return cls(engine=engine, url=target)

    @property
    def is_postgres(self) -> bool:
        """Whether the store runs on PostgreSQL (row locks, SKIP LOCKED, LISTEN/NOTIFY)."""
        return self.engine.dialect.name == "postgresql"

    @contextlib.asynccontextmanager
    async def begin(self) -> AsyncIterator[AsyncConnection]:
        """A connection inside one transaction, committed on success and rolled back on error."""
        async with self.engine.begin() as connection:
            yield connection

    async def revision(self) -> str | None:
        """The migration revision the database is at (None for an empty database)."""
        async with self.engine.connect() as connection:
            return await connection.run_sync(
                lambda sync: MigrationContext.configure(sync).get_current_revision()
            )

    async def close(self) -> None:
        """Close every pooled connection."""
        await self.engine.dispose()
