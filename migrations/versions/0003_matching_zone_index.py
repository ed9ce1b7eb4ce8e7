"""candidate selection: covering index on nurse zones, two redundant indexes dropped

- nurse_zones (insee, nurse_id) replaces nurse_zones (insee): a radius step joins every
  commune of its box to the nurses serving it; with nurse_id in the index that join reads
  the index alone (PostgreSQL index-only scan) instead of a heap page per zone (a 10 km
  step on the benchmark data: 57 communes, 409 zones, 0.75 ms -> 0.29 ms).
- offers (nurse_id, status) is a prefix of offers (nurse_id, status, answered_at) (0002):
  dropped, one index less to write per offer.

Revision ID: 0003_matching
Revises: 0002_matching
"""

from __future__ import annotations

from alembic import op

revision = "0003_matching"
down_revision = "0002_matching"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("nurse_zones", schema=None) as batch_op:
        batch_op.create_index("ix_nurse_zones_insee_nurse", ["insee", "nurse_id"], unique=False)
        batch_op.drop_index("ix_nurse_zones_insee")
    with op.batch_alter_table("offers", schema=None) as batch_op:
        batch_op.drop_index("ix_offers_nurse_status")


def downgrade() -> None:
    with op.batch_alter_table("offers", schema=None) as batch_op:
        batch_op.create_index("ix_offers_nurse_status", ["nurse_id", "status"], unique=False)
    with op.batch_alter_table("nurse_zones", schema=None) as batch_op:
        batch_op.create_index("ix_nurse_zones_insee", ["insee"], unique=False)
        batch_op.drop_index("ix_nurse_zones_insee_nurse")
