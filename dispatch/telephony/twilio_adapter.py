"""Twilio adapter of the telephony port: the official SDK, with a timeout and retries (DESIGN §8).

The SDK's own HTTP client has no timeout by default and retries nothing; a worker stuck on a
silent socket or failing on one 503 is worse than a short, bounded wait. We keep the SDK's
``TwilioHttpClient`` and only mount a ``requests`` adapter whose urllib3 ``Retry`` does the
retrying, so the backoff, the Retry-After handling and the connection pool are urllib3's.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import requests
from requests.adapters import HTTPAdapter
from twilio.base.exceptions import TwilioRestException, TwilioServiceException
from twilio.http.http_client import TwilioHttpClient
from twilio.request_validator import RequestValidator
from twilio.rest import Client
from urllib3.util.retry import Retry

from dispatch.telephony import (
    OPTED_OUT_CODES,
    InvalidNumber,
    MaybeSent,
    OptedOut,
    Recording,
    Sent,
    TelephonyError,
    TransientError,
    refuse_uncallable,
)

if TYPE_CHECKING:
    from dispatch.config import Settings

DEFAULT_API_BASE_URL = "https://api.twilio.com"

#: Error codes that mean "this recipient cannot be reached this way"; retrying will not help.
INVALID_NUMBER_CODES = frozenset(
    {
        21211,  # Invalid 'To' phone number
        21214,  # 'To' phone number cannot be reached (calls)
        21215,  # Geo permissions do not allow calling this number
        21217,  # Phone number does not appear to be valid (calls)
        21401,  # Invalid phone number (calls)
        21407,  # This phone number type does not support SMS
        21408,  # Permission to send an SMS has not been enabled for the region
        21612,  # The 'To' number is not currently reachable via SMS
        21614,  # 'To' number is not a valid mobile number
    }
)

#: HTTP statuses worth another try: rate limiting and server-side trouble.
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})

CALL_STATUS_EVENTS = ["initiated", "ringing", "answered", "completed"]


def make_retry(retries: int, backoff_factor: float, backoff_max: float) -> Retry:
    """The retry policy mounted on the SDK's session.

    ``read=False``: a POST whose answer never came may already have been accepted by Twilio;
    sending it again could text a nurse twice, so read errors surface at once (as a timeout)
    and the caller decides. Connection errors (nothing was sent) and 429/5xx answers (Twilio
    said it did not act) are retried, POST included. ``raise_on_status=False`` hands the last
    error answer back to the SDK so its Twilio error code reaches the caller.
    """
    return Retry(
        total=retries,
        connect=retries,
        read=False,
        status=retries,
        other=0,
        allowed_methods=frozenset({"GET", "POST", "DELETE"}),
        status_forcelist=RETRY_STATUSES,
        backoff_factor=backoff_factor,
        backoff_max=backoff_max,
        # A Retry-After from Twilio is honoured, but never beyond our own ceiling: a worker
        # blocked for minutes is worse than a job re-run later.
        retry_after_max=max(1, int(backoff_max)),
        raise_on_status=False,
    )


def make_http_client(timeout: float, retries: int, backoff_factor: float, backoff_max: float) -> TwilioHttpClient:
    """The SDK's HTTP client with an explicit timeout and our retry policy on http and https.

    ``TwilioHttpClient(max_retries=...)`` only mounts its adapter on ``https://``; the local
    stand-in of tests and benchmarks is plain http, so we mount one adapter on both prefixes.
    """
    http_client = TwilioHttpClient(timeout=timeout)
    adapter = HTTPAdapter(
        max_retries=make_retry(retries, backoff_factor, backoff_max),
        pool_maxsize=min(32, (os.cpu_count() or 1) + 4),
    )
    assert http_client.session is not None  # pool_connections=True (the default) creates it
    http_client.session.mount("https://", adapter)
    http_client.session.mount("http://", adapter)
    return http_client


def error_from_twilio(err: TwilioRestException | TwilioServiceException) -> TelephonyError:
    """Sort a Twilio error answer into the port's outcomes."""
    status = err.status
    code = err.code if isinstance(err.code, int) else None
    # RFC-9457 answers (TwilioServiceException) carry detail/title; legacy ones a message.
    message = (err.detail or err.title) if isinstance(err, TwilioServiceException) else err.msg
    if code in OPTED_OUT_CODES:
        return OptedOut(message, code, status=status)
    if code in INVALID_NUMBER_CODES:
        return InvalidNumber(message, code, status=status)
    if status in RETRY_STATUSES:
        return TransientError(message, code, status=status)
    return TelephonyError(message, code, status=status)


class TwilioTelephony:
    """Sends texts and places calls through Twilio's REST API.

    One SDK client per instance (created here, not at import) so that each worker process owns
    its connection pool and tests can point instances at different stand-ins.
    """

    def __init__(
        self,
        settings: Settings,
        *,
        timeout: float = 10.0,
        retries: int = 3,
        backoff_factor: float = 0.5,
        backoff_max: float = 10.0,
    ):
        if not settings.twilio_account_sid:
            raise TelephonyError("TWILIO_ACCOUNT_SID is not set")
        self.settings = settings
        self.timeout = timeout
        self.http_client = make_http_client(timeout, retries, backoff_factor, backoff_max)
        self.client = Client(
            settings.twilio_account_sid,
            settings.twilio_auth_token,
            http_client=self.http_client,
        )
        # Edge and region come from TWILIO_API_BASE_URL only (DESIGN §4): the SDK would
        # otherwise read TWILIO_EDGE/TWILIO_REGION from os.environ and rewrite every host name,
        # including a stand-in's 127.0.0.1.
        self.client.edge = None
        self.client.region = None
        if settings.twilio_api_base_url:
            # Messages and Calls live in the "api" domain; its base_url prefixes every URI.
            self.client.api.base_url = settings.twilio_api_base_url

    def send_sms(self, to: str, body: str, status_callback: str) -> Sent:
        """Send one text, through the Messaging Service when one is configured."""
        sender: dict[str, str] = {}
        if self.settings.twilio_messaging_service_sid:
            # The service picks the sender (French short code) and handles opt-out keywords.
            sender["messaging_service_sid"] = self.settings.twilio_messaging_service_sid
        else:
            sender["from_"] = self.settings.twilio_phone_number
        message = self._call(
            self.client.messages.create,
            to=to,
            body=body,
            status_callback=status_callback,
            **sender,
        )
        return Sent(sid=message.sid, status=message.status or "")

    def place_call(self, to: str, url: str, status_callback: str, *, machine_detection: bool = False) -> Sent:
        """Place one call playing the TwiML at ``url``, reporting every progress event (never to a
        premium-rate or foreign number: refused before Twilio is asked)."""
        refuse_uncallable(to)
        extra: dict[str, str] = {}
        if machine_detection:
            # Waits for the greeting to end so a message left on voicemail is heard whole.
            extra["machine_detection"] = "DetectMessageEnd"
        call = self._call(
            self.client.calls.create,
            to=to,
            from_=self.settings.twilio_phone_number,
            url=url,
            status_callback=status_callback,
            status_callback_event=CALL_STATUS_EVENTS,
            **extra,
        )
        return Sent(sid=call.sid, status=call.status or "")

    def fetch_recording(self, sid: str) -> Recording:
        """The MP3 of one of the account's recordings.

        Twilio may require the account's credentials for media (HTTP Basic), which a browser does
        not have: the status page plays it through us. The SDK has no call for a media file's
        bytes, so this is a GET on the SDK's session (our timeout and retry policy). The address
        is built from the recording's sid and our own settings, never taken from stored input.
        """
        base = self.settings.twilio_api_base_url or DEFAULT_API_BASE_URL
        url = f"{base}/2010-04-01/Accounts/{self.settings.twilio_account_sid}/Recordings/{sid}.mp3"
        assert self.http_client.session is not None
        try:
            response = self.http_client.session.get(
                url,
                auth=(self.settings.twilio_account_sid, self.settings.twilio_auth_token),
                timeout=self.timeout,
                allow_redirects=True,  # requests drops the credentials if it leaves Twilio's host
            )
        except requests.RequestException as err:
            raise TransientError(f"Twilio unreachable: {err}") from err
        if response.status_code in RETRY_STATUSES:
            raise TransientError(
                f"recording {sid}: Twilio answered {response.status_code}", status=response.status_code
            )
        if response.status_code != 200:
            raise TelephonyError(
                f"recording {sid}: Twilio answered {response.status_code}", status=response.status_code
            )
        return Recording(response.content, response.headers.get("Content-Type", "audio/mpeg").split(";")[0])

    def delete_recording(self, sid: str) -> None:
        """Delete one of the account's recordings; one Twilio no longer has is already deleted."""
        try:
            self._call(self.client.recordings(sid).delete)
        except TelephonyError as err:
            if err.status != 404:
                raise

    @staticmethod
    def _call(create: Callable[..., Any], **kwargs: Any) -> Any:
        """Run one SDK call, translating its failures into the port's exceptions."""
        try:
            return create(**kwargs)
        except (TwilioRestException, TwilioServiceException) as err:
            raise error_from_twilio(err) from err
        except requests.ReadTimeout as err:
            # The request went out; Twilio may have created the message or call all the same.
            raise MaybeSent(f"Twilio did not answer in time: {err}") from err
        except requests.Timeout as err:
            raise TransientError(f"Twilio could not be reached in time: {err}") from err
        except requests.RequestException as err:
            # ConnectionError (refused, DNS, reset; also raised once connect retries run out).
            raise TransientError(f"Twilio unreachable: {err}") from err


def sign_request(auth_token: str, url: str, params: dict[str, str]) -> str:
    """The ``X-Twilio-Signature`` Twilio would send with this form post (the simulator signs its
    callbacks with it, so the production webhook checks run on them)."""
    return RequestValidator(auth_token).compute_signature(url, params)
