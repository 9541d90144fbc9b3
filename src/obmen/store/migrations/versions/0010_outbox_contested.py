"""The outbox remembers a field the partner changed itself while obmen's change of it was in flight.

`outbox.contested` holds, per field, the value the partner changed it from and obmen's value it never
saw, so that a `conflict` rule sees the two edits as concurrent (docs/architecture.md §2.11).

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-02 10:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # NULL on existing rows: no contest is known for them.
    with op.batch_alter_table("outbox") as batch:
        batch.add_column(sa.Column("contested", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("outbox") as batch:
        batch.drop_column("contested")
