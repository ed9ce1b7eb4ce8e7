"""Signed links to a request's details for the nurse who took it (valid 48 h, DESIGN §7)."""

from __future__ import annotations

from datetime import datetime

from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

from dispatch.config import Settings
from dispatch.telephony.urls import Urls

LINK_VALIDITY_S = 48 * 3600
_SALT = "sio.request-details"


def _serializer(settings: Settings) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(settings.secret_key, salt=_SALT)


def details_token(settings: Settings, reference: str, now: datetime, nurse_id: int | None = None) -> str:
    """A signed token naming the request and the nurse it was given to.

    The nurse is in the token so that a nurse who withdrew (DESISTE) cannot read the
    details once another nurse has the request. itsdangerous stamps with the real clock.
    """
    return _serializer(settings).dumps({"r": reference, "n": nurse_id})


def details_link(settings: Settings, reference: str, now: datetime, nurse_id: int | None = None) -> str:
    return Urls(settings.public_base_url).details(details_token(settings, reference, now, nurse_id))


class LinkError(ValueError):
    pass


def read_details_token(settings: Settings, token: str, max_age_s: int = LINK_VALIDITY_S) -> str:
    """The request reference in a link; raises :class:`LinkError` when forged or expired."""
    return read_details_claims(settings, token, max_age_s)[0]


def read_details_claims(settings: Settings, token: str, max_age_s: int = LINK_VALIDITY_S) -> tuple[str, int | None]:
    """``(reference, nurse_id)`` of a link; raises :class:`LinkError` when forged or expired."""
    try:
        claims = _serializer(settings).loads(token, max_age=max_age_s)
        if not isinstance(claims, dict) or not isinstance(claims.get("r"), str):
            raise LinkError("lien invalide")
        return claims["r"], claims.get("n") if isinstance(claims.get("n"), int) else None
    except SignatureExpired:
        raise LinkError("lien expiré") from None
    except BadSignature:
        raise LinkError("lien invalide") from None
