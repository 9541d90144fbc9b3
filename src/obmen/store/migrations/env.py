"""Alembic environment: migrations run on a plain (sync) connection handed in by `obmen.store.database`."""

from __future__ import annotations

from alembic import context

from obmen.store.tables import metadata

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("obmen migrations run through `obmen db upgrade`, which passes a connection")

context.configure(
    connection=connection,
    target_metadata=metadata,
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
