"""What each side last showed of an object's facts, and since when a work item waits.

`bases.sides` keeps, next to the agreed fields, what each system last showed of each fact (paid,
cancelled, a status: docs/architecture.md §2.11) and which fields a system could not tell (an unmapped
stage, §2.12). `work_items.waiting_since` is when an item began waiting for a referenced object (§2.14),
so that a wait can be shown with its age and parked once it lasts longer than `worker.max_wait`.

Revision ID: 0008
Revises: 0006
Create Date: 2026-12-02 09:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # NULL: nothing known yet (a base saved before this revision): facts then never go back on a guess.
    with op.batch_alter_table("bases") as batch:
        batch.add_column(sa.Column("sides", sa.Text(), nullable=True))
    with op.batch_alter_table("work_items") as batch:
        batch.add_column(sa.Column("waiting_since", sa.Float(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("work_items") as batch:
        batch.drop_column("waiting_since")
    with op.batch_alter_table("bases") as batch:
        batch.drop_column("sides")
