"""Who may get in: coordinators' sessions, and the counts that slow down password guessing."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, utcnow


class CoordinatorSession(Base):
    """One login of a coordinator. The cookie holds a random id; only its SHA-256 is kept here.

    A session is valid until ``expires_at`` unless ``ended_at`` is set: by logging out, by
    "end all my sessions", by a password change or by ``sio coordinators disable``.
    """

    __tablename__ = "coordinator_sessions"

    id: Mapped[int] = mapped_column(primary_key=True)
    coordinator_id: Mapped[int] = mapped_column(ForeignKey("coordinators.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    ended_at: Mapped[datetime | None]


class LoginThrottle(Base):
    """Failed logins counted under one key: a typed e-mail, a client address or a trusted browser
    (hashed where it names a person). See ``dispatch.people.login_throttle``."""

    __tablename__ = "login_throttles"

    key: Mapped[str] = mapped_column(String(80), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    last_failure_at: Mapped[datetime]
