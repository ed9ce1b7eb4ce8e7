"""Simulator adapter of the telephony port: no network, every send kept in memory (DESIGN §8).

It answers like Twilio would (a fresh ``SM…``/``CA…`` sid, status "queued") so the code above it
runs unchanged. The durable record of outbound texts is the project's database; ``outbox`` here
only serves tests and debugging. ``fail_numbers`` lets a test make a given number fail with the
outcome it wants to exercise (opted out, invalid, transient).
"""

from __future__ import annotations

import copy
import secrets
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Literal

from dispatch.telephony import Sent, TelephonyError

if TYPE_CHECKING:
    from dispatch.config import Settings


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

    def __init__(self, settings: Settings):
        self.settings = settings
        self._lock = threading.Lock()
        #: Every accepted send, oldest first. Read it through :meth:`sent` for a stable copy.
        self.outbox: list[SimulatedSend] = []
        #: E.164 number → the exception a send to it raises (and nothing is recorded).
        self.fail_numbers: dict[str, TelephonyError] = {}

    def send_sms(self, to: str, body: str, status_callback: str) -> Sent:
        """Record one text and answer like Twilio."""
        return self._record(SimulatedSend("sms", to, body, None, status_callback, new_sid("SM"), _now()))

    def place_call(self, to: str, url: str, status_callback: str, *, machine_detection: bool = False) -> Sent:
        """Record one call and answer like Twilio."""
        send = SimulatedSend("call", to, None, url, status_callback, new_sid("CA"), _now(), machine_detection)
        return self._record(send)

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


def _now() -> datetime:
    return datetime.now(UTC)
