"""coordinators' roles and first-login passwords, nurses deactivated, poles and the duty rota

Issue #16 (points 3 and 4). ``coordinators.role``: ``admin`` manages coordinators and API tokens,
``coordinator`` the rest. Every coordinator existing before this migration becomes ``admin`` (they
could do everything until now, and the demo's first one is one of them); new ones are
``coordinator`` unless said otherwise. ``must_change_password``: a one-time password given by an
admin. ``nurses.deactivated_at``: no offers any more, the history kept. ``poles``, ``rota_shifts``
and ``rota_exceptions``: who is on duty when (``dispatch.people.rota``); ``coordinators.pole_id``
and ``on_duty_until`` (the manual switch overrides the rota until the end of the shift).

Revision ID: 0011_people_rota
Revises: 0006_security
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from models.base import UTCDateTime

revision = "0011_people_rota"
down_revision = "0010_nurse_space"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "poles",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=80), nullable=False),
        sa.Column("departments", sa.String(length=200), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_poles")),
        sa.UniqueConstraint("name", name=op.f("uq_poles_name")),
    )
    with op.batch_alter_table("coordinators", schema=None) as batch_op:
        # Existing coordinators become admins (server default), then the default turns to coordinator.
        batch_op.add_column(sa.Column("role", sa.String(length=20), nullable=False, server_default="admin"))
        batch_op.add_column(sa.Column("must_change_password", sa.Boolean(), nullable=False, server_default=sa.false()))
        batch_op.add_column(sa.Column("pole_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("on_duty_until", UTCDateTime(), nullable=True))
        batch_op.create_index(batch_op.f("ix_coordinators_pole_id"), ["pole_id"], unique=False)
        batch_op.create_foreign_key(
            batch_op.f("fk_coordinators_pole_id_poles"), "poles", ["pole_id"], ["id"], ondelete="SET NULL"
        )
    with op.batch_alter_table("coordinators", schema=None) as batch_op:
        batch_op.alter_column("role", server_default="coordinator", existing_type=sa.String(length=20))
    with op.batch_alter_table("nurses", schema=None) as batch_op:
        batch_op.add_column(sa.Column("deactivated_at", UTCDateTime(), nullable=True))
    op.create_table(
        "rota_shifts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("coordinator_id", sa.Integer(), nullable=False),
        sa.Column("weekday", sa.Integer(), nullable=False),
        sa.Column("starts", sa.Integer(), nullable=False),
        sa.Column("ends", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["coordinator_id"],
            ["coordinators.id"],
            name=op.f("fk_rota_shifts_coordinator_id_coordinators"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rota_shifts")),
    )
    with op.batch_alter_table("rota_shifts", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_rota_shifts_coordinator_id"), ["coordinator_id"], unique=False)
    op.create_table(
        "rota_exceptions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("coordinator_id", sa.Integer(), nullable=False),
        sa.Column("on_date", sa.Date(), nullable=False),
        sa.Column("on_duty", sa.Boolean(), nullable=False),
        sa.Column("starts", sa.Integer(), nullable=True),
        sa.Column("ends", sa.Integer(), nullable=True),
        sa.Column("note", sa.String(length=120), nullable=False),
        sa.ForeignKeyConstraint(
            ["coordinator_id"],
            ["coordinators.id"],
            name=op.f("fk_rota_exceptions_coordinator_id_coordinators"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rota_exceptions")),
    )
    with op.batch_alter_table("rota_exceptions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_rota_exceptions_coordinator_id"), ["coordinator_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_rota_exceptions_on_date"), ["on_date"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("rota_exceptions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_rota_exceptions_on_date"))
        batch_op.drop_index(batch_op.f("ix_rota_exceptions_coordinator_id"))
    op.drop_table("rota_exceptions")
    with op.batch_alter_table("rota_shifts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_rota_shifts_coordinator_id"))
    op.drop_table("rota_shifts")
    with op.batch_alter_table("nurses", schema=None) as batch_op:
        batch_op.drop_column("deactivated_at")
    with op.batch_alter_table("coordinators", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_coordinators_pole_id_poles"), type_="foreignkey")
        batch_op.drop_index(batch_op.f("ix_coordinators_pole_id"))
        batch_op.drop_column("on_duty_until")
        batch_op.drop_column("pole_id")
        batch_op.drop_column("must_change_password")
        batch_op.drop_column("role")
    op.drop_table("poles")
