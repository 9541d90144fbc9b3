"""Journal rows carry when their key was enqueued and when the write was confirmed (docs/architecture.md).

See §2.8.

With both, a propagation's latency (enqueue → confirmation) is read from the store by any process,
not only by the worker that made the write.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23 06:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Nullable: rows journalled before this revision have neither time, and say so.
    with op.batch_alter_table("journal") as batch:
        batch.add_column(sa.Column("enqueued_at", sa.Float(), nullable=True))
        batch.add_column(sa.Column("settled_at", sa.Float(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("journal") as batch:
        batch.drop_column("settled_at")
        batch.drop_column("enqueued_at")
