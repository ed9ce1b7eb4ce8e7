"""The inbox of webhook events: a repeated Twilio event (same MessageSid, CallSid, status)
changes nothing, and the events a job takes over (texts in, delivery statuses of texts out) are
handled once, a sender's texts in the order they came.

Every event is a receipt row, inserted first (:func:`receive`, :func:`first_time`). Events the
webhook applies itself (voice steps) are written handled. Texts in and delivery statuses are
written with their fields, and the webhook answers Twilio at once: it stays a single insert,
and an event Redis lost is found again by the sweeper. A
job claims it (``handled_at``, guarded), applies it and commits both together: a worker killed
halfway leaves the event unhandled for the sweeper, a duplicate job finds it handled. An
answer to a text goes through the outbox like any other text, first in the returned effects so
that the job sends it before the notices the same event decided.

A sender's texts are applied in the order they arrived, whichever job runs first: the job of a
later text applies the earlier ones still waiting before it ("OUI" then "DESISTE" sent a
second apart and taken by two workers must not become "DESISTE" then "OUI"). Claims are taken
in arrival order, so a job meeting an earlier text another job is applying waits on its row
until that job commits, then finds it handled.
"""

from __future__ import annotations

from datetime import datetime
from functools import lru_cache
from typing import Any

from sqlalchemy import Connection, Engine, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from dispatch.config import Settings
from dispatch.effects import Effect
from dispatch.intake.texts_in import handle_sms, record_inbound
from dispatch.messaging.deliveries import record_status
from dispatch.messaging.to_read import keep_for_coordinators
from dispatch.phones import try_normalize
from dispatch.telephony.outbox import queue_sms
from models import WebhookReceipt

SMS_PREFIX = "sms:"
STATUS_PREFIX = "sms-status:"
KEY_LENGTH = 160
RECEIPTS = WebhookReceipt.__table__  # a plain table insert: one row, no ORM bookkeeping on the webhook's path


def first_time(session: Session, key: str, now: datetime) -> bool:
    """Record an event the caller handles now; False when it was already there (a repeat)."""
    return _insert(session, key, None, now)


def receive(session: Session | Connection, key: str, payload: dict[str, Any], now: datetime) -> bool:
    """Record an event for a job to handle; False when it was already there (a repeat).

    ``session`` may be a bare connection (:func:`receive_committed`)."""
    return _insert(session, key, payload, now)


def receive_committed(engine: Engine, key: str, payload: dict[str, Any], now: datetime) -> bool:
    """:func:`receive` on a connection of its own, committed when it returns (what a webhook does
    before it answers Twilio): no ORM session; on PostgreSQL the INSERT runs in autocommit, its
    own transaction, so no COMMIT round trip follows it."""
    if engine.dialect.name != "postgresql":
        with engine.begin() as connection:  # SQLite: BEGIN IMMEDIATE, as every writer there
            return receive(connection, key, payload, now)
    with engine.connect() as connection:
        return receive(connection.execution_options(isolation_level="AUTOCOMMIT"), key, payload, now)


def _insert(session: Session | Connection, key: str, payload: dict[str, Any] | None, now: datetime) -> bool:
    """``INSERT ... ON CONFLICT DO NOTHING`` on both databases: no exception to catch, and the
    transaction stays usable. The statement is built once per dialect (building and hashing it
    cost more than running it)."""
    dialect = session.dialect if isinstance(session, Connection) else session.get_bind().dialect
    values = {
        "key": key[:KEY_LENGTH],
        "payload": payload,
        "handled_at": None if payload is not None else now,
        "created_at": now,
    }
    return session.execute(_insert_statement(dialect.name == "postgresql"), values).scalar() is not None


@lru_cache(maxsize=2)
def _insert_statement(postgres: bool):
    dialect = postgresql if postgres else sqlite
    return dialect.insert(RECEIPTS).on_conflict_do_nothing().returning(RECEIPTS.c.key)


def sms_key(message_sid: str) -> str:
    return f"{SMS_PREFIX}{message_sid}"


def status_key(message_sid: str, status: str) -> str:
    return f"{STATUS_PREFIX}{message_sid}:{status}"


def handle_event(session: Session, settings: Settings, key: str, now: datetime) -> list[Effect]:
    """Apply one received event if no one has; the caller holds the transaction and commits."""
    if key.startswith(SMS_PREFIX):
        return _texts_in_order(session, settings, key, now)
    if not key.startswith(STATUS_PREFIX):
        raise ValueError(f"no handler for webhook event {key!r}")
    payload = _claim(session, key, now)
    if payload is None:
        return []
    return record_status(
        session,
        payload.get("message_id"),
        payload["sid"],
        payload["status"],
        payload.get("code"),
        now,
        settings=settings,
    )


def _claim(session: Session, key: str, now: datetime) -> dict[str, Any] | None:
    """The event's fields if this transaction is the one to handle it, else None."""
    return session.scalar(
        update(WebhookReceipt)
        .where(WebhookReceipt.key == key, WebhookReceipt.handled_at.is_(None))
        .values(handled_at=now)
        .returning(WebhookReceipt.payload)
        .execution_options(synchronize_session=False)
    )


def _texts_in_order(session: Session, settings: Settings, key: str, now: datetime) -> list[Effect]:
    """This text, after the texts of the same sender that arrived before it and wait still."""
    this = session.execute(
        select(WebhookReceipt.payload, WebhookReceipt.created_at).where(
            WebhookReceipt.key == key, WebhookReceipt.handled_at.is_(None)
        )
    ).first()
    if this is None:
        return []
    sender = (this.payload or {}).get("from") or ""
    waiting = session.scalars(
        select(WebhookReceipt.key)
        .where(
            WebhookReceipt.handled_at.is_(None),  # the partial index: a short list, then the sender
            WebhookReceipt.created_at <= this.created_at,
            WebhookReceipt.key.startswith(SMS_PREFIX),
            WebhookReceipt.payload["from"].as_string() == sender,
        )
        .order_by(WebhookReceipt.created_at, WebhookReceipt.key)
    ).all()
    effects: list[Effect] = []
    for each in dict.fromkeys([*waiting, key]):  # this one too when it came without a sender
        payload = _claim(session, each, now)
        if payload is not None:
            effects += _text_in(session, settings, payload, now)
    return effects


def _text_in(session: Session, settings: Settings, event: dict[str, Any], now: datetime) -> list[Effect]:
    """A text to the single number: a nurse's reply, a requester's request, or help."""
    sender, body = try_normalize(event.get("from") or ""), event.get("body", "")
    outcome = handle_sms(session, settings, sender, body, now)
    message = record_inbound(
        session,
        event.get("sid", ""),
        sender,
        event.get("to", ""),
        body,
        now,
        nurse=outcome.nurse,
        request=outcome.request,
    )
    if outcome.to_read and sender is not None:
        session.flush()
        kept = keep_for_coordinators(session, message, outcome.nurse, now)
        outcome.request = outcome.request or kept.request  # the help answer goes in its history too
    if not outcome.reply or sender is None:
        return outcome.effects
    answer = queue_sms(session, sender, outcome.reply, now, kind="reply", nurse=outcome.nurse, request=outcome.request)
    return [answer, *outcome.effects]
