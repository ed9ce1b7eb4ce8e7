"""Taking in, cancelling and steering care requests (API, SMS, IVR and coordinators share these)."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from dispatch import geo, lifecycle, texts
from dispatch.config import Settings
from dispatch.effects import Effect
from dispatch.lifecycle import ACCEPTING, AWAITING, OfferStatus, RequestStatus, transition
from dispatch.matching.waves import lock_request, new_round, start_dispatch
from dispatch.messaging.replies import Outcome, accept, close_other_offers
from dispatch.phones import mask
from dispatch.telephony.outbox import queue_sms
from dispatch.timeline import record
from dispatch.vocab import CARE_TYPES, REFERENCE_LENGTH
from models import CareRequest, Nurse, Offer, Requester


@dataclass
class NewRequest:
    """A request as validated by whichever channel took it (all phones already E.164)."""

    channel: str
    care_type: str
    postcode: str | None = None
    insee: str | None = None
    start_at: datetime | None = None
    has_start_time: bool = False
    urgent: bool = False
    callback_phone: str | None = None
    usual_nurse_phone: str | None = None
    notes: str | None = None
    recording_url: str | None = None
    requester: Requester | None = None
    review_reason: str | None = None  # set: the request waits for a coordinator instead of dispatching
    extra: dict = field(default_factory=dict)


def new_reference(session: Session) -> str:
    """A random 6-digit reference not used yet (the unique constraint is the last guard)."""
    while True:
        reference = str(100000 + secrets.randbelow(900000))
        if session.scalar(select(CareRequest.id).where(CareRequest.reference == reference)) is None:
            return reference


def create_request(
    session: Session, settings: Settings, new: NewRequest, now: datetime, *, actor: str | None = None
) -> tuple[CareRequest, list[Effect]]:
    """Write the request and its first events, then start dispatching (or flag it for review)."""
    if new.care_type not in CARE_TYPES:
        raise ValueError(f"unknown care type {new.care_type!r}")
    postcode = new.postcode
    if new.insee and not postcode:
        codes = geo.postcodes_of(session, new.insee)
        postcode = codes[0] if codes else None
    if postcode and not new.insee:
        communes = geo.communes_for_postcode(session, postcode)
        insee = communes[0].insee if len(communes) == 1 else None
    else:
        insee = new.insee
    usual = session.scalar(select(Nurse).where(Nurse.phone == new.usual_nurse_phone)) if new.usual_nurse_phone else None
    request = CareRequest(
        reference=new_reference(session),
        requester_id=new.requester.id if new.requester else None,
        callback_phone=new.callback_phone,
        channel=new.channel,
        postcode=postcode,
        insee=insee,
        care_type=new.care_type,
        start_at=new.start_at,
        has_start_time=new.has_start_time,
        urgent=new.urgent,
        usual_nurse_id=usual.id if usual else None,
        usual_nurse_phone=new.usual_nurse_phone,
        notes=new.notes,
        recording_url=new.recording_url,
        status=RequestStatus.REVIEW if new.review_reason else RequestStatus.OPEN,
        round=1,
        created_at=now,
        updated_at=now,
    )
    if not new.review_reason:  # as start_dispatch leaves it: written by the INSERT, no UPDATE after
        request.wave, request.dispatch_started_at, request.next_wave_at = 0, now, now
        request.needs_attention, request.attention_reason = False, None
    session.add(request)
    session.flush()
    who = actor or (new.requester.name if new.requester else mask(new.callback_phone))
    record(
        session,
        request,
        "created",
        now,
        actor=who,
        channel=new.channel,
        care_type=new.care_type,
        postcode=postcode,
        insee=insee,
        urgent=new.urgent or None,
    )
    if new.usual_nurse_phone and usual is None:
        record(session, request, "usual_nurse_not_registered", now, phone=mask(new.usual_nurse_phone))
    if new.review_reason:
        request.needs_attention, request.attention_reason = True, new.review_reason
        record(session, request, "review", now, reason=new.review_reason)
        return request, []
    return request, start_dispatch(session, settings, request, now)


def cancel_request(
    session: Session, settings: Settings, request: CareRequest, now: datetime, *, actor: str, reason: str | None = None
) -> list[Effect] | None:
    """Cancel; pending offers are withdrawn and an accepted nurse is told (when texts may go
    out: :func:`dispatch.lifecycle.send_time`). None when already closed."""
    previous_nurse = request.accepted_nurse
    values = {"closed_at": now, "next_wave_at": None, "needs_attention": False}
    if not transition(session, request, "cancelled", now, values=values, actor=actor, reason=reason):
        return None
    effects = close_other_offers(
        session, settings, request, now, texts.offer_cancelled, new_status=OfferStatus.WITHDRAWN
    )
    if previous_nurse is not None:
        effects.append(
            queue_sms(
                session,
                previous_nurse.phone,
                texts.offer_cancelled(settings.sio_name, request.reference),
                now,
                kind="notice",
                request=request,
                nurse=previous_nurse,
                at=lifecycle.send_time(settings, request, now),
            )
        )
    return effects


def assign_nurse(
    session: Session, settings: Settings, request: CareRequest, nurse: Nurse, now: datetime, *, actor: str
) -> Outcome:
    """A coordinator gives the request to a nurse by hand (she agreed on the phone): the same
    guarded acceptance as her own yes, so it can never make a second winner. Her offer is the
    round's (written if she had none in it); she is texted the details."""
    offer = session.scalar(
        select(Offer).where(Offer.request_id == request.id, Offer.round == request.round, Offer.nurse_id == nurse.id)
    )
    if offer is None:
        offer = Offer(
            request_id=request.id,
            nurse_id=nurse.id,
            wave=request.wave,
            round=request.round,
            status=OfferStatus.SENT,
            created_at=now,
        )
        session.add(offer)
        session.flush()
    elif offer.status not in AWAITING:
        offer.status = OfferStatus.SENT
    outcome = accept(session, settings, nurse, offer, now, actor=actor, sources=(*ACCEPTING, RequestStatus.REVIEW))
    if outcome.reply and request.accepted_nurse_id == nurse.id:
        at = lifecycle.send_time(settings, request, now)
        outcome.effects.append(
            queue_sms(session, nurse.phone, outcome.reply, now, kind="notice", request=request, nurse=nurse, at=at)
        )
    return outcome


def redispatch(
    session: Session, settings: Settings, request: CareRequest, now: datetime, *, actor: str
) -> list[Effect]:
    """A coordinator relaunches the search (``open``, ``unfilled`` or ``review``), whatever its
    past: a new round from now, where the nurses who never answered may be asked again and
    those who declined are not. [] when it cannot be (closed, or no place to search)."""
    request = lock_request(session, request.id)
    if request is None or (not request.postcode and not request.insee):
        return []
    return new_round(session, settings, request, "relaunched", now, event="redispatch", actor=actor) or []


def find_request(session: Session, reference: str) -> CareRequest | None:
    """The request with this reference; None for anything that is not six digits."""
    if not (
        isinstance(reference, str)
        and len(reference) == REFERENCE_LENGTH
        and reference.isascii()
        and reference.isdigit()
    ):
        return None
    return session.scalar(select(CareRequest).where(CareRequest.reference == reference))


def timeline(request: CareRequest, settings: Settings) -> list[dict]:
    """The events as plain dicts (API, status page), in order, local times."""
    return [
        {
            "at": e.at.astimezone(settings.timezone).isoformat(),
            "kind": e.kind,
            "actor": e.actor,
            **({"nurse": e.nurse.name} if e.nurse is not None else {}),
            **({"data": e.data} if e.data else {}),
        }
        for e in request.events
    ]
