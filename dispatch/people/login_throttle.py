"""Slowing down password guessing, without letting anyone lock a coordinator out (issue #14 §3).

Failed logins are counted under keys: the e-mail typed (``email:``, known or not, so the answers
never tell which coordinators exist), the client's address (``addr:``, across e-mails) and a
browser where that coordinator logged in before (``device:``, a signed cookie the web layer
checks). After a few free failures a key must wait before its next attempt, twice as long each
time, up to fifteen minutes; attempts during the wait are refused without being counted.

An attempt from a trusted browser is checked and counted under that browser alone: whatever a
guesser does to the e-mail, from however many addresses, the coordinator's own browser still
gets in with the right password. Other attempts are checked under the e-mail and the address.
A success clears what it was counted under, except the address (a guesser with an account of
its own must not reset it). A key forgets its failures a day after the last one.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import case, delete, select
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from models import LoginThrottle, is_postgres

#: Failures a key may make before it has to wait.
FREE_FAILURES = {"email": 5, "device": 5, "addr": 20}
FIRST_WAIT = timedelta(seconds=30)
LONGEST_WAIT = timedelta(minutes=15)
FORGET_AFTER = timedelta(hours=24)


@dataclass(frozen=True)
class Attempt:
    """The keys one login attempt is checked and counted under, and those a success clears."""

    keys: tuple[str, ...]
    cleared_by_success: tuple[str, ...]


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:64]


def attempt_keys(email: str, address: str | None, device: str | None) -> Attempt:
    """``device``: the id of a browser that logged in as this e-mail before (already verified)."""
    if device:
        key = f"device:{_digest(device)}"
        return Attempt((key,), (key,))
    email_key = f"email:{_digest(email.strip().lower())}"
    return Attempt((email_key, f"addr:{_digest(address or '-')}"), (email_key,))


def wait_after(failures: int, kind: str) -> timedelta:
    """How long a key with that many failures waits before its next attempt."""
    over = failures - FREE_FAILURES.get(kind, 5)
    if over < 0:
        return timedelta(0)
    return min(LONGEST_WAIT, FIRST_WAIT * 2 ** min(over, 16))


def retry_at(session: Session, attempt: Attempt, now: datetime) -> datetime | None:
    """When the next attempt may come; None when it may come now."""
    latest = None
    for row in session.scalars(select(LoginThrottle).where(LoginThrottle.key.in_(attempt.keys))):
        if row.last_failure_at <= now - FORGET_AFTER:
            continue
        allowed = row.last_failure_at + wait_after(row.failures, row.key.split(":", 1)[0])
        if allowed > now and (latest is None or allowed > latest):
            latest = allowed
    return latest


def count_failure(session: Session, attempt: Attempt, now: datetime) -> None:
    """One more failure under every key, in one statement per key (two guesses at once both count)."""
    insert = postgresql_insert if is_postgres(session) else sqlite_insert
    # Keys quiet for a day are forgotten: the table holds a day of failures, whoever makes them.
    session.execute(delete(LoginThrottle).where(LoginThrottle.last_failure_at <= now - FORGET_AFTER))
    for key in attempt.keys:
        statement = insert(LoginThrottle).values(key=key, failures=1, last_failure_at=now)
        restart = LoginThrottle.last_failure_at <= now - FORGET_AFTER
        session.execute(
            statement.on_conflict_do_update(
                index_elements=[LoginThrottle.key],
                set_={"failures": case((restart, 1), else_=LoginThrottle.failures + 1), "last_failure_at": now},
            )
        )


def clear(session: Session, attempt: Attempt) -> None:
    session.execute(delete(LoginThrottle).where(LoginThrottle.key.in_(attempt.cleared_by_success)))
