"""A nurse's own space (issue 16): one-use links sent by SMS, her sessions, her registration
while it waits for a coordinator, and the audit trail of every change made to her record."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, utcnow


class NurseLink(Base):
    """A link texted to a phone: ``profile`` opens the nurse's space, ``register`` the
    registration form. Only the SHA-256 of its random part is kept; ``used_at`` makes it one-use."""

    __tablename__ = "nurse_links"

    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    purpose: Mapped[str] = mapped_column(String(20))
    phone: Mapped[str] = mapped_column(String(20))  # E.164, the number it was texted to
    nurse_id: Mapped[int | None] = mapped_column(ForeignKey("nurses.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]


class NurseSession(Base):
    """One browser where a nurse opened her space; the cookie holds a random id, its SHA-256 is here.
    Valid until ``expires_at`` unless ended (by her, by a coordinator, or by erasing her data)."""

    __tablename__ = "nurse_sessions"

    id: Mapped[int] = mapped_column(primary_key=True)
    nurse_id: Mapped[int] = mapped_column(ForeignKey("nurses.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    ended_at: Mapped[datetime | None]


class NurseRegistration(Base):
    """A nurse who registered through ``INSCRIPTION``: not a nurse (no offer) until a coordinator
    validates it, which creates her :class:`models.Nurse`."""

    __tablename__ = "nurse_registrations"
    __table_args__ = (Index("ix_nurse_registrations_status", "status"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    phone: Mapped[str] = mapped_column(String(20), index=True)  # E.164
    name: Mapped[str] = mapped_column(String(120))
    rpps: Mapped[str] = mapped_column(String(11), index=True)
    zones: Mapped[list[str]] = mapped_column(default=list)  # INSEE codes
    skills: Mapped[list[str]] = mapped_column(default=list)
    availability: Mapped[str] = mapped_column(String(200), default="")
    status: Mapped[str] = mapped_column(String(20), default="pending")  # pending, validated, refused
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    decided_at: Mapped[datetime | None]
    decided_by: Mapped[str | None] = mapped_column(String(160))
    reason: Mapped[str | None] = mapped_column(String(300))
    nurse_id: Mapped[int | None] = mapped_column(ForeignKey("nurses.id", ondelete="SET NULL"))


class NurseChange(Base):
    """The audit trail of a nurse's record: who changed what, when (her space, registration,
    a coordinator's decision, erasure). Kept after erasure, without personal data."""

    __tablename__ = "nurse_changes"
    __table_args__ = (Index("ix_nurse_changes_nurse_at", "nurse_id", "at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    nurse_id: Mapped[int | None] = mapped_column(ForeignKey("nurses.id", ondelete="SET NULL"))
    at: Mapped[datetime]
    actor: Mapped[str] = mapped_column(String(160))
    action: Mapped[str] = mapped_column(String(40))
    detail: Mapped[dict[str, Any]] = mapped_column(default=dict)
