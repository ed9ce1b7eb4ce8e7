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
from sqlalchemy.orm.attributes import set_committed_value

from dispatch import texts
from dispatch.config import Settings
from dispatch.effects import Effect, RunWave
from dispatch.grammar import NurseCommand
from dispatch.links import details_link
from dispatch.outbox import queue_call, queue_sms, queue_sms_many
from dispatch.phones import normalize_phone
from dispatch.timeline import nurse_actor, record
from dispatch.vocab import ACCEPTING_STATUSES
from dispatch.waves import check_wave_end, commune_name
from models import CareRequest, Nurse, Offer

AWAITING = ("pending", "sent", "delivered")
LATE_WINDOW = timedelta(days=2)
PAUSE_FOREVER = timedelta(days=3650)


@dataclass
class Outcome:
    """The answer to text back (None: say nothing) and the jobs to enqueue after commit."""

    reply: str | None
    effects: list[Effect] = field(default_factory=list)
    #: The registered nurse who sent the text, if a nurse did (set by ``dispatch.inbound``).
    nurse: Nurse | None = None


def _awaiting_offers(session: Session, nurse: Nurse) -> list[Offer]:
    return list(
        session.scalars(
            select(Offer)
            .join(CareRequest, CareRequest.id == Offer.request_id)
            .where(Offer.nurse_id == nurse.id, Offer.status.in_(AWAITING), CareRequest.status.in_(ACCEPTING_STATUSES))
            .order_by(Offer.id)
        )
    )


def _offer_for(session: Session, nurse: Nurse, reference: str) -> Offer | None:
    return session.scalar(
        select(Offer)
        .join(CareRequest, CareRequest.id == Offer.request_id)
        .where(Offer.nurse_id == nurse.id, CareRequest.reference == reference)
    )


def _target_offer(session: Session, settings: Settings, nurse: Nurse, command: NurseCommand, verb: str, now: datetime):
    """The offer a yes/no is about, or the Outcome to answer when it cannot be told."""
    name = settings.sio_name
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
    if recent is not None and recent.status == "taken" and verb == "OUI":
        record(session, recent.request, "late_yes", now, actor=nurse_actor(nurse), nurse=nurse)
        return Outcome(texts.late_yes(name, recent.request.reference))
    return Outcome(texts.no_pending_offer(name))


def accept(
    session: Session, settings: Settings, nurse: Nurse, offer: Offer, now: datetime, *, actor: str | None = None
) -> Outcome:
    """Her yes: the one guarded UPDATE decides whether she is first."""
    name, request = settings.sio_name, offer.request
    if request.accepted_nurse_id == nurse.id and request.status in ("accepted", "confirmed"):
        return Outcome(texts.accepted_details(*_details_args(session, settings, request, now)))
    taken = {
        "status": "accepted",
        "accepted_nurse_id": nurse.id,
        "accepted_at": now,
        "next_wave_at": None,
        "needs_attention": False,
        "attention_reason": None,
    }
    won = session.execute(
        update(CareRequest)
        .where(CareRequest.id == request.id, CareRequest.status.in_(ACCEPTING_STATUSES))
        .values(**taken)
        .execution_options(synchronize_session=False)
    )
    if won.rowcount != 1:
        if offer.status in AWAITING:
            offer.status, offer.answered_at = "taken", now
        record(session, request, "late_yes", now, actor=nurse_actor(nurse), nurse=nurse)
        return Outcome(texts.late_yes(name, request.reference))
    for key, value in taken.items():  # the UPDATE wrote them: tell the ORM without reading the row again
        set_committed_value(request, key, value)
    offer.status, offer.answered_at = "accepted", now
    record(session, request, "accepted", now, actor=actor or nurse_actor(nurse), nurse=nurse)
    effects = close_other_offers(session, settings, request, now, texts.taken, keep=offer)
    if request.callback_phone:
        effects.append(queue_call(session, request.callback_phone, "confirm", now, request=request))
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
    new_status: str = "taken",
) -> list[Effect]:
    """Close every other offer still awaiting an answer; those whose text went out get ``text``.

    Two guarded UPDATEs, the unsent offers first: an offer whose text the outbox marks sent
    at this very moment is then either withdrawn here (and the outbox, finding it withdrawn,
    tells her: ``dispatch.outbox._record_sent``) or closed by the second one, which tells her.
    """
    others = [Offer.request_id == request.id]
    if keep is not None:
        others.append(Offer.id != keep.id)
    fetch = {"synchronize_session": "fetch"}
    session.execute(
        update(Offer).where(*others, Offer.status == "pending").values(status="withdrawn").execution_options(**fetch)
    )
    told = (
        session.execute(
            update(Offer)
            .where(*others, Offer.status.in_(("sent", "delivered")))
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
    return list(queue_sms_many(session, recipients, body, now, kind="notice", request=request))


def decline(session: Session, settings: Settings, nurse: Nurse, offer: Offer, now: datetime) -> Outcome:
    request = offer.request
    if offer.status not in AWAITING:
        if offer.status == "accepted":
            return Outcome(texts.which_reference(settings.sio_name, [request.reference], "DESISTE"))
        return Outcome(texts.declined_ack(settings.sio_name, request.reference))
    offer.status, offer.answered_at = "declined", now
    record(session, request, "declined", now, actor=nurse_actor(nurse), nurse=nurse)
    return Outcome(texts.declined_ack(settings.sio_name, request.reference), check_wave_end(session, request, now))


def withdraw(session: Session, settings: Settings, nurse: Nurse, reference: str | None, now: datetime) -> Outcome:
    """DESISTE: she gives back a request she had accepted; it reopens without her."""
    query = select(CareRequest).where(
        CareRequest.accepted_nurse_id == nurse.id, CareRequest.status.in_(("accepted", "confirmed"))
    )
    if reference:
        query = query.where(CareRequest.reference == reference)
    requests = list(session.scalars(query.order_by(CareRequest.id)))
    if not requests:
        return Outcome(texts.withdraw_nothing(settings.sio_name))
    if len(requests) > 1:
        return Outcome(texts.which_reference(settings.sio_name, [r.reference for r in requests], "DESISTE"))
    request = requests[0]
    moved = session.execute(
        update(CareRequest)
        .where(
            CareRequest.id == request.id,
            CareRequest.status.in_(("accepted", "confirmed")),
            CareRequest.accepted_nurse_id == nurse.id,
        )
        .values(status="open", accepted_nurse_id=None, accepted_at=None, confirmed_at=None, next_wave_at=now)
        .execution_options(synchronize_session=False)
    )
    if moved.rowcount != 1:
        return Outcome(texts.withdraw_nothing(settings.sio_name))
    session.refresh(request)
    offer = _offer_for(session, nurse, request.reference)
    if offer is not None:
        offer.status, offer.answered_at = "declined", now  # never offered this request again
    record(session, request, "withdrawn", now, actor=nurse_actor(nurse), nurse=nurse)
    effects: list[Effect] = [RunWave(request.id, request.wave)]
    if request.callback_phone:
        phone = normalize_phone(request.callback_phone)
        if phone.is_mobile:
            effects.append(
                queue_sms(
                    session,
                    phone.e164,
                    texts.requester_nurse_withdrew(settings.sio_name, request.reference),
                    now,
                    kind="notice",
                    request=request,
                )
            )
        else:
            effects.append(queue_call(session, phone.e164, "withdrawn", now, request=request))
    return Outcome(texts.withdraw_ack(settings.sio_name, request.reference), effects)


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
        return (accept if command.kind == "accept" else decline)(session, settings, nurse, target, now)
    if command.kind == "withdraw":
        return withdraw(session, settings, nurse, command.reference, now)
    if command.kind == "pause":
        nurse.paused_until = now + (timedelta(days=command.days) if command.days else PAUSE_FOREVER)
        record(session, None, "nurse_paused", now, actor=nurse_actor(nurse), nurse=nurse, days=command.days)
        return Outcome(texts.pause_ack(name, command.days))
    if command.kind == "resume":
        nurse.paused_until = None
        record(session, None, "nurse_resumed", now, actor=nurse_actor(nurse), nurse=nurse)
        return Outcome(texts.resume_ack(name))
    if command.kind == "stop":
        return opt_out(session, settings, nurse, now)
    if command.kind == "start":
        nurse.opted_out_at = None
        record(session, None, "nurse_opted_in", now, actor=nurse_actor(nurse), nurse=nurse)
        return Outcome(texts.opted_in_ack(name))
    if command.kind == "help":
        return Outcome(texts.help(name))
    return Outcome(texts.unknown_reply(name, [o.request.reference for o in _awaiting_offers(session, nurse)]))


def opt_out(session: Session, settings: Settings, nurse: Nurse, now: datetime) -> Outcome:
    """STOP/ARRET: never texted again; her open offers count as declined so waves move on."""
    if nurse.opted_out_at is None:
        nurse.opted_out_at = now
    record(session, None, "nurse_opted_out", now, actor=nurse_actor(nurse), nurse=nurse)
    effects: list[Effect] = []
    for offer in _awaiting_offers(session, nurse):
        offer.status, offer.answered_at = "declined", now
        record(session, offer.request, "declined", now, actor=nurse_actor(nurse), nurse=nurse, reason="opt-out")
        effects.extend(check_wave_end(session, offer.request, now))
    return Outcome(texts.opted_out_ack(settings.sio_name), effects)
