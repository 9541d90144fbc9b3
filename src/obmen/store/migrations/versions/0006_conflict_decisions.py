"""Conflicts carry an operator's decision until the engine has applied it.

A person resolves a conflict by choosing a side's value or typing one (the dashboard, `obmen conflicts
resolve`, `POST /api/conflicts/<id>/resolve`). The decision is stored on the open conflict (`decision`,
the chosen value as JSON; `decided_side`, the side it came from, if any; `decided_by`, `decided_at`) and
the object's key is enqueued; the merge writes the decided value everywhere and the conflict closes when
every write landed (docs/architecture.md §2.8).

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02 09:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Nullable: a conflict nobody has decided yet has none of them.
    with op.batch_alter_table("conflicts") as batch:
        batch.add_column(sa.Column("decision", sa.Text(), nullable=True))
        batch.add_column(sa.Column("decided_side", sa.String(64), nullable=True))
        batch.add_column(sa.Column("decided_by", sa.String(128), nullable=True))
        batch.add_column(sa.Column("decided_at", sa.Float(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("conflicts") as batch:
        batch.drop_column("decided_at")
        batch.drop_column("decided_by")
        batch.drop_column("decided_side")
        batch.drop_column("decision")
