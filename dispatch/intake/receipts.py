"""Webhook events: a repeated Twilio event (same MessageSid, CallSid, status) changes nothing.

Every event is a receipt row, inserted first. Events the webhook applies itself (voice steps)
are written handled. Texts in and delivery statuses are written with their fields and handled
by a job after the webhook has answered (``dispatch.intake.inbox``): the webhook stays a single
insert, and an event Redis lost is found again by the sweeper.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from models import WebhookReceipt, is_postgres

KEY_LENGTH = 160
RECEIPTS = WebhookReceipt.__table__  # a plain table insert: one row, no ORM bookkeeping on the webhook's path


def first_time(session: Session, key: str, now: datetime) -> bool:
    """Record an event the caller handles now; False when it was already there (a repeat)."""
    return _insert(session, key, None, now)


def receive(session: Session, key: str, payload: dict[str, Any], now: datetime) -> bool:
    """Record an event for a job to handle; False when it was already there (a repeat)."""
    return _insert(session, key, payload, now)


def _insert(session: Session, key: str, payload: dict[str, Any] | None, now: datetime) -> bool:
    """``INSERT ... ON CONFLICT DO NOTHING`` on both databases: no exception to catch, and the
    transaction stays usable."""
    dialect = postgresql if is_postgres(session) else sqlite
    statement = dialect.insert(RECEIPTS).values(
        key=key[:KEY_LENGTH], payload=payload, handled_at=None if payload is not None else now, created_at=now
    )
    return session.execute(statement.on_conflict_do_nothing().returning(RECEIPTS.c.key)).scalar() is not None
