"""requests search in rounds: a withdrawal or a relaunch asks nurses again

``care_requests.round`` counts the searches of a request (1 for the first); an offer belongs
to one round, and a nurse gets at most one offer per request and round (the unique
constraint that makes sending an offer idempotent moves from (request, nurse) to (request,
round, nurse)). Existing rows are in round 1.

Revision ID: 0005_rounds
Revises: 0004_inbox
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005_rounds"
down_revision = "0004_inbox"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("care_requests", schema=None) as batch_op:
        batch_op.add_column(sa.Column("round", sa.Integer(), nullable=False, server_default="1"))
    with op.batch_alter_table("offers", schema=None) as batch_op:
        batch_op.add_column(sa.Column("round", sa.Integer(), nullable=False, server_default="1"))
        batch_op.drop_constraint("uq_offers_request_id_nurse_id", type_="unique")
        batch_op.create_unique_constraint("uq_offers_request_id_round_nurse_id", ["request_id", "round", "nurse_id"])


def downgrade() -> None:
    with op.batch_alter_table("offers", schema=None) as batch_op:
        batch_op.drop_constraint("uq_offers_request_id_round_nurse_id", type_="unique")
        batch_op.create_unique_constraint("uq_offers_request_id_nurse_id", ["request_id", "nurse_id"])
        batch_op.drop_column("round")
    with op.batch_alter_table("care_requests", schema=None) as batch_op:
        batch_op.drop_column("round")
