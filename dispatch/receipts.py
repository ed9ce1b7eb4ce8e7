"""Idempotent webhooks: a repeated Twilio event (same MessageSid, CallSid, status) changes nothing."""

from __future__ import annotations

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from models import WebhookReceipt, is_postgres


def first_time(session: Session, key: str) -> bool:
    """Insert the event's receipt; False when it was already there (a repeat).

    ``INSERT ... ON CONFLICT DO NOTHING`` on both databases: no exception to catch, and
    the transaction stays usable.
    """
    dialect = postgresql if is_postgres(session) else sqlite
    statement = dialect.insert(WebhookReceipt).values(key=key[:160]).on_conflict_do_nothing()
    return session.execute(statement.returning(WebhookReceipt.key)).scalar() is not None
