"""What the service does with a nurse's SMS (DESIGN §6 "Nurse replies").

``handle_nurse_reply`` takes the parsed command and returns the text to answer
her with, plus the jobs to enqueue after commit. The first yes wins through one
guarded UPDATE; everyone else still awaiting is told the request is taken.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import null, select, update
from sqlalchemy.orm import Session

from dispatch import lifecycle, texts
from dispatch.config import Settings
from dispatch.effects import Effect
from dispatch.lifecycle import ACCEPTING, AWAITING, TAKEN_BY_A_NURSE, OfferStatus, RequestStatus, transition
from dispatch.matching.answer_stats import recount
from dispatch.matching.waves import check_wave_end, commune_name, lock_request, new_round
from dispatch.messaging.grammar import NurseCommand
from dispatch.messaging.links import details_link
from dispatch.people import nurses
from dispatch.people.space_access import PROFILE, issue_link
from dispatch.phones import normalize_phone
from dispatch.telephony.outbox import queue_call, queue_sms, queue_sms_many
from dispatch.timeline import nurse_actor, record
from models import CareRequest, Nurse, Offer

LATE_WINDOW = timedelta(days=2)


@dataclass
class Outcome:
    """The answer to text back (None: say nothing) and the jobs to enqueue after commit."""

    reply: str | None
    effects: list[Effect] = field(default_factory=list)
    #: The registered nurse who sent the text, if a nurse did (set by ``dispatch.intake.texts_in``).
    nurse: Nurse | None = None
    #: The request the text was about, when known: the text and its answer go in its history.
    request: CareRequest | None = None
    #: No command matched: the text also goes to the coordinators (``dispatch.messaging.to_read``).
    to_read: bool = False


def _awaiting_offers(session: Session, nurse: Nurse) -> list[Offer]:
    return list(
        session.scalars(
            select(Offer)
            .join(CareRequest, CareRequest.id == Offer.request_id)
            .where(Offer.nurse_id == nurse.id, Offer.status.in_(AWAITING), CareRequest.status.in_(ACCEPTING))
            .order_by(Offer.id)
        )
    )


def _offer_for(session: Session, nurse: Nurse, reference: str) -> Offer | None:
    """Her offer of that request (of its latest round she was asked in)."""
    return session.scalar(
        select(Offer)
        .join(CareRequest, CareRequest.id == Offer.request_id)
        .where(Offer.nurse_id == nurse.id, CareRequest.reference == reference)
        .order_by(Offer.id.desc())
        .limit(1)
    )


def _target_offer(session: Session, settings: Settings, nurse: Nurse, command: NurseCommand, verb: str, now: datetime):
    """The offer a yes/no is about, or the Outcome to answer when it cannot be told."""
    name = settings.sio_name
    if command.bad_reference:
        return Outcome(texts.unknown_reference(name, command.bad_reference))
    if command.reference:
        offer = _offer_for(session, nurse, command.reference)
        return offer if offer else Outcome(texts.unknown_reference(name, command.reference))
    awaiting = _awaiting_offers(session, nurse)
    if len(awaiting) == 1:
        return awaiting[0]
    if len(awaiting) > 1:
        return Outcome(texts.which_reference(name, [o.request.reference for o in awaiting], verb))
    recent = session.scalar(
        select(Offer)
        .where(Offer.nurse_id == nurse.id, Offer.created_at >= now - LATE_WINDOW)
        .order_by(Offer.id.desc())
        .limit(1)
    )
    closed_unanswered = (OfferStatus.TAKEN, OfferStatus.WITHDRAWN)
    if recent is not None and verb == "OUI" and recent.status in closed_unanswered and recent.sent_at is not None:
        # Her last offer, closed before she answered: a yes to it still counts if the request
        # takes one (reopened after a withdrawal, relaunched); else she hears why not.
        return recent
    return Outcome(texts.no_pending_offer(name))


def accept(
    session: Session,
    settings: Settings,
    nurse: Nurse,
    offer: Offer,
    now: datetime,
    *,
    actor: str | None = None,
    sources: tuple[RequestStatus, ...] = ACCEPTING,
    note: str | None = None,
) -> Outcome:
    """Her yes: the one guarded UPDATE decides whether she is first. ``sources``: the statuses it
    may be taken from (a coordinator's hand also takes a request in review)."""
    name, request = settings.sio_name, offer.request
    if request.accepted_nurse_id == nurse.id and request.status in TAKEN_BY_A_NURSE:
        return Outcome(texts.accepted_details(*_details_args(session, settings, request, now)))
    taken = {
        "accepted_nurse_id": nurse.id,
        "accepted_at": now,
        "next_wave_at": None,
        "needs_attention": False,
        "attention_reason": None,
    }
    if not transition(
        session,
        request,
        "accepted",
        now,
        sources=sources,
        values=taken,
        actor=actor or nurse_actor(nurse),
        nurse=nurse,
        note=note,
    ):
        session.refresh(request, ["status"])
        if offer.status in AWAITING:
            offer.status, offer.answered_at = OfferStatus.TAKEN, now
            recount(session, settings, offer, now)
        record(session, request, "late_yes", now, actor=nurse_actor(nurse), nurse=nurse)
        if request.status == RequestStatus.CANCELLED:
            return Outcome(texts.offer_cancelled(name, request.reference))
        return Outcome(texts.late_yes(name, request.reference))
    offer.status, offer.answered_at = OfferStatus.ACCEPTED, now
    recount(session, settings, offer, now)
    effects = close_other_offers(session, settings, request, now, texts.taken, keep=offer)
    if request.callback_phone:
        at = lifecycle.send_time(settings, request, now)
        effects.append(queue_call(session, request.callback_phone, "confirm", now, request=request, at=at))
    return Outcome(texts.accepted_details(*_details_args(session, settings, request, now)), effects)


def _details_args(session: Session, settings: Settings, request: CareRequest, now: datetime) -> tuple:
    requester = request.requester.name if request.requester else ""
    phone = normalize_phone(request.callback_phone).national if request.callback_phone else "-"
    link = details_link(settings, request.reference, now, request.accepted_nurse_id)
    return (
        settings.sio_name,
        request.reference,
        commune_name(session, request),
        request.care_type,
        requester,
        phone,
        link,
    )


def close_other_offers(
    session: Session,
    settings: Settings,
    request: CareRequest,
    now: datetime,
    text,
    *,
    keep: Offer | None = None,
    new_status: OfferStatus = OfferStatus.TAKEN,
) -> list[Effect]:
    """Close every other offer still awaiting an answer; those whose text went out get ``text``
    (within texting hours: :func:`dispatch.lifecycle.nurse_notice_time`).

    Two guarded UPDATEs, the unsent offers first: an offer whose text the outbox marks sent
    at this very moment is then either withdrawn here (and the outbox, finding it withdrawn,
    tells her: ``dispatch.telephony.outbox._record_sent``) or closed by the second one, which tells her.
    """
    others = [Offer.request_id == request.id]
    if keep is not None:
        others.append(Offer.id != keep.id)
    fetch = {"synchronize_session": "fetch"}
    session.execute(
        update(Offer)
        .where(*others, Offer.status == OfferStatus.PENDING)
        .values(status=OfferStatus.WITHDRAWN)
        .execution_options(**fetch)
    )
    told = (
        session.execute(
            update(Offer)
            .where(*others, Offer.status.in_((OfferStatus.SENT, OfferStatus.DELIVERED)))
            .values(status=new_status)
            .returning(Offer.nurse_id)
            .execution_options(**fetch)
        )
        .scalars()
        .all()
    )
    if not told:
        return []
    recipients = [
        tuple(row) for row in session.execute(select(Nurse.phone, Nurse.id, null()).where(Nurse.id.in_(told)))
    ]
    body = text(settings.sio_name, request.reference)
    at = lifecycle.nurse_notice_time(settings, now)
    return list(queue_sms_many(session, recipients, body, now, kind="notice", request=request, at=at))


def decline(session: Session, settings: Settings, nurse: Nurse, offer: Offer, now: datetime) -> Outcome:
    request = offer.request
    if offer.status not in AWAITING:
        if offer.status == OfferStatus.ACCEPTED:
            return Outcome(texts.which_reference(settings.sio_name, [request.reference], "DESISTE"))
        return Outcome(texts.declined_ack(settings.sio_name, request.reference))
    offer.status, offer.answered_at = OfferStatus.DECLINED, now
    recount(session, settings, offer, now)
    record(session, request, "declined", now, actor=nurse_actor(nurse), nurse=nurse)
    return Outcome(texts.declined_ack(settings.sio_name, request.reference), check_wave_end(session, request, now))


def withdraw(session: Session, settings: Settings, nurse: Nurse, reference: str | None, now: datetime) -> Outcome:
    """DESISTE: she gives back a request she had accepted. It reopens for a new round without
    her (nurses who never answered may be asked again), and the requester is told."""
    query = select(CareRequest.id).where(
        CareRequest.accepted_nurse_id == nurse.id, CareRequest.status.in_(TAKEN_BY_A_NURSE)
    )
    if reference:
        query = query.where(CareRequest.reference == reference)
    found = list(session.scalars(query.order_by(CareRequest.id)))
    if not found:
        return Outcome(texts.withdraw_nothing(settings.sio_name))
    if len(found) > 1:
        references = session.scalars(select(CareRequest.reference).where(CareRequest.id.in_(found)))
        return Outcome(texts.which_reference(settings.sio_name, sorted(references), "DESISTE"))
    request = lock_request(session, found[0])
    if request is None or request.accepted_nurse_id != nurse.id or request.status not in TAKEN_BY_A_NURSE:
        return Outcome(texts.withdraw_nothing(settings.sio_name))
    offer = _offer_for(session, nurse, request.reference)
    if offer is not None:
        offer.status, offer.answered_at = OfferStatus.DECLINED, now  # never offered this request again
        recount(session, settings, offer, now)
    effects = new_round(
        session,
        settings,
        request,
        "withdrawn",
        now,
        values={"accepted_nurse_id": None, "accepted_at": None, "confirmed_at": None},
        actor=nurse_actor(nurse),
        nurse=nurse,
    )
    if effects is None:
        return Outcome(texts.withdraw_nothing(settings.sio_name))
    if request.callback_phone:
        phone, at = normalize_phone(request.callback_phone), lifecycle.send_time(settings, request, now)
        if phone.is_mobile:
            body = texts.requester_nurse_withdrew(settings.sio_name, request.reference)
            effects.append(queue_sms(session, phone.e164, body, now, kind="notice", request=request, at=at))
        else:
            effects.append(queue_call(session, phone.e164, "withdrawn", now, request=request, at=at))
    return Outcome(texts.withdraw_ack(settings.sio_name, request.reference), effects, request=request)


def handle_nurse_reply(
    session: Session, settings: Settings, nurse: Nurse, command: NurseCommand, now: datetime
) -> Outcome:
    """Apply one parsed reply. The caller holds the transaction and commits."""
    name = settings.sio_name
    if command.kind in ("accept", "decline"):
        verb = "OUI" if command.kind == "accept" else "NON"
        target = _target_offer(session, settings, nurse, command, verb, now)
        if isinstance(target, Outcome):
            return target
        outcome = (accept if command.kind == "accept" else decline)(session, settings, nurse, target, now)
        outcome.request = target.request
        return outcome
    if command.kind == "withdraw":
        return withdraw(session, settings, nurse, command.reference, now)
    if command.kind == "pause":
        nurses.pause(session, nurse, now, actor=nurse_actor(nurse), days=command.days)
        return Outcome(texts.pause_ack(name, command.days))
    if command.kind == "resume":
        nurses.resume(session, nurse, now, actor=nurse_actor(nurse))
        return Outcome(texts.resume_ack(name))
    if command.kind == "stop":
        return opt_out(session, settings, nurse, now)
    if command.kind == "start":
        nurses.opt_in(session, nurse, now, actor=nurse_actor(nurse))
        return Outcome(texts.opted_in_ack(name))
    if command.kind == "help":
        return Outcome(texts.help(name))
    if command.kind == "profile":
        return Outcome(texts.profile_link(name, issue_link(session, settings, PROFILE, nurse.phone, now, nurse=nurse)))
    if command.kind == "register":
        return Outcome(texts.registration_already_nurse(name))
    references = [o.request.reference for o in _awaiting_offers(session, nurse)]
    return Outcome(texts.unknown_reply(name, references), to_read=True)


def opt_out(session: Session, settings: Settings, nurse: Nurse, now: datetime) -> Outcome:
    """STOP/ARRET: never texted again; her open offers count as declined so waves move on."""
    nurses.opt_out(session, nurse, now, actor=nurse_actor(nurse))
    effects: list[Effect] = []
    for offer in _awaiting_offers(session, nurse):
        offer.status, offer.answered_at = OfferStatus.DECLINED, now
        recount(session, settings, offer, now)
        record(session, offer.request, "declined", now, actor=nurse_actor(nurse), nurse=nurse, reason="opt-out")
        effects.extend(check_wave_end(session, offer.request, now))
    return Outcome(texts.opted_out_ack(settings.sio_name), effects)
