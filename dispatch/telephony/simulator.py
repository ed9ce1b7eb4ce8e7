"""Simulator adapter of the telephony port: no network, every send kept in memory (DESIGN §8).

It answers like Twilio would (a fresh ``SM…``/``CA…`` sid, status "queued") so the code above it
runs unchanged. The durable record of outbound texts is the project's database; ``outbox`` here
only serves tests and debugging. ``fail_numbers`` lets a test make a given number fail with the
outcome it wants to exercise (opted out, invalid, transient).

Like Twilio, it then reports each text's progress (``queued``, ``sent``, ``delivered``) to the
text's status callback URL: a signed form POST over real HTTP, from a background thread, a
moment later. So the production webhook records deliveries in the simulator too. An
unreachable web server only costs a log line: the send itself has already succeeded.

A recording in the simulator is the text the caller typed in place of speech, kept in the
instance folder (``save_recording``); as audio it is a short tone, so an ``<audio>`` player works.
"""

from __future__ import annotations

import copy
import io
import logging
import math
import re
import secrets
import struct
import threading
import time
import wave
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import requests

from dispatch.telephony import Recording, Sent, TelephonyError, refuse_uncallable
from dispatch.telephony.urls import Urls

if TYPE_CHECKING:
    from dispatch.config import Settings

log = logging.getLogger(__name__)
DELIVERY_STATUSES = ("queued", "sent", "delivered")
SIMULATED_ACCOUNT_SID = "AC" + "0" * 32
RECORDING_SID = re.compile(r"^RE[0-9a-f]{32}$")


def _recordings_dir(settings: Settings) -> Path:
    return settings.instance_path / "simulator" / "recordings"


def save_recording(settings: Settings, sid: str, text: str) -> str:
    """Keep the typed text of a recording; return the RecordingUrl to give the service."""
    folder = _recordings_dir(settings)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{sid}.txt").write_text(text, encoding="utf-8")
    return Urls(settings.public_base_url).recording(sid)


def read_recording(settings: Settings, sid: str) -> str | None:
    """The typed text of a recording, or None when there is none by that sid."""
    if not RECORDING_SID.match(sid):
        return None
    path = _recordings_dir(settings) / f"{sid}.txt"
    return path.read_text(encoding="utf-8") if path.exists() else None


def tone_wav(seconds: float = 1.0, rate: int = 8000) -> bytes:
    """A soft 440 Hz tone: what an ``<audio>`` element plays for a simulated recording."""
    frames = b"".join(
        struct.pack("<h", int(3000 * math.sin(2 * math.pi * 440 * i / rate))) for i in range(int(seconds * rate))
    )
    out = io.BytesIO()
    with wave.open(out, "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(rate)
        wav.writeframes(frames)
    return out.getvalue()


@dataclass(frozen=True)
class SimulatedSend:
    """One text or call the simulator accepted."""

    kind: Literal["sms", "call"]
    to: str
    #: The text of an SMS; ``None`` for a call.
    body: str | None
    #: The TwiML URL of a call; ``None`` for an SMS.
    url: str | None
    status_callback: str
    sid: str
    at: datetime
    machine_detection: bool = False


def new_sid(prefix: str) -> str:
    """A sid shaped like Twilio's: two letters then 32 lowercase hex digits."""
    return prefix + secrets.token_hex(16)


class SimulatorTelephony:
    """In-memory telephony. Thread-safe: workers and the simulator page may share one instance."""

    def __init__(self, settings: Settings, *, callback_delay_s: float = 0.4, send_callbacks: bool = True):
        self.settings = settings
        #: Pause before each delivery status callback (the real network takes a moment too).
        self.callback_delay_s = callback_delay_s
        self.send_callbacks = send_callbacks
        self._lock = threading.Lock()
        #: Every accepted send, oldest first. Read it through :meth:`sent` for a stable copy.
        self.outbox: list[SimulatedSend] = []
        #: E.164 number → the exception a send to it raises (and nothing is recorded).
        self.fail_numbers: dict[str, TelephonyError] = {}

    def send_sms(self, to: str, body: str, status_callback: str) -> Sent:
        """Record one text and answer like Twilio; its status callbacks follow in the background."""
        sent = self._record(SimulatedSend("sms", to, body, None, status_callback, new_sid("SM"), _now()))
        if self.send_callbacks and status_callback:
            threading.Thread(
                target=self._report_delivery,
                args=(sent.sid, to, status_callback),
                name=f"sim-sms-status-{id(self)}",
                daemon=True,
            ).start()
        return sent

    def place_call(self, to: str, url: str, status_callback: str, *, machine_detection: bool = False) -> Sent:
        """Record one call and answer like Twilio (never to a premium-rate or foreign number)."""
        refuse_uncallable(to)
        send = SimulatedSend("call", to, None, url, status_callback, new_sid("CA"), _now(), machine_detection)
        return self._record(send)

    def fetch_recording(self, sid: str) -> Recording:
        if read_recording(self.settings, sid) is None:
            raise TelephonyError(f"no recording {sid}", status=404)
        return Recording(tone_wav(), "audio/wav")

    def delete_recording(self, sid: str) -> None:
        if RECORDING_SID.match(sid):
            (_recordings_dir(self.settings) / f"{sid}.txt").unlink(missing_ok=True)

    def sent(self, kind: Literal["sms", "call"] | None = None, to: str | None = None) -> list[SimulatedSend]:
        """A snapshot of the outbox, optionally only one kind or one recipient."""
        with self._lock:
            items = list(self.outbox)
        return [s for s in items if (kind is None or s.kind == kind) and (to is None or s.to == to)]

    def clear(self) -> None:
        """Forget every recorded send (between tests)."""
        with self._lock:
            self.outbox.clear()

    def _record(self, send: SimulatedSend) -> Sent:
        # A scripted failure behaves like a refused API call: nothing was accepted, so nothing
        # is recorded. A copy is raised so repeated failures do not pile tracebacks on one object.
        failure = self.fail_numbers.get(send.to)
        if failure is not None:
            raise copy.copy(failure)
        with self._lock:
            self.outbox.append(send)
        return Sent(sid=send.sid, status="queued")

    def _report_delivery(self, sid: str, to: str, url: str) -> None:
        """POST queued, sent then delivered to ``url``, signed like Twilio; give up quietly on errors."""
        from dispatch.telephony.twilio_adapter import sign_request  # Twilio's algorithm, from the SDK

        for status in DELIVERY_STATUSES:
            time.sleep(self.callback_delay_s)
            params = {
                "MessageSid": sid,
                "SmsSid": sid,
                "MessageStatus": status,
                "SmsStatus": status,
                "AccountSid": self.settings.twilio_account_sid or SIMULATED_ACCOUNT_SID,
                "From": self.settings.twilio_phone_number,
                "To": to,
                "ApiVersion": "2010-04-01",
            }
            headers = {"X-Twilio-Signature": sign_request(self.settings.twilio_auth_token, url, params)}
            try:
                response = requests.post(url, data=params, headers=headers, timeout=5)
            except requests.RequestException as err:
                log.info("simulator: status callback to %s not delivered (%s)", url, type(err).__name__)
                return
            if response.status_code >= 400:
                log.warning("simulator: status callback %s answered %s", url, response.status_code)
                return


def _now() -> datetime:
    return datetime.now(UTC)
