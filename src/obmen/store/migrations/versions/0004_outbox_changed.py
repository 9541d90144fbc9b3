"""Outbox rows name the fields obmen changed, so a document is rebuilt on the partner's latest state.

A pull-only partner (the site, 1C) may change an order after obmen queued a document for it and before
it collects the document: a customer pays on the site while a stage move waits in the outbox. Sending
the queued whole document would put the old payment back. With the changed fields known, the document
sent is the partner's latest upload with obmen's changes on top (store/mirror.py `collect`).

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23 09:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # NULL: the whole document is obmen's (a create, or a row queued before this revision).
    with op.batch_alter_table("outbox") as batch:
        batch.add_column(sa.Column("changed", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("outbox") as batch:
        batch.drop_column("changed")
