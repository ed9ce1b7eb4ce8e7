"""the nurse's own space and registration (issue 16 points 1 and 2)

One-use links texted by PROFIL and INSCRIPTION (``nurse_links``), a nurse's sessions on the
server (``nurse_sessions``, like ``coordinator_sessions``), registrations waiting for a
coordinator (``nurse_registrations``) and the audit trail of a nurse's record (``nurse_changes``).

Revision ID: 0010_nurse_space
Revises: 0006_security
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from models.base import UTCDateTime


revision = "0010_nurse_space"
down_revision = "0009_workstation_steer"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "nurse_changes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("nurse_id", sa.Integer(), nullable=True),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.Column("actor", sa.String(length=160), nullable=False),
        sa.Column("action", sa.String(length=40), nullable=False),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["nurse_id"], ["nurses.id"], name=op.f("fk_nurse_changes_nurse_id_nurses"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_nurse_changes")),
    )
    with op.batch_alter_table("nurse_changes", schema=None) as batch_op:
        batch_op.create_index("ix_nurse_changes_nurse_at", ["nurse_id", "at"], unique=False)

    op.create_table(
        "nurse_links",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("purpose", sa.String(length=20), nullable=False),
        sa.Column("phone", sa.String(length=20), nullable=False),
        sa.Column("nurse_id", sa.Integer(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("expires_at", UTCDateTime(), nullable=False),
        sa.Column("used_at", UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["nurse_id"], ["nurses.id"], name=op.f("fk_nurse_links_nurse_id_nurses"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_nurse_links")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_nurse_links_token_hash")),
    )
    with op.batch_alter_table("nurse_links", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_nurse_links_nurse_id"), ["nurse_id"], unique=False)

    op.create_table(
        "nurse_registrations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("phone", sa.String(length=20), nullable=False),
        sa.Column("name", sa.String(length=120), nullable=False),
        sa.Column("rpps", sa.String(length=11), nullable=False),
        sa.Column("zones", sa.JSON(), nullable=False),
        sa.Column("skills", sa.JSON(), nullable=False),
        sa.Column("availability", sa.String(length=200), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("decided_at", UTCDateTime(), nullable=True),
        sa.Column("decided_by", sa.String(length=160), nullable=True),
        sa.Column("reason", sa.String(length=300), nullable=True),
        sa.Column("nurse_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["nurse_id"], ["nurses.id"], name=op.f("fk_nurse_registrations_nurse_id_nurses"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_nurse_registrations")),
    )
    with op.batch_alter_table("nurse_registrations", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_nurse_registrations_phone"), ["phone"], unique=False)
        batch_op.create_index(batch_op.f("ix_nurse_registrations_rpps"), ["rpps"], unique=False)
        batch_op.create_index("ix_nurse_registrations_status", ["status"], unique=False)

    op.create_table(
        "nurse_sessions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("nurse_id", sa.Integer(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("expires_at", UTCDateTime(), nullable=False),
        sa.Column("ended_at", UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["nurse_id"], ["nurses.id"], name=op.f("fk_nurse_sessions_nurse_id_nurses"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_nurse_sessions")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_nurse_sessions_token_hash")),
    )
    with op.batch_alter_table("nurse_sessions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_nurse_sessions_nurse_id"), ["nurse_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("nurse_sessions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_nurse_sessions_nurse_id"))

    op.drop_table("nurse_sessions")
    with op.batch_alter_table("nurse_registrations", schema=None) as batch_op:
        batch_op.drop_index("ix_nurse_registrations_status")
        batch_op.drop_index(batch_op.f("ix_nurse_registrations_rpps"))
        batch_op.drop_index(batch_op.f("ix_nurse_registrations_phone"))

    op.drop_table("nurse_registrations")
    with op.batch_alter_table("nurse_links", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_nurse_links_nurse_id"))

    op.drop_table("nurse_links")
    with op.batch_alter_table("nurse_changes", schema=None) as batch_op:
        batch_op.drop_index("ix_nurse_changes_nurse_at")

    op.drop_table("nurse_changes")
