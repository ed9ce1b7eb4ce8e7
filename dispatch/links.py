"""Signed links to a request's details for the nurse who took it (valid 48 h, DESIGN §7)."""

from __future__ import annotations

from datetime import datetime

from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

from dispatch.config import Settings

LINK_VALIDITY_S = 48 * 3600
_SALT = "sio.request-details"


def _serializer(settings: Settings) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(settings.secret_key, salt=_SALT)


def details_token(settings: Settings, reference: str, now: datetime) -> str:
    # itsdangerous stamps with the real clock; ``now`` is accepted for symmetry and future use.
    return _serializer(settings).dumps(reference)


def details_link(settings: Settings, reference: str, now: datetime) -> str:
    return f"{settings.public_base_url}/r/{details_token(settings, reference, now)}"


class LinkError(ValueError):
    pass


def read_details_token(settings: Settings, token: str, max_age_s: int = LINK_VALIDITY_S) -> str:
    """The request reference in a link; raises :class:`LinkError` when forged or expired."""
    try:
        return _serializer(settings).loads(token, max_age=max_age_s)
    except SignatureExpired:
        raise LinkError("lien expiré") from None
    except BadSignature:
        raise LinkError("lien invalide") from None
