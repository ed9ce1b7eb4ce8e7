"""The keys to a nurse's space: one-use links texted to her phone, and her sessions.

``PROFIL`` (or ``COMPTE``) texts a link to her space; ``INSCRIPTION`` from an unknown mobile a
link to the registration form. A link is a random token signed with the secret key (a forged one
is refused before the database is read); only the SHA-256 of its random part is stored, with its
purpose, the phone it was texted to, its expiry (24 h) and when it was used: it opens once.

Opening her space starts a session of her own in that browser, like the coordinators'
(``dispatch.people.coordinators``): the cookie holds a random id, the row decides. She ends it
("Se déconnecter"), or all of hers; a coordinator ends all of hers; erasing her data ends them.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta

from itsdangerous import BadSignature, Signer
from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from dispatch.config import Settings
from dispatch.people.audit import note
from models import Nurse, NurseLink, NurseSession

LINK_VALIDITY = timedelta(hours=24)
SESSION_LIFETIME = timedelta(hours=12)
PROFILE, REGISTER = "profile", "register"
PATHS = {PROFILE: "/moi/lien/", REGISTER: "/inscription/"}
_SALT = "sio.nurse-link"
INVALID = "Ce lien n'est pas valide. Vérifiez qu'il est complet, tel que reçu par SMS."


class LinkProblem(ValueError):
    """Why a link opens nothing: ``code`` is ``invalid``, ``used`` or ``expired``; the message is French."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _signer(settings: Settings) -> Signer:
    return Signer(settings.secret_key, salt=_SALT)


def issue_link(
    session: Session, settings: Settings, purpose: str, phone: str, now: datetime, *, nurse: Nurse | None = None
) -> str:
    """A new link for ``phone`` (the caller commits before texting it); returns its full URL."""
    token = secrets.token_urlsafe(18)
    session.add(
        NurseLink(
            token_hash=_hash(token),
            purpose=purpose,
            phone=phone,
            nurse_id=nurse.id if nurse else None,
            created_at=now,
            expires_at=now + LINK_VALIDITY,
        )
    )
    signed = _signer(settings).sign(token).decode()
    return f"{settings.public_base_url}{PATHS[purpose]}{signed}"


def check_link(session: Session, settings: Settings, signed: str, purpose: str, now: datetime) -> NurseLink:
    """The link's row if it may still be used (not consumed); raises :class:`LinkProblem`."""
    try:
        token = _signer(settings).unsign((signed or "")[:200]).decode()
    except (BadSignature, UnicodeError):
        raise LinkProblem("invalid", INVALID) from None
    link = session.scalar(select(NurseLink).where(NurseLink.token_hash == _hash(token)))
    if link is None or link.purpose != purpose:
        raise LinkProblem("invalid", INVALID)
    word = "PROFIL" if purpose == PROFILE else "INSCRIPTION"
    if link.used_at is not None:
        raise LinkProblem(
            "used",
            f"Ce lien a déjà servi : il ne s'ouvre qu'une fois. Envoyez {word} par SMS pour en recevoir un nouveau.",
        )
    if link.expires_at <= now:
        raise LinkProblem(
            "expired", f"Ce lien a expiré (il vaut 24 heures). Envoyez {word} par SMS pour en recevoir un nouveau."
        )
    return link


def use_link(session: Session, settings: Settings, signed: str, purpose: str, now: datetime) -> NurseLink:
    """Consume the link (one use, guarded: two browsers racing, one wins); raises :class:`LinkProblem`."""
    link = check_link(session, settings, signed, purpose, now)
    used = session.execute(
        update(NurseLink).where(NurseLink.id == link.id, NurseLink.used_at.is_(None)).values(used_at=now)
    )
    if used.rowcount != 1:
        raise LinkProblem("used", "Ce lien a déjà servi : il ne s'ouvre qu'une fois.")
    link.used_at = now
    return link


def open_space(session: Session, settings: Settings, signed: str, now: datetime) -> tuple[Nurse, str]:
    """Use a PROFIL link: the nurse and the id of her new session (for the cookie)."""
    link = use_link(session, settings, signed, PROFILE, now)
    nurse = session.get(Nurse, link.nurse_id) if link.nurse_id else None
    if nurse is None or nurse.phone != link.phone:
        raise LinkProblem("invalid", "Ce lien ne correspond plus à une infirmière inscrite.")
    token = secrets.token_urlsafe(32)
    session.execute(delete(NurseSession).where(NurseSession.expires_at <= now))  # dead rows
    session.add(
        NurseSession(nurse_id=nurse.id, token_hash=_hash(token), created_at=now, expires_at=now + SESSION_LIFETIME)
    )
    note(session, nurse.id, "space_opened", now, actor=f"infirmière {nurse.name}")
    return nurse, token


def session_nurse(session: Session, token: str | None, now: datetime) -> Nurse | None:
    """The nurse of a live session (not ended, not expired)."""
    if not token or not isinstance(token, str):
        return None
    return session.scalar(
        select(Nurse)
        .join(NurseSession, NurseSession.nurse_id == Nurse.id)
        .where(NurseSession.token_hash == _hash(token), NurseSession.ended_at.is_(None), NurseSession.expires_at > now)
    )


def end_session(session: Session, token: str | None, now: datetime) -> bool:
    """Her "Se déconnecter": this browser's session ends."""
    if not token or not isinstance(token, str):
        return False
    ended = session.execute(
        update(NurseSession)
        .where(NurseSession.token_hash == _hash(token), NurseSession.ended_at.is_(None))
        .values(ended_at=now)
    )
    return ended.rowcount > 0


def live_sessions(session: Session, nurse_id: int, now: datetime) -> int:
    return len(
        session.scalars(
            select(NurseSession.id).where(
                NurseSession.nurse_id == nurse_id, NurseSession.ended_at.is_(None), NurseSession.expires_at > now
            )
        ).all()
    )


def end_all_sessions(session: Session, nurse_id: int, now: datetime, *, actor: str) -> int:
    """Every live session of the nurse ends (hers, or a coordinator's decision); how many."""
    ended = session.execute(
        update(NurseSession)
        .where(NurseSession.nurse_id == nurse_id, NurseSession.ended_at.is_(None), NurseSession.expires_at > now)
        .values(ended_at=now)
    ).rowcount
    note(session, nurse_id, "sessions_ended", now, actor=actor, count=ended)
    return ended
