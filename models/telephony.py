"""Texts and calls in and out, IVR sessions, and the receipts that make webhooks idempotent."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, Integer, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, utcnow


class Message(Base):
    """An SMS. Outbound ones are an outbox: written ``queued`` in the transaction that
    decides to send them, then sent by a job; the sweeper re-enqueues any left behind."""

    __tablename__ = "messages"
    __table_args__ = (Index("ix_messages_status_send_after", "status", "send_after"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    sid: Mapped[str | None] = mapped_column(String(64), unique=True)
    direction: Mapped[str] = mapped_column(String(3))  # in, out
    kind: Mapped[str] = mapped_column(String(20), default="notice")  # offer, notice, alert, reply, inbound
    from_phone: Mapped[str | None] = mapped_column(String(20))
    to_phone: Mapped[str | None] = mapped_column(String(20))
    body: Mapped[str] = mapped_column(Text, default="")
    # out: queued, sending, sent, delivered, undelivered, failed; in: received
    status: Mapped[str] = mapped_column(String(12))
    error_code: Mapped[int | None] = mapped_column(Integer)
    request_id: Mapped[int | None] = mapped_column(ForeignKey("care_requests.id"), index=True)
    nurse_id: Mapped[int | None] = mapped_column(ForeignKey("nurses.id"), index=True)
    offer_id: Mapped[int | None] = mapped_column(ForeignKey("offers.id"), index=True)
    send_after: Mapped[datetime | None]
    claimed_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    sent_at: Mapped[datetime | None]
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class Call(Base):
    """A phone call; outbound ones follow the same outbox rule as messages."""

    __tablename__ = "calls"
    __table_args__ = (Index("ix_calls_status_send_after", "status", "send_after"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    sid: Mapped[str | None] = mapped_column(String(64), unique=True)
    direction: Mapped[str] = mapped_column(String(3))
    purpose: Mapped[str] = mapped_column(String(20), default="intake")  # intake, confirm, unfilled, withdrawn
    from_phone: Mapped[str | None] = mapped_column(String(20))
    to_phone: Mapped[str | None] = mapped_column(String(20))
    # out: queued, placing, initiated, ringing, in-progress, completed, busy, no-answer, failed, canceled
    status: Mapped[str] = mapped_column(String(12))
    attempt: Mapped[int] = mapped_column(Integer, default=1)
    answered_by: Mapped[str | None] = mapped_column(String(30))
    error_code: Mapped[int | None] = mapped_column(Integer)
    request_id: Mapped[int | None] = mapped_column(ForeignKey("care_requests.id"), index=True)
    send_after: Mapped[datetime | None]
    claimed_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class IvrSession(Base):
    """What a caller said so far, per CallSid, so a hang-up loses nothing."""

    __tablename__ = "ivr_sessions"
    # The board's transferred calls (dispatch.intake.transferred), read at every refresh.
    __table_args__ = (Index("ix_ivr_sessions_step_created", "step", "created_at"),)

    call_sid: Mapped[str] = mapped_column(String(64), primary_key=True)
    from_phone: Mapped[str | None] = mapped_column(String(20))
    step: Mapped[str] = mapped_column(String(30), default="menu")
    data: Mapped[dict[str, Any]] = mapped_column(default=dict)
    errors: Mapped[int] = mapped_column(Integer, default=0)
    request_id: Mapped[int | None] = mapped_column(ForeignKey("care_requests.id"))
    finished: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class WebhookReceipt(Base):
    """One row per webhook event received (``sms:<MessageSid>``, ``sms-status:<sid>:<status>``,
    ``call-status:...``): inserting it first makes a repeat a no-op.

    It is also the inbox of the events a job handles after the webhook has answered (texts in,
    delivery statuses): their fields in ``payload``, ``handled_at`` empty until a job has
    handled them in the same transaction that applied them. Events handled by the webhook
    itself are written handled.
    """

    __tablename__ = "webhook_receipts"
    __table_args__ = (
        Index(
            "ix_webhook_receipts_unhandled",
            "created_at",
            postgresql_where=text("handled_at IS NULL"),
            sqlite_where=text("handled_at IS NULL"),
        ),
    )

    key: Mapped[str] = mapped_column(String(160), primary_key=True)
    payload: Mapped[dict[str, Any] | None]
    handled_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
