"""How the simulator reaches the service: signed HTTP requests, exactly as Twilio sends them.

Every request goes over the network to ``PUBLIC_BASE_URL`` + path, signed with the auth token,
so the webhook that answers is the production one, behind whatever server runs it. Nothing
outside this service is ever requested: a URL that does not start with ``PUBLIC_BASE_URL`` is
refused (TwiML could name any address).
"""

from __future__ import annotations

import secrets
from urllib.parse import urlencode

import requests
from twilio.request_validator import RequestValidator

from dispatch.config import Settings
from dispatch.telephony.simulator import SIMULATED_ACCOUNT_SID

TIMEOUT_S = 15


class ServiceError(Exception):
    """The service could not be reached or refused the request; the message is French, for the page."""


def account_sid(settings: Settings) -> str:
    return settings.twilio_account_sid or SIMULATED_ACCOUNT_SID


def new_sid(prefix: str) -> str:
    return prefix + secrets.token_hex(16)


def is_service_url(settings: Settings, url: str) -> bool:
    return url.startswith(settings.public_base_url + "/")


def twilio_request(settings: Settings, url: str, params: dict[str, str], method: str = "POST") -> str:
    """Send one webhook request as Twilio would and return the body of the answer (TwiML)."""
    if not is_service_url(settings, url):
        raise ServiceError(f"adresse hors du service refusée : {url}")
    validator = RequestValidator(settings.twilio_auth_token)
    try:
        if method.upper() == "GET":
            full = url + ("&" if "?" in url else "?") + urlencode(params)
            response = requests.get(
                full, headers={"X-Twilio-Signature": validator.compute_signature(full, {})}, timeout=TIMEOUT_S
            )
        else:
            response = requests.post(
                url,
                data=params,
                timeout=TIMEOUT_S,
                headers={"X-Twilio-Signature": validator.compute_signature(url, params)},
            )
    except requests.RequestException as err:
        raise ServiceError(
            f"le service ne répond pas à {settings.public_base_url} ({type(err).__name__}). "
            "PUBLIC_BASE_URL doit être l'adresse où ce serveur écoute."
        ) from None
    if response.status_code >= 400:
        hint = " (signature refusée : vérifiez PUBLIC_BASE_URL)" if response.status_code == 403 else ""
        raise ServiceError(f"le service a répondu {response.status_code} à {url}{hint}")
    return response.text


def send_sms(settings: Settings, sender: str, body: str) -> str:
    """A text from ``sender`` to the service's number, through ``/webhooks/sms``; the TwiML answer."""
    sid = new_sid("SM")
    params = {
        "MessageSid": sid,
        "SmsSid": sid,
        "SmsMessageSid": sid,
        "AccountSid": account_sid(settings),
        "From": sender,
        "To": settings.twilio_phone_number,
        "Body": body,
        "NumMedia": "0",
        "NumSegments": "1",
        "SmsStatus": "received",
        "ApiVersion": "2010-04-01",
    }
    return twilio_request(settings, settings.public_base_url + "/webhooks/sms", params)
