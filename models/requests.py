"""Care requests, the offers made to nurses, and the request's timeline of events."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from models.base import Base, utcnow
from models.people import Nurse, Requester


class CareRequest(Base):
    """One need for a nurse at one patient's home (DESIGN §2)."""

    __tablename__ = "care_requests"
    # The board's reads by status (``status.queries.board``): unfilled requests by their care start
    # (``start_at``, else ``created_at``: ``status.queries.unfilled_on_board``), newest first in the
    # "Non pourvues" filter, and those closed in the last day by ``updated_at``.
    __table_args__ = (
        Index("ix_care_requests_status_start_created", "status", "start_at", "created_at"),
        Index("ix_care_requests_status_created_at", "status", "created_at"),
        Index("ix_care_requests_status_updated_at", "status", "updated_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    reference: Mapped[str] = mapped_column(String(6), unique=True)
    requester_id: Mapped[int | None] = mapped_column(ForeignKey("requesters.id"), index=True)
    callback_phone: Mapped[str | None] = mapped_column(String(20))  # E.164
    requester_name: Mapped[str | None] = mapped_column(String(120))  # typed by a coordinator, not registered
    channel: Mapped[str] = mapped_column(String(12))  # api, sms, voice, coordinator
    postcode: Mapped[str | None] = mapped_column(String(5))
    insee: Mapped[str | None] = mapped_column(ForeignKey("communes.insee"))  # the commune when known
    care_type: Mapped[str] = mapped_column(String(20), default="autre")
    start_at: Mapped[datetime | None]
    has_start_time: Mapped[bool] = mapped_column(Boolean, default=False)
    urgent: Mapped[bool] = mapped_column(Boolean, default=False)
    usual_nurse_id: Mapped[int | None] = mapped_column(ForeignKey("nurses.id"))
    usual_nurse_phone: Mapped[str | None] = mapped_column(String(20))  # kept even when not registered
    notes: Mapped[str | None] = mapped_column(Text)
    recording_url: Mapped[str | None] = mapped_column(Text)

    status: Mapped[str] = mapped_column(String(12), index=True)  # dispatch.lifecycle.RequestStatus
    # Number of waves sent so far, over every round; a wave job carries the number it expects,
    # which makes every job but the current one a no-op.
    wave: Mapped[int] = mapped_column(Integer, default=0)
    # The search's round: 1, then one more after each withdrawal or relaunch (dispatch.lifecycle).
    round: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    next_wave_at: Mapped[datetime | None] = mapped_column(index=True)
    dispatch_started_at: Mapped[datetime | None]  # when the current round's search began
    accepted_nurse_id: Mapped[int | None] = mapped_column(ForeignKey("nurses.id"))
    accepted_at: Mapped[datetime | None]
    confirmed_at: Mapped[datetime | None]
    closed_at: Mapped[datetime | None]
    needs_attention: Mapped[bool] = mapped_column(Boolean, default=False)
    attention_reason: Mapped[str | None] = mapped_column(String(200))
    purged_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    requester: Mapped[Requester | None] = relationship()
    usual_nurse: Mapped[Nurse | None] = relationship(foreign_keys=[usual_nurse_id])
    accepted_nurse: Mapped[Nurse | None] = relationship(foreign_keys=[accepted_nurse_id])
    offers: Mapped[list[Offer]] = relationship(back_populates="request", order_by="Offer.id")
    events: Mapped[list[Event]] = relationship(back_populates="request", order_by="Event.id")


class Offer(Base):
    """One SMS proposal of one request to one nurse; never two for the same pair in a round."""

    __tablename__ = "offers"
    __table_args__ = (
        UniqueConstraint("request_id", "round", "nurse_id"),
        Index("ix_offers_nurse_created", "nurse_id", "created_at"),
        # The fairness count: accepted offers of a nurse in the last 30 days (dispatch.matching.candidates).
        Index("ix_offers_nurse_status_answered", "nurse_id", "status", "answered_at"),
        # A nurse's latest answers: the first entries for her (status.nurses, dispatch.requests.steer).
        Index("ix_offers_nurse_answered", "nurse_id", "answered_at", "id"),
        # Issue 17 (dispatch.matching.answer_stats): the offers not counted into their nurse's
        # answer statistics yet (about a day of them), by nurse for a plan's read and by age for
        # the counting pass; and the counted ones by age, for their retirement at 60 days.
        Index(
            "ix_offers_uncounted_nurse",
            "nurse_id",
            "created_at",
            sqlite_where=text("counted IS NULL"),
            postgresql_where=text("counted IS NULL"),
        ),
        Index(
            "ix_offers_uncounted_created",
            "created_at",
            sqlite_where=text("counted IS NULL"),
            postgresql_where=text("counted IS NULL"),
        ),
        Index(
            "ix_offers_counted_created",
            "created_at",
            sqlite_where=text("counted NOT IN ('-', 'r')"),
            postgresql_where=text("counted NOT IN ('-', 'r')"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    request_id: Mapped[int] = mapped_column(ForeignKey("care_requests.id"), index=True)
    nurse_id: Mapped[int] = mapped_column(ForeignKey("nurses.id"))
    wave: Mapped[int] = mapped_column(Integer)
    round: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    # dispatch.lifecycle.OfferStatus
    status: Mapped[str] = mapped_column(String(12), default="pending")
    error_code: Mapped[int | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    sent_at: Mapped[datetime | None]
    answered_at: Mapped[datetime | None]
    # What the offer contributed to her NurseAnswerStats (dispatch.matching.estimates.key_of):
    # NULL not counted yet, "-" never counted (failed, never sent), "r" retired after 60 days.
    counted: Mapped[str | None] = mapped_column(String(40))

    request: Mapped[CareRequest] = relationship(back_populates="offers")
    nurse: Mapped[Nurse] = relationship()


class NurseAnswerStats(Base):
    """A nurse's answers summed over her counted offers of the last 60 days (issue 17): the
    adaptive policy reads this row instead of her offers (``dispatch.matching.answer_stats``)."""

    __tablename__ = "nurse_answer_stats"

    nurse_id: Mapped[int] = mapped_column(ForeignKey("nurses.id", ondelete="CASCADE"), primary_key=True)
    answers: Mapped[dict[str, Any]] = mapped_column(default=dict)  # estimates.Answers.to_json()
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class Event(Base):
    """One line of a request's timeline: who did what, when."""

    __tablename__ = "events"

    id: Mapped[int] = mapped_column(primary_key=True)
    request_id: Mapped[int | None] = mapped_column(ForeignKey("care_requests.id"), index=True)
    nurse_id: Mapped[int | None] = mapped_column(ForeignKey("nurses.id"), index=True)
    actor: Mapped[str] = mapped_column(String(120), default="system")
    kind: Mapped[str] = mapped_column(String(40))
    data: Mapped[dict[str, Any]] = mapped_column(default=dict)
    at: Mapped[datetime] = mapped_column(default=utcnow, index=True)

    request: Mapped[CareRequest | None] = relationship(back_populates="events")
    nurse: Mapped[Nurse | None] = relationship()
