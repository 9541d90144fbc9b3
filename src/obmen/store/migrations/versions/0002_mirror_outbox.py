"""Mirror and outbox of pull-only partners (1C and the site, docs/architecture.md §2.7).

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22 16:50:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

_ID = sa.String(length=64)
_EXT = sa.String(length=255)


def upgrade() -> None:
    op.create_table(
        "mirror",
        sa.Column("tenant", _ID, nullable=False),
        sa.Column("system", _ID, nullable=False),
        sa.Column("entity", _ID, nullable=False),
        sa.Column("external_id", _EXT, nullable=False),
        sa.Column("fields", sa.Text(), nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("origin", _ID, nullable=True),
        sa.Column("deleted", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("seen_at", sa.Float(), nullable=False),
        sa.Column("changed_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("tenant", "system", "entity", "external_id", name=op.f("pk_mirror")),
    )
    op.create_table(
        "outbox",
        sa.Column("tenant", _ID, nullable=False),
        sa.Column("system", _ID, nullable=False),
        sa.Column("entity", _ID, nullable=False),
        sa.Column("external_id", _EXT, nullable=False),
        sa.Column("fields", sa.Text(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("queued_at", sa.Float(), nullable=False),
        sa.Column("sent_run", sa.String(length=64), nullable=True),
        sa.Column("sent_version", sa.Integer(), nullable=True),
        sa.Column("acked_version", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.PrimaryKeyConstraint("tenant", "system", "entity", "external_id", name=op.f("pk_outbox")),
    )
    op.create_index(
        "ix_outbox_pending", "outbox", ["tenant", "system", "acked_version", "version"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_outbox_pending", table_name="outbox")
    op.drop_table("outbox")
    op.drop_table("mirror")
