"""Shared fixtures: a migrated store on SQLite (always) and on PostgreSQL (tests marked `pg`).

The PostgreSQL suite runs when `OBMEN_TEST_PG` holds a server URL (the Makefile's `pytest-pg`): a
template database is migrated once per session and cloned per test (procrastinate's `db_factory`).
SQLite works the same way with a migrated template file copied per test.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from obmen.store.database import Database, sync_url, upgrade

REPO = Path(__file__).resolve().parents[1]
FIXTURES = REPO / "tests" / "fixtures" / "commerceml"


def pg_server_url() -> str | None:
    """The PostgreSQL server the `pg` tests use, if any."""
    return os.environ.get("OBMEN_TEST_PG")


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "obmen.db"
    upgrade(f"sqlite:///{path}")
    return path


def _admin_engine(server: str) -> sa.Engine:
    return sa.create_engine(sync_url(server), isolation_level="AUTOCOMMIT")


@pytest.fixture(scope="session")
def pg_template() -> Iterator[str]:
    server = pg_server_url()
    if server is None:
        pytest.skip("OBMEN_TEST_PG is not set")
    name = f"obmen_template_{uuid.uuid4().hex[:8]}"
    admin = _admin_engine(server)
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    url = sa.make_url(sync_url(server)).set(database=name).render_as_string(hide_password=False)
    upgrade(url)
    yield name
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.pg)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, migrated database: a SQLite file, or a PostgreSQL clone of the template."""
    if request.param == "sqlite":
        path = tmp_path / "obmen.db"
        shutil.copy(request.getfixturevalue("sqlite_template"), path)
        yield f"sqlite:///{path}"
        return
    template = request.getfixturevalue("pg_template")
    server = pg_server_url()
    assert server is not None
    name = f"obmen_test_{uuid.uuid4().hex[:10]}"
    admin = _admin_engine(server)
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}" TEMPLATE "{template}"'))
    yield sa.make_url(sync_url(server)).set(database=name).render_as_string(hide_password=False)
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    database = Database.connect(database_url)
    yield database
    await database.close()
