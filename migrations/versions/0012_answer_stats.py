"""each nurse's answer statistics in one row, and what each offer contributed to it

Issue #17 (part 1: plans in O(candidates)). ``nurse_answer_stats``: a nurse's answers summed over
her counted offers of the last 60 days (``dispatch.matching.estimates.Answers`` as JSON).
``offers.counted``: NULL not counted yet, else what it contributed (``estimates.key_of``), ``-``
never counted (failed, never sent), ``r`` retired. Three partial indexes: the uncounted offers by
nurse (a plan's read) and by age (the counting pass), the counted ones by age (retirement). Existing
offers start uncounted: the sweeper's pass counts them, in batches, over its first rounds; until
then a plan reads them one by one, as before.

Revision ID: 0012_answer_stats
Revises: 0011_people_rota
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from models.base import UTCDateTime

revision = "0012_answer_stats"
down_revision = "0011_people_rota"
branch_labels = None
depends_on = None

UNCOUNTED = sa.text("counted IS NULL")
COUNTED = sa.text("counted NOT IN ('-', 'r')")


def upgrade() -> None:
    op.create_table(
        "nurse_answer_stats",
        sa.Column("nurse_id", sa.Integer(), nullable=False),
        sa.Column("answers", sa.JSON(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["nurse_id"],
            ["nurses.id"],
            name=op.f("fk_nurse_answer_stats_nurse_id_nurses"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("nurse_id", name=op.f("pk_nurse_answer_stats")),
    )
    with op.batch_alter_table("offers", schema=None) as batch_op:
        batch_op.add_column(sa.Column("counted", sa.String(length=40), nullable=True))
        batch_op.create_index(
            "ix_offers_uncounted_nurse",
            ["nurse_id", "created_at"],
            unique=False,
            sqlite_where=UNCOUNTED,
            postgresql_where=UNCOUNTED,
        )
        batch_op.create_index(
            "ix_offers_uncounted_created",
            ["created_at"],
            unique=False,
            sqlite_where=UNCOUNTED,
            postgresql_where=UNCOUNTED,
        )
        batch_op.create_index(
            "ix_offers_counted_created",
            ["created_at"],
            unique=False,
            sqlite_where=COUNTED,
            postgresql_where=COUNTED,
        )


def downgrade() -> None:
    with op.batch_alter_table("offers", schema=None) as batch_op:
        batch_op.drop_index("ix_offers_counted_created")
        batch_op.drop_index("ix_offers_uncounted_created")
        batch_op.drop_index("ix_offers_uncounted_nurse")
        batch_op.drop_column("counted")
    op.drop_table("nurse_answer_stats")
