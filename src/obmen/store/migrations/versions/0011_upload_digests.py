"""The digest of the last file of each name and kind a partner uploaded and obmen absorbed to its end.

A 1C catalog file re-sent byte for byte is acknowledged without being read when the mirror still holds
what it said (store/uploads.py, docs/architecture.md §2.5).

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-02 19:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "uploads",
        sa.Column("tenant", sa.String(64), nullable=False),
        sa.Column("system", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(64), nullable=False),
        sa.Column("name", sa.String(512), nullable=False),
        sa.Column("digest", sa.String(64), nullable=False),
        sa.Column("entities", sa.Text(), nullable=False),
        sa.Column("full", sa.Text(), nullable=False),
        sa.Column("run", sa.String(64), nullable=False),
        sa.Column("settled", sa.Integer(), nullable=False, server_default=sa.text("0")),
        sa.Column("held_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("tenant", "system", "kind", "name", name="pk_uploads"),
    )


def downgrade() -> None:
    op.drop_table("uploads")
