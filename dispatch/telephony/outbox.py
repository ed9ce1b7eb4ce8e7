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
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Protocol

from sqlalchemy import exists, or_, select, update
from sqlalchemy.orm import Session, joinedload
from sqlalchemy.orm.attributes import set_committed_value

from dispatch import texts
from dispatch.config import Settings
from dispatch.effects import Effect, PlaceCall, SendMessage
from dispatch.lifecycle import ACCEPTING, TAKEN_BY_A_NURSE, OfferStatus, nurse_notice_time
from dispatch.telephony import MaybeSent, Telephony, TelephonyError, TransientError
from dispatch.telephony.urls import Urls
from dispatch.timeline import record
from models import Call, CareRequest, Message, Nurse, Offer

log = logging.getLogger(__name__)
CLAIM_TIMEOUT = timedelta(seconds=120)


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
    at: datetime | None = None,
) -> SendMessage:
    """Write a text to send (not before ``at``); return the effect that sends it once the caller
    has committed."""
    recipient = (to, nurse.id if nurse else None, offer.id if offer else None)
    return queue_sms_many(session, [recipient], body, now, kind=kind, request=request, from_phone=from_phone, at=at)[0]


def queue_sms_many(
    session: Session,
    recipients: list[tuple[str, int | None, int | None]],
    body: str,
    now: datetime,
    *,
    kind: str = "notice",
    request: CareRequest | None = None,
    from_phone: str | None = None,
    at: datetime | None = None,
) -> list[SendMessage]:
    """The same text to several people (a wave's offers), written with one flush.

    ``recipients`` are (phone, nurse id or None, offer id or None). ``at``: not before then
    (``dispatch.lifecycle.send_time``: a notice waits for texting hours); None or past: now.
    """
    later = at if at is not None and at > now else None
    messages = [
        Message(
            direction="out",
            kind=kind,
            from_phone=from_phone,
            to_phone=to,
            body=body,
            status="queued",
            request_id=request.id if request else None,
            nurse_id=nurse_id,
            offer_id=offer_id,
            send_after=later or now,
            created_at=now,
        )
        for to, nurse_id, offer_id in recipients
    ]
    session.add_all(messages)
    session.flush()
    return [SendMessage(message.id, at=later) for message in messages]


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
    """Write a call to place (not before ``at``); return the effect that places it after commit."""
    later = at if at is not None and at > now else None
    call = Call(
        direction="out",
        purpose=purpose,
        to_phone=to,
        status="queued",
        attempt=attempt,
        request_id=request.id if request else None,
        send_after=later or now,
        created_at=now,
    )
    session.add(call)
    session.flush()
    return PlaceCall(call.id, at=later)


# A job may run this early for a row due later (clocks of the web and worker machines).
EARLY = timedelta(seconds=1)


def _claimable(model, now: datetime):
    """Queued and due, or claimed by a worker that died (its claim older than ``CLAIM_TIMEOUT``)."""
    return or_(
        (model.status == "queued") & or_(model.send_after.is_(None), model.send_after <= now + EARLY),
        (model.status.in_(("sending", "placing"))) & (model.claimed_at < now - CLAIM_TIMEOUT),
    )


def _claim(session: Session, model, row_ids: list[int], now: datetime, *also) -> list[int]:
    """Mark the rows still to send (and meeting ``also``) as in flight, ours; return their ids.

    One guarded UPDATE: two jobs never both get a row.
    """
    claimed = session.scalars(
        update(model)
        .where(model.id.in_(row_ids), _claimable(model, now), *also)
        .values(status="sending" if model is Message else "placing", claimed_at=now)
        .returning(model.id)
        .execution_options(synchronize_session=False)
    ).all()
    return sorted(claimed)


def _release(session: Session, model, row_ids: list[int]) -> None:
    """Hand claimed rows back to the outbox: the provider was unreachable, the job will retry."""
    with session.begin():
        session.execute(
            update(model)
            .where(model.id.in_(row_ids), model.status.in_(("sending", "placing")))
            .values(status="queued", claimed_at=None)
            .execution_options(synchronize_session=False)
        )


class RefusalPolicy(Protocol):
    """What the domain does when the provider refuses a text or a call for good: the outbox
    records the refusal and hands the row over, in the same transaction
    (``dispatch.messaging.refusals`` says what follows: an offer failed, a nurse opted out, the
    call's retries or its SMS)."""

    def text(self, session: Session, message: Message, err: TelephonyError, now: datetime) -> list[Effect]: ...

    def call(self, session: Session, call: Call, err: TelephonyError, now: datetime) -> list[Effect]: ...


@dataclass
class Delivery:
    """What sending a batch of texts left to do: jobs to enqueue, and the outage to retry after."""

    effects: list[Effect] = field(default_factory=list)
    transient: TransientError | None = None


def deliver_messages(
    session: Session,
    telephony: Telephony,
    urls: Urls,
    message_ids: list[int],
    now: datetime,
    *,
    settings: Settings,
    refusals: RefusalPolicy,
) -> Delivery:
    """Send queued texts in the order given (a wave's first offer first, an answer before the
    notices its text caused). Commits.

    One read loads them; then each text is claimed, checked, sent and its outcome committed in
    turn. "sending" means in flight: a worker killed mid-batch leaves that one text to send again
    after ``CLAIM_TIMEOUT``, and the texts after it queued for the sweeper. An offer answered, or
    whose request was taken or closed, before its text went out is never sent. When the provider
    is unreachable, the text goes back to the outbox and the outage is returned, for the caller
    to raise after enqueueing ``effects``: the job's retry sends it and the ones after it.
    """
    delivery = Delivery()
    reading = session.begin()  # the read and the first text's claim: one transaction, one COMMIT
    try:
        outgoing = _load(session, message_ids)
    except BaseException:
        reading.rollback()
        raise
    for text in outgoing:
        message = text.message
        with reading if reading is not None else session.begin():
            reading = None
            if not _claim(session, Message, [message.id], now, _OFFER_STILL_OPEN):
                _cancel_if_stale(session, message, now)
                continue
        try:
            sent = telephony.send_sms(message.to_phone, message.body, urls.sms_status(message.id))
        except MaybeSent as err:
            # Twilio may have it: it stays claimed, and its status callback settles it
            # (``dispatch.messaging.deliveries.record_status``); with none, the sweeper sends it again
            # once the claim is stale (``CLAIM_TIMEOUT``). Never twice at once.
            log.warning("outbox: text %s may have been sent: %s", message.id, err)
            delivery.transient = err
            return delivery
        except TransientError as err:
            _release(session, Message, [message.id])
            delivery.transient = err
            return delivery
        except TelephonyError as err:
            delivery.effects += _refused(session, message.id, err, now, refusals)
            continue
        delivery.effects += _record_sent(session, text, sent.sid, now, settings)
    if reading is not None:  # nothing to send
        reading.commit()
    return delivery


@dataclass(frozen=True)
class _Outgoing:
    """A text to send, with its offer (its request and nurse loaded) or the request it is about."""

    message: Message
    offer: Offer | None
    request: CareRequest | None


def _load(session: Session, message_ids: list[int]) -> list[_Outgoing]:
    """The texts in the order given, and what their outcome will be recorded on (three reads)."""
    found = {m.id: m for m in session.scalars(select(Message).where(Message.id.in_(message_ids)))}
    messages = [found[i] for i in dict.fromkeys(message_ids) if i in found]
    offers, requests = {}, {}
    if offer_ids := [m.offer_id for m in messages if m.offer_id]:
        query = select(Offer).where(Offer.id.in_(offer_ids)).options(joinedload(Offer.request), joinedload(Offer.nurse))
        offers = {o.id: o for o in session.scalars(query)}
    if request_ids := [m.request_id for m in messages if m.request_id and not m.offer_id]:
        requests = {r.id: r for r in session.scalars(select(CareRequest).where(CareRequest.id.in_(request_ids)))}
    return [_Outgoing(m, offers.get(m.offer_id), requests.get(m.request_id)) for m in messages]


# An offer's text goes out only while the offer is unanswered and its request takes a yes.
_OFFER_STILL_OPEN = or_(
    Message.offer_id.is_(None),
    exists()
    .where(Offer.id == Message.offer_id, Offer.status == OfferStatus.PENDING, CareRequest.id == Offer.request_id)
    .where(CareRequest.status.in_(ACCEPTING)),
)


def _cancel_if_stale(session: Session, message: Message, now: datetime) -> None:
    """A text its claim passed over: if it is an offer answered, taken or cancelled before it
    went out (and no other job has it), cancel it and withdraw the offer: never a stale offer."""
    stale = session.scalar(
        update(Message)
        .where(Message.id == message.id, Message.offer_id.is_not(None), _claimable(Message, now))
        .values(status="canceled")
        .returning(Message.offer_id)
        .execution_options(synchronize_session=False)
    )
    if stale is not None:
        session.execute(
            update(Offer)
            .where(Offer.id == stale, Offer.status == OfferStatus.PENDING)
            .values(status=OfferStatus.WITHDRAWN)
            .execution_options(synchronize_session="fetch")
        )


def _record_sent(session: Session, text: _Outgoing, sid: str, now: datetime, settings: Settings) -> list[Effect]:
    """The provider took the text: note it (:func:`note_sent`), in its own transaction."""
    with session.begin():
        return note_sent(session, text.message, text.offer, text.request, sid, now, settings)


def note_sent(
    session: Session,
    message: Message,
    offer: Offer | None,
    request: CareRequest | None,
    sid: str,
    now: datetime,
    settings: Settings,
) -> list[Effect]:
    """The provider took the text: note it, and the offer's move from ``pending`` to ``sent``.

    Once: the sender notes it from Twilio's answer, or, when that answer timed out, the text's
    first status callback does (whichever flips the message from ``sending``). The offer's move
    is guarded: a nurse's yes elsewhere may have closed it while its text was on its way (the
    acceptance withdraws offers still ``pending``, unseen). She then has an offer in hand for a
    request that is gone, so she is told, as if it had been ``sent``.
    """
    noted = session.execute(
        update(Message)
        .where(Message.id == message.id, Message.status == "sending")
        .values(sid=sid, status="sent", sent_at=now)
        .execution_options(synchronize_session=False)
    )
    if noted.rowcount != 1:
        return []  # noted already: the sender and the text's status callback both got here
    for name, value in (("sid", sid), ("status", "sent"), ("sent_at", now)):
        set_committed_value(message, name, value)
    if offer is None:
        if request is not None:
            record(session, request, "sms_sent", now, to=message.to_phone, message_kind=message.kind)
        return []
    record(session, offer.request, "offer_sent", now, nurse=offer.nurse, wave=offer.wave)
    moved = session.execute(
        update(Offer)
        .where(Offer.id == offer.id, Offer.status == OfferStatus.PENDING)
        .values(status=OfferStatus.SENT, sent_at=now)
        .execution_options(synchronize_session=False)
    )
    if moved.rowcount == 1:
        return []
    session.refresh(offer, ["status"])
    session.refresh(offer.request, ["status"])
    if offer.status != OfferStatus.WITHDRAWN:
        return []  # she already answered it
    if offer.request.status in TAKEN_BY_A_NURSE:
        offer.status, body = OfferStatus.TAKEN, texts.taken(settings.sio_name, offer.request.reference)
    else:
        body = texts.offer_cancelled(settings.sio_name, offer.request.reference)
    at = nurse_notice_time(settings, now)
    return [queue_sms(session, message.to_phone, body, now, request=offer.request, nurse=offer.nurse, at=at)]


def _refused(
    session: Session, message_id: int, err: TelephonyError, now: datetime, refusals: RefusalPolicy
) -> list[Effect]:
    """The provider refused the text for good: the row says so, and the domain reacts
    (``refusals.text``: a nurse opted out, an offer failed...), in one transaction."""
    log.warning("outbox: text %s refused: %s", message_id, err)
    with session.begin():
        message = session.get(Message, message_id)
        message.status, message.error_code = "failed", err.code
        return refusals.text(session, message, err, now)


def deliver_message(
    session: Session,
    telephony: Telephony,
    urls: Urls,
    message_id: int,
    now: datetime,
    *,
    settings: Settings,
    refusals: RefusalPolicy,
) -> list[Effect]:
    """Send one queued text (see :func:`deliver_messages`); raises TransientError to retry later."""
    delivery = deliver_messages(session, telephony, urls, [message_id], now, settings=settings, refusals=refusals)
    if delivery.transient is not None:
        raise delivery.transient
    return delivery.effects


def place_call(
    session: Session, telephony: Telephony, urls: Urls, call_id: int, now: datetime, *, refusals: RefusalPolicy
) -> list[Effect]:
    """Place one queued outbound call (TwiML and retries are the voice flow's: ``refusals.call``)."""
    with session.begin():
        call = session.get(Call, call_id)
        if call is None or (call.send_after and call.send_after > now + EARLY):
            return []
        if not _claim(session, Call, [call_id], now):
            return []
        call = session.get(Call, call_id)
        to = call.to_phone
    try:
        placed = telephony.place_call(to, urls.call_twiml(call_id), urls.call_status(call_id), machine_detection=True)
    except MaybeSent as err:
        # As for a text: it stays claimed; its status callbacks settle it (``call_progress``),
        # or the sweeper places it again once the claim is stale. Never two calls at once.
        log.warning("outbox: call %s may have been placed: %s", call_id, err)
        raise
    except TransientError:
        _release(session, Call, [call_id])
        raise
    except TelephonyError as err:
        with session.begin():
            call = session.get(Call, call_id)
            call.error_code = err.code
            return refusals.call(session, call, err, now)
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
                to=to,
            )
    return []
