"""What follows when the provider refuses a text or a call for good (the outbox has recorded it
and hands the row over, in its transaction): ``dispatch.telephony.outbox.RefusalPolicy``."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from dispatch.config import Settings
from dispatch.effects import Effect
from dispatch.matching.waves import offer_failed
from dispatch.messaging.calls import call_finished
from dispatch.people import nurses
from dispatch.telephony import OptedOut, TelephonyError
from dispatch.timeline import record
from models import Call, CareRequest, Message, Nurse, Offer


@dataclass(frozen=True)
class Refusals:
    settings: Settings

    def text(self, session: Session, message: Message, err: TelephonyError, now: datetime) -> list[Effect]:
        """A nurse who opted out is marked so; an offer failed (the wave moves on without her);
        any other text's failure is in its request's timeline."""
        nurse = session.get(Nurse, message.nurse_id) if message.nurse_id else None
        if isinstance(err, OptedOut) and nurse is not None:
            nurses.opt_out(session, nurse, now, code=err.code)
        if message.offer_id:
            return offer_failed(session, session.get(Offer, message.offer_id), now, err.code, str(err))
        if message.request_id:
            request = session.get(CareRequest, message.request_id)
            record(session, request, "sms_failed", now, to=message.to_phone, code=err.code, message_kind=message.kind)
        return []

    def call(self, session: Session, call: Call, err: TelephonyError, now: datetime) -> list[Effect]:
        """Refused outright (an invalid number...): not retried, the SMS fallback and the flag."""
        return call_finished(session, call, "failed", now, settings=self.settings, refused=True)
