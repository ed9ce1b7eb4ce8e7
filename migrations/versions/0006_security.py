"""coordinators' sessions on the server, login throttles instead of a lock, disabled coordinators

Issue #14: a session ends at logout (a row per login, checked on every request); failed logins
are counted per typed e-mail, client address and trusted browser (``login_throttles``) and only
slow down, so nobody can lock a coordinator out; ``coordinators.disabled_at`` replaces the
lock's two columns.

Revision ID: 0006_security
Revises: 0005_rounds
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from models.base import UTCDateTime

revision = "0006_security"
down_revision = "0005_rounds"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "coordinator_sessions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("coordinator_id", sa.Integer(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("expires_at", UTCDateTime(), nullable=False),
        sa.Column("ended_at", UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["coordinator_id"],
            ["coordinators.id"],
            name=op.f("fk_coordinator_sessions_coordinator_id_coordinators"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_coordinator_sessions")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_coordinator_sessions_token_hash")),
    )
    with op.batch_alter_table("coordinator_sessions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_coordinator_sessions_coordinator_id"), ["coordinator_id"], unique=False)
    op.create_table(
        "login_throttles",
        sa.Column("key", sa.String(length=80), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("last_failure_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_login_throttles")),
    )
    with op.batch_alter_table("coordinators", schema=None) as batch_op:
        batch_op.add_column(sa.Column("disabled_at", UTCDateTime(), nullable=True))
        batch_op.drop_column("locked_until")
        batch_op.drop_column("failed_logins")


def downgrade() -> None:
    with op.batch_alter_table("coordinators", schema=None) as batch_op:
        batch_op.add_column(sa.Column("failed_logins", sa.Integer(), nullable=False, server_default="0"))
        batch_op.add_column(sa.Column("locked_until", UTCDateTime(), nullable=True))
        batch_op.drop_column("disabled_at")
    op.drop_table("login_throttles")
    with op.batch_alter_table("coordinator_sessions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_coordinator_sessions_coordinator_id"))
    op.drop_table("coordinator_sessions")
