"""the name of a requester who is not registered, typed by a coordinator who took her call

Issue #15: a request entered from a call may come from someone who is not a registered
establishment (a GP, a social worker); her name is kept beside the callback number. The board
lists the calls the phone menu transferred to the coordinators at every refresh: an index on the
IVR sessions' step and time.

Revision ID: 0008_workstation_desk
Revises: 0006_security
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008_workstation_desk"
down_revision = "0006_security"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("care_requests") as batch:
        batch.add_column(sa.Column("requester_name", sa.String(length=120), nullable=True))
    op.create_index("ix_ivr_sessions_step_created", "ivr_sessions", ["step", "created_at"])


def downgrade() -> None:
    op.drop_index("ix_ivr_sessions_step_created", table_name="ivr_sessions")
    with op.batch_alter_table("care_requests") as batch:
        batch.drop_column("requester_name")
