"""Outbound texts and calls: written first, sent by a job, never lost, never sent twice.

A text is a ``Message`` row written ``queued`` in the same transaction as the
decision to send it (an offer, a notice, an alert). The job that sends it first
*claims* the row with a guarded update and commits, then calls the provider,
then records the answer. A claim older than ``CLAIM_TIMEOUT`` (a worker killed
mid-send) may be taken again; the sweeper re-enqueues queued rows left behind.
Calls follow the same rule.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import or_, update
from sqlalchemy.orm import Session

from dispatch.effects import Effect, PlaceCall, SendMessage
from dispatch.phones import mask
from dispatch.telephony import OptedOut, Telephony, TelephonyError, TransientError
from dispatch.timeline import record
from dispatch.vocab import ACCEPTING_STATUSES
from models import Call, CareRequest, Message, Nurse, Offer

log = logging.getLogger(__name__)
CLAIM_TIMEOUT = timedelta(seconds=120)


@dataclass(frozen=True)
class Urls:
    """Where the provider calls us back (built from PUBLIC_BASE_URL by the caller)."""

    public_base_url: str

    def sms_status(self, message_id: int) -> str:
        return f"{self.public_base_url}/webhooks/sms/status?m={message_id}"

    def call_twiml(self, call_id: int) -> str:
        return f"{self.public_base_url}/webhooks/voice/outbound/{call_id}"

    def call_status(self, call_id: int) -> str:
        return f"{self.public_base_url}/webhooks/voice/status?c={call_id}"


def queue_sms(
    session: Session,
    to: str,
    body: str,
    now: datetime,
    *,
    kind: str = "notice",
    request: CareRequest | None = None,
    nurse: Nurse | None = None,
    offer: Offer | None = None,
    from_phone: str | None = None,
) -> SendMessage:
    """Write a text to send; return the effect that sends it once the caller has committed."""
    return queue_sms_many(session, [(to, nurse, offer)], body, now, kind=kind, request=request, from_phone=from_phone)[
        0
    ]


def queue_sms_many(
    session: Session,
    recipients: list[tuple[str, Nurse | None, Offer | None]],
    body: str,
    now: datetime,
    *,
    kind: str = "notice",
    request: CareRequest | None = None,
    from_phone: str | None = None,
) -> list[SendMessage]:
    """The same text to several people (a wave's offers), written with one flush."""
    messages = [
        Message(
            direction="out",
            kind=kind,
            from_phone=from_phone,
            to_phone=to,
            body=body,
            status="queued",
            request_id=request.id if request else None,
            nurse_id=nurse.id if nurse else None,
            offer_id=offer.id if offer else None,
            send_after=now,
            created_at=now,
        )
        for to, nurse, offer in recipients
    ]
    session.add_all(messages)
    session.flush()
    return [SendMessage(message.id) for message in messages]


def queue_call(
    session: Session,
    to: str,
    purpose: str,
    now: datetime,
    *,
    request: CareRequest | None,
    attempt: int = 1,
    at: datetime | None = None,
) -> PlaceCall:
    call = Call(
        direction="out",
        purpose=purpose,
        to_phone=to,
        status="queued",
        attempt=attempt,
        request_id=request.id if request else None,
        send_after=at or now,
        created_at=now,
    )
    session.add(call)
    session.flush()
    return PlaceCall(call.id, at=at)


def _claim(session: Session, model, row_id: int, now: datetime) -> bool:
    result = session.execute(
        update(model)
        .where(
            model.id == row_id,
            or_(
                model.status == "queued",
                (model.status.in_(("sending", "placing"))) & (model.claimed_at < now - CLAIM_TIMEOUT),
            ),
        )
        .values(status="sending" if model is Message else "placing", claimed_at=now)
    )
    return result.rowcount == 1


def _release(session: Session, model, row_id: int) -> None:
    """Hand a claimed row back to the outbox: the provider was unreachable, the job will retry."""
    with session.begin():
        session.execute(update(model).where(model.id == row_id).values(status="queued", claimed_at=None))


def deliver_message(session: Session, telephony: Telephony, urls: Urls, message_id: int, now: datetime) -> list[Effect]:
    """Send one queued text. Commits. Raises TransientError (after putting it back) to retry later."""
    from dispatch.waves import offer_failed

    with session.begin():
        if not _claim(session, Message, message_id, now):
            return []
        message = session.get(Message, message_id)
        offer = session.get(Offer, message.offer_id) if message.offer_id else None
        if offer is not None and (offer.status != "pending" or offer.request.status not in ACCEPTING_STATUSES):
            # Taken, cancelled or already answered before it went out: never send a stale offer.
            message.status = "canceled"
            if offer.status == "pending":
                offer.status = "withdrawn"
            return []
        to, body = message.to_phone, message.body
    try:
        sent = telephony.send_sms(to, body, urls.sms_status(message_id))
    except TransientError:
        _release(session, Message, message_id)
        raise
    except TelephonyError as err:
        log.warning("outbox: text %s to %s refused: %s", message_id, mask(to), err)
        with session.begin():
            message = session.get(Message, message_id)
            message.status, message.error_code = "failed", err.code
            nurse = session.get(Nurse, message.nurse_id) if message.nurse_id else None
            if isinstance(err, OptedOut) and nurse is not None and nurse.opted_out_at is None:
                nurse.opted_out_at = now
                record(session, None, "nurse_opted_out", now, nurse=nurse, code=err.code)
            if message.offer_id:
                return offer_failed(session, session.get(Offer, message.offer_id), now, err.code, str(err))
            if message.request_id:
                record(
                    session,
                    session.get(CareRequest, message.request_id),
                    "sms_failed",
                    now,
                    to=mask(to),
                    code=err.code,
                    text=message.kind,
                )
            return []
    with session.begin():
        message = session.get(Message, message_id)
        message.sid, message.status, message.sent_at = sent.sid, "sent", now
        if message.offer_id:
            offer = session.get(Offer, message.offer_id)
            if offer.status == "pending":
                offer.status, offer.sent_at = "sent", now
            record(session, offer.request, "offer_sent", now, nurse=offer.nurse, wave=offer.wave)
        elif message.request_id:
            record(
                session,
                session.get(CareRequest, message.request_id),
                "sms_sent",
                now,
                to=mask(message.to_phone),
                text=message.kind,
            )
    return []


def place_call(
    session: Session, telephony: Telephony, urls: Urls, call_id: int, now: datetime, *, settings=None
) -> list[Effect]:
    """Place one queued outbound call (TwiML and retries are the voice flow's)."""
    with session.begin():
        call = session.get(Call, call_id)
        if call is None or (call.send_after and call.send_after > now + timedelta(seconds=1)):
            return []
        if not _claim(session, Call, call_id, now):
            return []
        call = session.get(Call, call_id)
        to = call.to_phone
    try:
        placed = telephony.place_call(to, urls.call_twiml(call_id), urls.call_status(call_id), machine_detection=True)
    except TransientError:
        _release(session, Call, call_id)
        raise
    except TelephonyError as err:
        from dispatch.calls import call_finished

        with session.begin():
            call = session.get(Call, call_id)
            call.error_code = err.code
            return call_finished(session, call, "failed", now, settings=settings, refused=True)
    with session.begin():
        call = session.get(Call, call_id)
        call.sid, call.status = placed.sid, "initiated"
        if call.request_id:
            record(
                session,
                session.get(CareRequest, call.request_id),
                "call_placed",
                now,
                purpose=call.purpose,
                attempt=call.attempt,
                to=mask(to),
            )
    return []
