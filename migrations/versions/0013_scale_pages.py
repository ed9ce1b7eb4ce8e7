"""pages whose cost does not grow with history: folded search columns, the board's indexes

Issue #17 (the pages' share). ``nurses.search_text``: the nurse's name folded (lower case, no
accent: ``models.folding``), which the nurses page searches with a LIKE instead of folding every
nurse in Python; ``communes.folded_name``: the same for the commune's name ("etienne" finds
Saint-Étienne). Both backfilled here (the fold is Python's Unicode decomposition, not SQL's).
``care_requests`` (status, start_at, created_at), (status, created_at), (status, updated_at): the board
reads unfilled requests by their care start, the "Non pourvues" filter newest first, and the
requests closed in the last day, each from an index instead of every request of the past.
``offers`` (nurse_id, answered_at, id): a nurse's latest answers (the nurses page) from the first
entries for her, not from her whole history.

Revision ID: 0013_scale_pages
Revises: 0012_answer_stats
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from models.folding import FOLDED_LENGTH, folded

revision = "0013_scale_pages"
down_revision = "0012_answer_stats"
branch_labels = None
depends_on = None

BATCH = 1000


def _backfill(table: str, key: str, source: str, target: str) -> None:
    """``target`` = the folded ``source`` for every row, a thousand rows per statement."""
    connection = op.get_bind()
    rows = sa.table(table, sa.column(key), sa.column(source), sa.column(target))
    update = sa.update(rows).where(rows.c[key] == sa.bindparam("row_key")).values({target: sa.bindparam("row_folded")})
    result = connection.execute(sa.select(rows.c[key], rows.c[source]).order_by(rows.c[key]))
    batch = []
    for row_key, text in result.all():
        batch.append({"row_key": row_key, "row_folded": folded(text)})
        if len(batch) == BATCH:
            connection.execute(update, batch)
            batch = []
    if batch:
        connection.execute(update, batch)


def upgrade() -> None:
    with op.batch_alter_table("nurses", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("search_text", sa.String(length=FOLDED_LENGTH), nullable=False, server_default="")
        )
    with op.batch_alter_table("communes", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("folded_name", sa.String(length=FOLDED_LENGTH), nullable=False, server_default="")
        )
    _backfill("nurses", "id", "name", "search_text")
    _backfill("communes", "insee", "name", "folded_name")
    with op.batch_alter_table("care_requests", schema=None) as batch_op:
        batch_op.create_index("ix_care_requests_status_start_created", ["status", "start_at", "created_at"], unique=False)
        batch_op.create_index("ix_care_requests_status_created_at", ["status", "created_at"], unique=False)
        batch_op.create_index("ix_care_requests_status_updated_at", ["status", "updated_at"], unique=False)
    with op.batch_alter_table("offers", schema=None) as batch_op:
        batch_op.create_index("ix_offers_nurse_answered", ["nurse_id", "answered_at", "id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("offers", schema=None) as batch_op:
        batch_op.drop_index("ix_offers_nurse_answered")
    with op.batch_alter_table("care_requests", schema=None) as batch_op:
        batch_op.drop_index("ix_care_requests_status_updated_at")
        batch_op.drop_index("ix_care_requests_status_created_at")
        batch_op.drop_index("ix_care_requests_status_start_created")
    # ALTER TABLE ... DROP COLUMN on both databases (SQLite 3.35+): a batch would copy the
    # table, and dropping the old communes table breaks the postcodes' foreign keys.
    op.drop_column("communes", "folded_name")
    op.drop_column("nurses", "search_text")
