"""A text to the single number: a nurse's reply, a requester's request or cancellation, or help;
and the row that keeps it (the timeline, the simulator)."""

from __future__ import annotations

import re
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from dispatch import geo, texts
from dispatch.config import Settings
from dispatch.intake.sms import parse_requester_sms, resolve_start
from dispatch.matching.waves import commune_name
from dispatch.messaging.grammar import parse_nurse_reply
from dispatch.messaging.replies import Outcome, handle_nurse_reply
from dispatch.people.registration import registration_link
from dispatch.phones import callback_problem, normalize_phone
from dispatch.requests.actions import cancel_request
from dispatch.requests.create import NewRequest, create_request, owned_request
from dispatch.starts import start_error
from dispatch.timeline import record
from models import CareRequest, Message, Nurse, Requester, RequesterPhone


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
    if (words := _space_words(body)) is not None:
        return _unknown_mobile_space(session, settings, sender, words, now)
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
        return Outcome(texts.requester_usage(name), to_read=True)
    if callback_problem(sender):  # the service would call it back: never a foreign or premium number
        return Outcome(texts.requester_uncallable(name))
    start_local, has_time = resolve_start(sms, now_local)
    problem = start_error(start_local, now_local) if start_local is not None else None
    if problem:
        return Outcome(texts.requester_bad_date(name, start_local, problem))
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
    return Outcome(reply, effects, request=request)


def _space_words(body: str) -> str | None:
    """``profile`` or ``register`` when the text is only that word (a greeting aside): a request
    that starts with one of them (``inscription 42400 ...``) stays a request."""
    command = parse_nurse_reply(body)
    if command.kind not in ("profile", "register") or re.search(r"\d", body or ""):
        return None
    return command.kind


def _unknown_mobile_space(session: Session, settings: Settings, sender: str, kind: str, now: datetime) -> Outcome:
    """INSCRIPTION (or PROFIL) from a number that is no nurse's."""
    name = settings.sio_name
    if kind == "profile":
        return Outcome(texts.profile_unknown(name))
    if not normalize_phone(sender).is_mobile:
        return Outcome(texts.registration_not_mobile(name))
    return Outcome(registration_link(session, settings, sender, now))


def _cancel(
    session: Session, settings: Settings, sender: str, requester: Requester | None, reference: str | None, now: datetime
) -> Outcome:
    """ANNULER <ref>: only a request taken from this number (or this requester's numbers)."""
    request = owned_request(session, reference or "", sender, requester.id if requester else None)
    if request is None:
        return Outcome(texts.requester_cancel_unknown(settings.sio_name, reference or ""))
    effects = cancel_request(session, settings, request, now, actor=requester.name if requester else "demandeur (SMS)")
    if effects is None:  # already cancelled (a repeated ANNULER) or long closed
        return Outcome(texts.requester_cancel_unknown(settings.sio_name, request.reference))
    return Outcome(texts.requester_cancelled(settings.sio_name, request.reference), effects, request=request)


def record_inbound(
    session: Session,
    sid: str,
    sender: str | None,
    to: str,
    body: str,
    now: datetime,
    *,
    nurse: Nurse | None = None,
    request: CareRequest | None = None,
) -> Message:
    """Keep the incoming text in the messages table (timeline, simulator).

    ``nurse``: the registered nurse who sent it, when a nurse did; ``request``: the request it
    was about, when known (its history shows the texts linked to it, nothing else).
    """
    message = Message(
        sid=sid or None,
        direction="in",
        kind="inbound",
        from_phone=sender,
        to_phone=to,
        body=body,
        status="received",
        nurse_id=nurse.id if nurse else None,
        request_id=request.id if request else None,
        created_at=now,
    )
    session.add(message)
    if nurse is not None:
        record(session, None, "sms_in", now, actor=f"infirmière {nurse.name}", nurse=nurse, body=body[:160])
    return message
