"""Coordinators: logging in (scrypt hashes, slowed-down guessing), sessions, passwords, duty.

The status page calls :func:`authenticate` with what was typed; it answers with a
:class:`LoginResult` and has already counted the failure or cleared the counts, so the
caller only commits. Guessing is slowed down per e-mail, per address and per browser
(``dispatch.people.login_throttle``), with the same answers whether the e-mail exists or not: nobody
can lock a coordinator out of her own browser.

A login opens a :class:`CoordinatorSession` row; the cookie holds its random id. Every page
checks the row, so logging out, "end all my sessions", a password change and
``sio coordinators disable`` end sessions at once, whatever cookies were saved.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session
from werkzeug.security import check_password_hash, generate_password_hash

from dispatch.people import login_throttle
from dispatch.timeline import record
from models import Coordinator, CoordinatorSession

MIN_PASSWORD_LENGTH = 8
SESSION_LIFETIME = timedelta(hours=12)
# Checked against when the e-mail is unknown or disabled, so that a wrong address costs the same
# time as a wrong password and the answer does not tell which coordinators exist.
_DUMMY_HASH = generate_password_hash("not-a-real-password", method="scrypt")


@dataclass(frozen=True)
class LoginResult:
    """``ok`` with the coordinator, ``invalid`` (say nothing more), or ``throttled`` until when."""

    outcome: Literal["ok", "invalid", "throttled"]
    coordinator: Coordinator | None = None
    retry_at: datetime | None = None


def hash_password(password: str) -> str:
    return generate_password_hash(password, method="scrypt")


def password_problem(password: str) -> str | None:
    """A French reason why a new password cannot be used, or None."""
    if len(password) < MIN_PASSWORD_LENGTH:
        return f"le mot de passe doit compter au moins {MIN_PASSWORD_LENGTH} caractères"
    return None


def check_password(coordinator: Coordinator, password: str) -> bool:
    return bool(password) and check_password_hash(coordinator.password_hash, password)


def find_by_email(session: Session, email: str) -> Coordinator | None:
    return session.scalar(select(Coordinator).where(func.lower(Coordinator.email) == email.strip().lower()))


def authenticate(
    session: Session,
    email: str,
    password: str,
    now: datetime,
    *,
    address: str | None = None,
    device: str | None = None,
) -> LoginResult:
    """Check a login attempt and count it (the caller commits).

    ``address``: the client's address; ``device``: the id of a browser this e-mail logged in
    from before (verified by the caller). While a wait is running, the attempt is refused
    unread, the right password included; the answer is the same for every e-mail.
    """
    attempt = login_throttle.attempt_keys(email, address, device)
    wait_until = login_throttle.retry_at(session, attempt, now)
    if wait_until is not None:
        return LoginResult("throttled", retry_at=wait_until)
    coordinator = find_by_email(session, email) if email else None
    usable = coordinator is not None and coordinator.disabled_at is None
    if not check_password_hash(coordinator.password_hash if usable else _DUMMY_HASH, password) or not usable:
        login_throttle.count_failure(session, attempt, now)
        return LoginResult("invalid")
    login_throttle.clear(session, attempt)
    record(session, None, "coordinator_login", now, actor=coordinator.name)
    return LoginResult("ok", coordinator)


# --- sessions -------------------------------------------------------------------------------------


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def open_session(session: Session, coordinator: Coordinator, now: datetime) -> str:
    """A new session for the coordinator; returns its id for the cookie (only its hash is kept)."""
    token = secrets.token_urlsafe(32)
    session.execute(delete(CoordinatorSession).where(CoordinatorSession.expires_at <= now))  # dead rows
    session.add(
        CoordinatorSession(
            coordinator_id=coordinator.id, token_hash=_hash(token), created_at=now, expires_at=now + SESSION_LIFETIME
        )
    )
    return token


def session_coordinator(session: Session, token: str | None, now: datetime) -> Coordinator | None:
    """The coordinator of a live session: not ended, not expired, not disabled."""
    if not token or not isinstance(token, str):
        return None
    return session.scalar(
        select(Coordinator)
        .join(CoordinatorSession, CoordinatorSession.coordinator_id == Coordinator.id)
        .where(
            CoordinatorSession.token_hash == _hash(token),
            CoordinatorSession.ended_at.is_(None),
            CoordinatorSession.expires_at > now,
            Coordinator.disabled_at.is_(None),
        )
    )


def end_session(session: Session, token: str | None, now: datetime) -> bool:
    """Log out: this session ends; False when it had ended already."""
    if not token or not isinstance(token, str):
        return False
    ended = session.execute(
        update(CoordinatorSession)
        .where(CoordinatorSession.token_hash == _hash(token), CoordinatorSession.ended_at.is_(None))
        .values(ended_at=now)
    )
    return ended.rowcount > 0


def end_all_sessions(session: Session, coordinator: Coordinator, now: datetime, *, actor: str) -> int:
    """Every live session of the coordinator ends (every browser, every saved cookie); how many."""
    ended = session.execute(
        update(CoordinatorSession)
        .where(
            CoordinatorSession.coordinator_id == coordinator.id,
            CoordinatorSession.ended_at.is_(None),
            CoordinatorSession.expires_at > now,
        )
        .values(ended_at=now)
    ).rowcount
    record(session, None, "coordinator_sessions_ended", now, actor=actor, coordinator=coordinator.name, count=ended)
    return ended


def disable(session: Session, coordinator: Coordinator, now: datetime, *, actor: str) -> int:
    """No more login, calls or alerts for her; her sessions end at once. How many ended."""
    coordinator.disabled_at = coordinator.disabled_at or now
    coordinator.on_duty = False
    record(session, None, "coordinator_disabled", now, actor=actor, coordinator=coordinator.name)
    return end_all_sessions(session, coordinator, now, actor=actor)


def enable(session: Session, coordinator: Coordinator, now: datetime, *, actor: str) -> bool:
    """She may log in again (off duty); False when she was not disabled."""
    if coordinator.disabled_at is None:
        return False
    coordinator.disabled_at = None
    record(session, None, "coordinator_enabled", now, actor=actor, coordinator=coordinator.name)
    return True


def set_password(session: Session, coordinator: Coordinator, password: str, now: datetime) -> None:
    """Replace the password; every session opened with the old one ends. Raises ValueError with a
    French reason when the password cannot be used."""
    problem = password_problem(password)
    if problem:
        raise ValueError(problem)
    coordinator.password_hash = hash_password(password)
    if coordinator.id is not None:
        end_all_sessions(session, coordinator, now, actor="changement de mot de passe")


def set_on_duty(session: Session, coordinator: Coordinator, on_duty: bool, now: datetime) -> bool:
    """Put the coordinator on or off duty; False when nothing changed. On duty means she gets
    transferred calls and the alerts about unfilled requests (never while disabled)."""
    on_duty = on_duty and coordinator.disabled_at is None
    if coordinator.on_duty == on_duty:
        return False
    coordinator.on_duty = on_duty
    record(session, None, "coordinator_on_duty" if on_duty else "coordinator_off_duty", now, actor=coordinator.name)
    return True


def on_duty(session: Session) -> list[Coordinator]:
    return list(
        session.scalars(
            select(Coordinator)
            .where(Coordinator.on_duty.is_(True), Coordinator.disabled_at.is_(None))
            .order_by(Coordinator.name)
        )
    )
