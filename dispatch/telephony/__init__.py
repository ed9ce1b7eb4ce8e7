"""The telephony port (DESIGN §8): send a text, place a call, fetch or delete a caller's
recording, and the outcomes callers act on.

The rest of the service talks to :class:`Telephony` only; ``dispatch.services`` builds the
adapter (real Twilio REST or the network-free simulator) named by ``settings.telephony``. Errors
are sorted by what the caller must do, not by provider detail:

- :class:`OptedOut`: the recipient replied STOP; mark the nurse opted out, never retry.
- :class:`InvalidNumber`: the number cannot receive this (invalid, landline, region blocked);
  the offer failed, never retry.
- :class:`TransientError`: network trouble or provider overload that outlived the adapter's own
  retries; the job should run again later.
- :class:`MaybeSent`: the request left but its answer never came (a read timeout): the provider
  may have accepted it. Sending again at once could text a nurse twice: wait for the status
  callback, which tells whether it went.
- :class:`TelephonyError` itself: any other refusal (bad credentials, bad sender...); permanent.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Protocol

__all__ = [
    "OPTED_OUT_CODES",
    "InvalidNumber",
    "MaybeSent",
    "OptedOut",
    "Recording",
    "Sent",
    "Telephony",
    "TelephonyError",
    "TransientError",
    "recording_sid",
    "refuse_uncallable",
]

#: Twilio 21610, "Attempt to send to unsubscribed recipient": the recipient texted STOP. An API
#: answer (the adapter raises OptedOut) or a delivery status (``dispatch.messaging.deliveries``).
OPTED_OUT_CODES = frozenset({21610})

_RECORDING_SID = re.compile(r"/(RE[0-9a-f]{32})(?:\.\w+)?/?$")


@dataclass(frozen=True)
class Sent:
    """What the provider answered when it accepted a text or a call."""

    sid: str
    #: The provider's initial status, e.g. "queued" (or "accepted" through a Messaging Service).
    status: str


@dataclass(frozen=True)
class Recording:
    """A caller's recording, as the browser plays it."""

    content: bytes
    mimetype: str


def recording_sid(url: str | None) -> str | None:
    """The ``RE…`` sid at the end of a RecordingUrl (Twilio's or the simulator's), else None."""
    match = _RECORDING_SID.search((url or "").split("?")[0])
    return match[1] if match else None


class TelephonyError(Exception):
    """The provider refused or could not be reached. Permanent unless a subclass says otherwise."""

    def __init__(self, message: str, code: int | None = None, *, status: int | None = None):
        super().__init__(message)
        self.message = message
        #: The provider's error code (Twilio's 2xxxx numbers), when it gave one.
        self.code = code
        #: The HTTP status of the provider's answer, when there was one.
        self.status = status

    def __str__(self) -> str:
        return f"[{self.code}] {self.message}" if self.code is not None else self.message


class OptedOut(TelephonyError):
    """Twilio 21610: the recipient replied STOP to this sender."""


class InvalidNumber(TelephonyError):
    """The number cannot be reached this way: invalid, not a mobile, region not enabled..."""


class TransientError(TelephonyError):
    """Network error, timeout, or 429/5xx that outlived the retries: try again later."""


class MaybeSent(TransientError):
    """The provider did not answer in time after the request reached it: it may have acted."""


class Telephony(Protocol):
    """The port. Numbers are E.164; the URLs are absolute public URLs of this service."""

    def send_sms(self, to: str, body: str, status_callback: str) -> Sent:
        """Send one text; ``status_callback`` receives the delivery status updates."""
        ...

    def place_call(self, to: str, url: str, status_callback: str, *, machine_detection: bool = False) -> Sent:
        """Place one call that plays the TwiML served at ``url``."""
        ...

    def fetch_recording(self, sid: str) -> Recording:
        """The audio of one of our recordings (the provider's credentials stay on the server)."""
        ...

    def delete_recording(self, sid: str) -> None:
        """Delete a recording at the provider; one already gone is not an error."""
        ...


def refuse_uncallable(to: str) -> None:
    """Every adapter's last check before a call: never a premium-rate or foreign number (toll
    fraud), whatever let it in. Raises :class:`InvalidNumber`, which the outbox never retries."""
    from dispatch.phones import callback_problem

    problem = callback_problem(to)
    if problem:
        raise InvalidNumber(f"call refused: {problem}")
