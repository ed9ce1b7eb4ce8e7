"""Coordinators: logging in (scrypt hashes, lock-out after repeated failures), passwords, duty.

The status page calls :func:`authenticate` with what was typed; it answers with a
:class:`LoginResult` and has already counted the failure or cleared the counter, so the
caller only commits. Five wrong passwords in a row lock the account for fifteen minutes,
even against the right password: a guessing script gets five tries per quarter hour.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session
from werkzeug.security import check_password_hash, generate_password_hash

from dispatch.timeline import record
from models import Coordinator

MAX_FAILURES = 5
LOCK_DURATION = timedelta(minutes=15)
MIN_PASSWORD_LENGTH = 8
# Checked against when the e-mail is unknown, so that a wrong address costs the same time
# as a wrong password and the answer does not tell which coordinators exist.
_DUMMY_HASH = generate_password_hash("not-a-real-password", method="scrypt")


@dataclass(frozen=True)
class LoginResult:
    """``ok`` with the coordinator, ``invalid`` (say nothing more), or ``locked`` until when."""

    outcome: Literal["ok", "invalid", "locked"]
    coordinator: Coordinator | None = None
    locked_until: datetime | None = None


def hash_password(password: str) -> str:
    return generate_password_hash(password, method="scrypt")


def password_problem(password: str) -> str | None:
    """A French reason why a new password cannot be used, or None."""
    if len(password) < MIN_PASSWORD_LENGTH:
        return f"le mot de passe doit compter au moins {MIN_PASSWORD_LENGTH} caractères"
    return None


def find_by_email(session: Session, email: str) -> Coordinator | None:
    return session.scalar(select(Coordinator).where(func.lower(Coordinator.email) == email.strip().lower()))


def authenticate(session: Session, email: str, password: str, now: datetime) -> LoginResult:
    """Check a login attempt and count it (the caller commits).

    A locked account refuses even the right password until the lock ends; then the
    counter starts again from zero.
    """
    coordinator = find_by_email(session, email) if email else None
    if coordinator is None:
        check_password_hash(_DUMMY_HASH, password)
        return LoginResult("invalid")
    if coordinator.locked_until is not None and coordinator.locked_until > now:
        return LoginResult("locked", locked_until=coordinator.locked_until)
    if coordinator.locked_until is not None:
        coordinator.locked_until, coordinator.failed_logins = None, 0
    if not check_password_hash(coordinator.password_hash, password):
        return _count_failure(session, coordinator, now)
    coordinator.failed_logins, coordinator.locked_until = 0, None
    record(session, None, "coordinator_login", now, actor=coordinator.name)
    return LoginResult("ok", coordinator)


def _count_failure(session: Session, coordinator: Coordinator, now: datetime) -> LoginResult:
    # One UPDATE with the increment in SQL: two wrong attempts at the same time both count.
    session.execute(
        update(Coordinator)
        .where(Coordinator.id == coordinator.id)
        .values(failed_logins=Coordinator.failed_logins + 1)
        .execution_options(synchronize_session=False)
    )
    session.refresh(coordinator)
    if coordinator.failed_logins >= MAX_FAILURES:
        coordinator.locked_until = now + LOCK_DURATION
        record(session, None, "coordinator_locked", now, actor=coordinator.name, failures=coordinator.failed_logins)
        return LoginResult("locked", locked_until=coordinator.locked_until)
    return LoginResult("invalid")


def set_password(coordinator: Coordinator, password: str) -> None:
    """Replace the password (and lift a lock-out). Raises ValueError with a French reason."""
    problem = password_problem(password)
    if problem:
        raise ValueError(problem)
    coordinator.password_hash = hash_password(password)
    coordinator.failed_logins, coordinator.locked_until = 0, None


def set_on_duty(session: Session, coordinator: Coordinator, on_duty: bool, now: datetime) -> bool:
    """Put the coordinator on or off duty; False when nothing changed. On duty means she gets
    transferred calls and the alerts about unfilled requests."""
    if coordinator.on_duty == on_duty:
        return False
    coordinator.on_duty = on_duty
    record(session, None, "coordinator_on_duty" if on_duty else "coordinator_off_duty", now, actor=coordinator.name)
    return True


def on_duty(session: Session) -> list[Coordinator]:
    return list(session.scalars(select(Coordinator).where(Coordinator.on_duty.is_(True)).order_by(Coordinator.name)))
