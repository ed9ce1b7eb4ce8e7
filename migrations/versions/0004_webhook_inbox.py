"""webhook receipts become the inbox of events handled by a job

Texts in and delivery statuses are written by the webhook (``payload``) and handled by a job
(``handled_at``); the sweeper finds the unhandled ones through a partial index. Receipts
written before this revision were handled by their webhook: they are marked handled.

Revision ID: 0004_inbox
Revises: 0003_matching
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from models.base import UTCDateTime

revision = "0004_inbox"
down_revision = "0003_matching"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("webhook_receipts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("payload", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("handled_at", UTCDateTime(), nullable=True))
    op.execute("UPDATE webhook_receipts SET handled_at = created_at")
    with op.batch_alter_table("webhook_receipts", schema=None) as batch_op:
        batch_op.create_index(
            "ix_webhook_receipts_unhandled",
            ["created_at"],
            unique=False,
            postgresql_where=sa.text("handled_at IS NULL"),
            sqlite_where=sa.text("handled_at IS NULL"),
        )


def downgrade() -> None:
    with op.batch_alter_table("webhook_receipts", schema=None) as batch_op:
        batch_op.drop_index("ix_webhook_receipts_unhandled", postgresql_where=sa.text("handled_at IS NULL"))
        batch_op.drop_column("handled_at")
        batch_op.drop_column("payload")
