"""messages to read: texts that were not a command, for the coordinators (issue 15)

Revision ID: 0009_workstation_steer
Revises: 0006_security
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from models.base import UTCDateTime

revision = "0009_workstation_steer"
down_revision = "0008_workstation_desk"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "messages_to_read",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("message_id", sa.Integer(), nullable=False),
        sa.Column("phone", sa.String(length=20), nullable=False),
        sa.Column("nurse_id", sa.Integer(), nullable=True),
        sa.Column("request_id", sa.Integer(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("read_at", UTCDateTime(), nullable=True),
        sa.Column("read_by", sa.String(length=120), nullable=True),
        sa.ForeignKeyConstraint(
            ["message_id"], ["messages.id"], name=op.f("fk_messages_to_read_message_id_messages"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(["nurse_id"], ["nurses.id"], name=op.f("fk_messages_to_read_nurse_id_nurses")),
        sa.ForeignKeyConstraint(
            ["request_id"], ["care_requests.id"], name=op.f("fk_messages_to_read_request_id_care_requests")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_messages_to_read")),
        sa.UniqueConstraint("message_id", name=op.f("uq_messages_to_read_message_id")),
    )
    with op.batch_alter_table("messages_to_read", schema=None) as batch_op:
        batch_op.create_index("ix_messages_to_read_read_at", ["read_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_messages_to_read_request_id"), ["request_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("messages_to_read", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_messages_to_read_request_id"))
        batch_op.drop_index("ix_messages_to_read_read_at")
    op.drop_table("messages_to_read")
