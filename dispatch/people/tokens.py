"""API tokens for requesters: shown once, stored as a SHA-256 hash; a new one replaces the old."""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from models import ApiToken, Requester


def hash_token(token: str) -> str:
    # Tokens are 256 random bits: a fast hash is enough (no dictionary to attack).
    return hashlib.sha256(token.encode()).hexdigest()


def issue_token(session: Session, requester: Requester) -> str:
    """Create a token for the requester; return it (the only time it is visible)."""
    token = "sio_" + secrets.token_urlsafe(32)
    session.add(ApiToken(requester_id=requester.id, token_hash=hash_token(token)))
    return token


def revoke_tokens(session: Session, requester: Requester, now: datetime) -> int:
    """Every live token of the requester stops working at once; how many there were."""
    return session.execute(
        update(ApiToken)
        .where(ApiToken.requester_id == requester.id, ApiToken.revoked_at.is_(None))
        .values(revoked_at=now)
    ).rowcount


def replace_token(session: Session, requester: Requester, now: datetime) -> tuple[str, int]:
    """A new token for the requester, the old ones revoked: (the new token, how many were revoked)."""
    revoked = revoke_tokens(session, requester, now)
    return issue_token(session, requester), revoked


def requester_for_token(session: Session, token: str) -> Requester | None:
    if not token:
        return None
    return session.scalar(
        select(Requester)
        .join(ApiToken, ApiToken.requester_id == Requester.id)
        .where(ApiToken.token_hash == hash_token(token), ApiToken.revoked_at.is_(None))
    )
