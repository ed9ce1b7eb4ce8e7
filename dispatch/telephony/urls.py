"""The one map of the URLs this service hands out: to Twilio (status callbacks, the TwiML of a
call, the phone menu's actions), to a nurse (her link to a request's details) and in the
simulator (recordings). The blueprints serve them (``webhooks``, ``status``);
``tests/integration/test_routes.py`` checks that every path here is a route of the app.
"""

from __future__ import annotations

from dataclasses import dataclass

SMS_WEBHOOK = "/webhooks/sms"
SMS_STATUS = "/webhooks/sms/status"
VOICE_WEBHOOK = "/webhooks/voice"
CALL_STATUS = "/webhooks/voice/status"
DETAILS = "/r/"
SIMULATOR_RECORDINGS = "/simulator/recordings/"


def ivr_step(step: str) -> str:
    """Where the answer to a phone menu step is posted."""
    return f"/webhooks/voice/ivr/{step}"


def outbound(call_id: int) -> str:
    """The TwiML of an outbound call (also the action of its "tapez 1 pour réécouter")."""
    return f"/webhooks/voice/outbound/{call_id}"


@dataclass(frozen=True)
class Urls:
    """Where the provider calls us back (built from PUBLIC_BASE_URL by the caller)."""

    public_base_url: str

    def sms_status(self, message_id: int) -> str:
        return f"{self.public_base_url}{SMS_STATUS}?m={message_id}"

    def call_twiml(self, call_id: int) -> str:
        return f"{self.public_base_url}{outbound(call_id)}"

    def call_status(self, call_id: int) -> str:
        return f"{self.public_base_url}{CALL_STATUS}?c={call_id}"

    def details(self, token: str) -> str:
        """A nurse's link to a request's details (``dispatch.messaging.links``)."""
        return f"{self.public_base_url}{DETAILS}{token}"

    def recording(self, sid: str) -> str:
        """A simulated caller's recording (``dispatch.telephony.simulator``)."""
        return f"{self.public_base_url}{SIMULATOR_RECORDINGS}{sid}"
