"""Performance: the claim's index, PostgreSQL autovacuum settings per table, raw digests in the mirror.

- The claim orders ready items by `(not_before, id)`; the index now ends in both, so the claim reads the
  first ready rows of a tenant straight from it instead of sorting every pending row (store/queue.py).
- On PostgreSQL the queue is a high-churn table: vacuumed and analysed after a small fraction of its
  rows changed, not the default 20 % (a deep queue planned on stale statistics degrades with depth).
  The id map, bases, mirror and journal are analysed sooner too.
- `mirror.digest`: the raw digest of the element a partner last sent for an object (a CommerceML
  product or offer, docs/protocols/commerceml.md §2), so an unchanged re-upload is recognised without
  parsing it. NULL whenever the row was written from anything else.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01 12:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

#: Table → autovacuum storage parameters (PostgreSQL only).
AUTOVACUUM = {
    "work_items": {
        "autovacuum_vacuum_scale_factor": "0.02",
        "autovacuum_vacuum_threshold": "200",
        "autovacuum_analyze_scale_factor": "0.02",
        "autovacuum_analyze_threshold": "200",
    },
    "links": {"autovacuum_analyze_scale_factor": "0.05", "autovacuum_analyze_threshold": "500"},
    "bases": {"autovacuum_analyze_scale_factor": "0.05", "autovacuum_analyze_threshold": "500"},
    "mirror": {"autovacuum_analyze_scale_factor": "0.05", "autovacuum_analyze_threshold": "500"},
    "journal": {"autovacuum_analyze_scale_factor": "0.05", "autovacuum_analyze_threshold": "1000"},
}


def upgrade() -> None:
    op.drop_index("ix_work_items_claim", table_name="work_items")
    op.create_index("ix_work_items_claim", "work_items", ["tenant", "state", "not_before", "id"])
    with op.batch_alter_table("mirror") as batch:
        batch.add_column(sa.Column("digest", sa.String(32), nullable=True))
    if op.get_bind().dialect.name == "postgresql":
        for table, options in AUTOVACUUM.items():
            settings = ", ".join(f"{name} = {value}" for name, value in options.items())
            op.execute(f"ALTER TABLE {table} SET ({settings})")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for table, options in AUTOVACUUM.items():
            op.execute(f"ALTER TABLE {table} RESET ({', '.join(options)})")
    with op.batch_alter_table("mirror") as batch:
        batch.drop_column("digest")
    op.drop_index("ix_work_items_claim", table_name="work_items")
    op.create_index("ix_work_items_claim", "work_items", ["tenant", "state", "not_before"])
