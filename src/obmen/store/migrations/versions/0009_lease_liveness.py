"""Leases tell who holds them since when, and when their loop last made progress.

`leases.acquired_at` is when the current owner took the lease, `ttl` what it was taken for, `ticked_at`
and `doing` when the holding loop last made progress and at what, so that `obmen status` and the
dashboard can show a loop whose lease is renewed but which has stopped moving (docs/operations.md §10).

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02 04:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # NULL on the rows of processes older than this revision: they are shown without a since or a tick.
    with op.batch_alter_table("leases") as batch:
        batch.add_column(sa.Column("acquired_at", sa.Float(), nullable=True))
        batch.add_column(sa.Column("ttl", sa.Float(), nullable=True))
        batch.add_column(sa.Column("ticked_at", sa.Float(), nullable=True))
        batch.add_column(sa.Column("doing", sa.String(length=200), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("leases") as batch:
        batch.drop_column("doing")
        batch.drop_column("ticked_at")
        batch.drop_column("ttl")
        batch.drop_column("acquired_at")
