"""indexes for candidate selection (issue 3 benchmark b)

- communes (lat, lon): the bounding box of a radius step was a sequential scan of 35,000
  communes (3.3 ms server time), now an index range scan (0.14 ms).
- offers (nurse_id, status, answered_at): the fairness count (accepted offers in the last 30
  days) filters on answered_at inside the index instead of reading every accepted offer.

Revision ID: 0002_matching
Revises: 0001
"""

from __future__ import annotations

from alembic import op

revision = "0002_matching"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("communes", schema=None) as batch_op:
        batch_op.create_index("ix_communes_lat_lon", ["lat", "lon"], unique=False)
    with op.batch_alter_table("offers", schema=None) as batch_op:
        batch_op.create_index("ix_offers_nurse_status_answered", ["nurse_id", "status", "answered_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("offers", schema=None) as batch_op:
        batch_op.drop_index("ix_offers_nurse_status_answered")
    with op.batch_alter_table("communes", schema=None) as batch_op:
        batch_op.drop_index("ix_communes_lat_lon")
