"""An incoming SMS: a nurse's reply, a requester's request or cancellation, or help."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from dispatch import geo, texts
from dispatch.config import Settings
from dispatch.grammar import parse_nurse_reply
from dispatch.phones import callback_problem
from dispatch.replies import Outcome, handle_nurse_reply
from dispatch.requests import NewRequest, cancel_request, create_request
from dispatch.sms_intake import parse_requester_sms, resolve_start
from dispatch.waves import commune_name
from models import CareRequest, Nurse, Requester, RequesterPhone


def handle_sms(session: Session, settings: Settings, sender: str | None, body: str, now: datetime) -> Outcome:
    """Route one text by its sender (E.164, or None when the number could not be read)."""
    name = settings.sio_name
    if sender is None:
        return Outcome(texts.unknown_sender_help(name))
    nurse = session.scalar(select(Nurse).where(Nurse.phone == sender))
    if nurse is not None:
        outcome = handle_nurse_reply(session, settings, nurse, parse_nurse_reply(body), now)
        outcome.nurse = nurse
        return outcome
    now_local = now.astimezone(settings.timezone)
    sms = parse_requester_sms(body, now_local, lambda code: geo.is_known_postcode(session, code))
    requester = session.scalar(
        select(Requester)
        .join(RequesterPhone, RequesterPhone.requester_id == Requester.id)
        .where(RequesterPhone.phone == sender)
    )
    if sms.kind == "cancel":
        return _cancel(session, settings, sender, requester, sms.reference, now)
    if sms.kind != "request":
        return Outcome(texts.requester_usage(name))
    if callback_problem(sender):  # the service would call it back: never a foreign or premium number
        return Outcome(texts.requester_uncallable(name))
    start_local, has_time = resolve_start(sms, now_local)
    request, effects = create_request(
        session,
        settings,
        NewRequest(
            channel="sms",
            care_type=sms.care_type,
            postcode=sms.postcode,
            callback_phone=sender,
            usual_nurse_phone=sms.usual_nurse_phone,
            notes=body[:1000],
            requester=requester,
            start_at=start_local,
            has_start_time=has_time,
        ),
        now,
    )
    reply = texts.requester_ack(
        name, request.reference, commune_name(session, request), request.care_type, start_local, has_time, now_local
    )
    return Outcome(reply, effects)


def _cancel(
    session: Session, settings: Settings, sender: str, requester: Requester | None, reference: str | None, now: datetime
) -> Outcome:
    """ANNULER <ref>: only a request taken from this number (or this requester's numbers)."""
    query = select(CareRequest).where(CareRequest.reference == (reference or ""))
    owners = [CareRequest.callback_phone == sender]
    if requester is not None:
        owners.append(CareRequest.requester_id == requester.id)
    request = session.scalar(query.where(or_(*owners)))
    if request is None:
        return Outcome(texts.requester_cancel_unknown(settings.sio_name, reference or ""))
    effects = cancel_request(session, settings, request, now, actor=requester.name if requester else "demandeur (SMS)")
    if effects is None:  # already cancelled (a repeated ANNULER) or long closed
        return Outcome(texts.requester_cancel_unknown(settings.sio_name, request.reference))
    return Outcome(texts.requester_cancelled(settings.sio_name, request.reference), effects)
