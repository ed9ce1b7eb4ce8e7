"""A nurse's own switches, set by her texts (PAUSE, DISPO, STOP, START), by a coordinator, or by
Twilio (a text refused because she opted out): the one place each rule is written.

Matching reads the result (``dispatch.matching.candidates``): a paused or opted-out nurse is
never offered anything. What else follows (her open offers declined, a wave ended early) is the
caller's: ``dispatch.messaging``.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from dispatch.timeline import record
from models import Nurse

MAX_PAUSE_DAYS = 365
# A pause without a number of days lasts until she (or a coordinator) ends it.
UNTIL_RESUMED = timedelta(days=3650)


def pause(session: Session, nurse: Nurse, now: datetime, *, actor: str, days: int | None = None) -> None:
    """No offers to her for ``days`` days, or until resumed (``days`` None)."""
    if days is not None and not 1 <= days <= MAX_PAUSE_DAYS:
        raise ValueError(f"le nombre de jours doit être entre 1 et {MAX_PAUSE_DAYS}")
    nurse.paused_until = now + (timedelta(days=days) if days else UNTIL_RESUMED)
    record(session, None, "nurse_paused", now, actor=actor, nurse=nurse, days=days)


def resume(session: Session, nurse: Nurse, now: datetime, *, actor: str) -> bool:
    """Offers again; False (and nothing recorded) when she was not paused."""
    was_paused = nurse.paused_until is not None and nurse.paused_until > now
    nurse.paused_until = None
    if was_paused:
        record(session, None, "nurse_resumed", now, actor=actor, nurse=nurse)
    return was_paused


def opt_out(session: Session, nurse: Nurse, now: datetime, *, actor: str = "system", code: int | None = None) -> bool:
    """Never texted again until she opts in (STOP, or Twilio's error ``code`` saying she did);
    False when she already was opted out."""
    if nurse.opted_out_at is not None:
        return False
    nurse.opted_out_at = now
    record(session, None, "nurse_opted_out", now, actor=actor, nurse=nurse, code=code)
    return True


def opt_in(session: Session, nurse: Nurse, now: datetime, *, actor: str) -> None:
    """START: texts again."""
    nurse.opted_out_at = None
    record(session, None, "nurse_opted_in", now, actor=actor, nurse=nurse)
